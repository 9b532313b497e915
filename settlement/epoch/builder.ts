// The epoch builder: verified receipts in, a posted Merkle root of cumulative earnings
// and claim proofs out. One builder owns one directory:
//
//   <dir>/meta.json           format and first epoch number
//   <dir>/journal.jsonl       every acknowledged receipt and every epoch close, in order
//   <dir>/<n>/tree.json       the sealed epoch's tree (entries; rebuilt and root-checked on load)
//   <dir>/<n>/receipts.json   the sealed epoch's receipts: with the previous tree, its bundle (./audit.ts)
//   <dir>/<n>/ledger.json     written last when sealing: its presence means "sealed"
//   <dir>/<n>/posted.json     the root is on chain (tx hash when this builder sent it)
//   <dir>/<n>/final.json      the challenge window has passed
//
// Epoch n goes open -> closed -> sealed -> posted -> final. Why it is crash-safe:
// - a receipt is acknowledged only once it is fsynced in the journal, tagged with the
//   epoch that was open when it was written; closing epoch n is itself a journal record,
//   written under the same lock, so a receipt that arrives while n is sealing is tagged
//   n + 1: every receipt lands in exactly one epoch;
// - the close record carries the fee split and treasury used, so re-sealing after a
//   crash recomputes the same ledger (receipts in id order) and the same root;
// - before posting, and after any failed post, the chain is asked whether the epoch's
//   root is already there; if it is (ours), it is only recorded, so no root is sent twice;
// - a posted root that a challenge removed is un-posted (posted.json deleted) and posted
//   again: the challenger's bond is lost if the same root then becomes final.
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { readJsonIfExists, writeFileAtomic, writeJsonAtomic } from '../../storage/atomic-file.ts'
import { DEFAULT_FEE_SPLIT, splitFee, type FeeSplitPolicy } from '../policy/index.ts'
import { buildCumulativeTree, CumulativeTree, normalizeAddress, type CumulativeTreeDump } from '../merkle/index.ts'
import { Journal } from './journal.ts'
import { computeEpochLedger } from './ledger.ts'
import { normalizeReceipt, receiptKey, receiptToJson, type Receipt, type ReceiptJson } from './receipts.ts'
import { bundleOf, type EpochBundle } from './audit.ts'
import { Mutex } from './mutex.ts'
import { openMeta } from './store-meta.ts'
import { gatherQuorum } from './signatures.ts'
import {
  EmptyEpochError, EpochStateError, EpochStoreError, InvalidReceiptError, RootConflictError
} from './errors.ts'
import {
  LEDGER_FORMAT, digestOf, ledgerFileOf, pays, postedOf, sealedOf,
  type AcceptResult, type Claim, type ClaimAt, type CloseRecord, type EpochBuilderOptions, type EpochState, type FinalFile,
  type JournalRecord, type LedgerFile, type Meta, type MultiClaim, type PostedEpoch, type PostedFile, type RootChain,
  type RootSigner, type SealedEpoch
} from './epoch-records.ts'

export class EpochBuilder {
  readonly dir: string
  readonly firstEpoch: number
  #journal: Journal
  #treasury: string
  #feeSplit: FeeSplitPolicy
  #chain: RootChain | undefined
  #signers: readonly RootSigner[]
  #quorum: number
  #verify: EpochBuilderOptions['verifySignature']
  #now: () => number
  #open: number
  /** Every receipt id ever acknowledged: its epoch and canonical content. */
  #ids = new Map<string, { epoch: number, digest: string }>()
  /** Receipts of epochs not sealed yet. */
  #pending = new Map<number, Receipt[]>()
  #closes = new Map<number, CloseRecord>()
  #ledgers = new Map<number, LedgerFile>()
  #posted = new Map<number, PostedFile>()
  #final = new Map<number, FinalFile>()
  #trees = new Map<number, CumulativeTree>()
  readonly #journalLock = new Mutex()
  readonly #sealLock = new Mutex()
  readonly #postLock = new Mutex()
  /** Torn journal tail dropped when opening (bytes). */
  readonly recoveredBytes: number

  private constructor (opts: EpochBuilderOptions, meta: Meta, journal: Journal, droppedBytes: number) {
    this.dir = opts.dir
    this.firstEpoch = meta.firstEpoch
    this.#journal = journal
    this.#treasury = normalizeAddress(opts.treasury)
    this.#feeSplit = { ...(opts.feeSplit ?? DEFAULT_FEE_SPLIT) }
    this.#chain = opts.chain
    this.#signers = opts.signers ?? []
    this.#quorum = Math.max(1, opts.quorum ?? this.#signers.length)
    this.#verify = opts.verifySignature
    this.#now = opts.now ?? (() => Math.floor(Date.now() / 1000))
    this.#open = meta.firstEpoch
    this.recoveredBytes = droppedBytes
  }

  /** Opens (or creates) the store, drops a torn journal tail, and finishes any seal a crash interrupted. */
  static async open (opts: EpochBuilderOptions): Promise<EpochBuilder> {
    const firstEpoch = opts.firstEpoch ?? 1
    if (!Number.isSafeInteger(firstEpoch) || firstEpoch < 0) throw new EpochStateError('firstEpoch must be an integer >= 0', { firstEpoch })
    // Refuse bad settings before touching the disk.
    splitFee({ fee: 0n, worker: opts.treasury, verifiers: [] }, opts.feeSplit ?? DEFAULT_FEE_SPLIT)
    normalizeAddress(opts.treasury)
    const meta = await openMeta(opts.dir, firstEpoch, opts.firstEpoch !== undefined)
    const { journal, records, droppedBytes } = await Journal.open<JournalRecord>(join(opts.dir, 'journal.jsonl'))
    const b = new EpochBuilder(opts, meta, journal, droppedBytes)
    try {
      await b.#load(records)
    } catch (err) {
      await journal.close()
      throw err
    }
    return b
  }

  async #load (records: readonly JournalRecord[]): Promise<void> {
    for (const rec of records) {
      if (rec.t === 'close') {
        if (rec.epoch !== this.#open) throw new EpochStoreError('journal closes epochs out of order', { epoch: rec.epoch, open: this.#open })
        this.#closes.set(rec.epoch, rec)
        this.#open = rec.epoch + 1
      }
    }
    for (let n = this.firstEpoch; n < this.#open; n++) {
      const ledger = await readJsonIfExists<LedgerFile>(this.#path(n, 'ledger.json'))
      if (ledger === undefined) break // the rest is re-sealed below
      if (ledger.format !== LEDGER_FORMAT || ledger.epoch !== n) throw new EpochStoreError('bad ledger file', { epoch: n })
      this.#ledgers.set(n, ledger)
      this.#pending.delete(n)
      const posted = await readJsonIfExists<PostedFile>(this.#path(n, 'posted.json'))
      if (posted !== undefined) this.#posted.set(n, posted)
      const final = await readJsonIfExists<FinalFile>(this.#path(n, 'final.json'))
      if (final !== undefined) this.#final.set(n, final)
    }
    // Receipts of sealed epochs are only needed for their ids: the journal holds them in
    // canonical form, so they are not validated again (that is most of a reopen's time).
    for (const rec of records) {
      if (rec.t !== 'receipt') continue
      if (this.#ledgers.has(rec.epoch)) {
        this.#ids.set(rec.receipt.id, { epoch: rec.epoch, digest: digestOf(JSON.stringify(rec.receipt)) })
      } else {
        const r = normalizeReceipt(rec.receipt)
        this.#ids.set(r.id, { epoch: rec.epoch, digest: digestOf(receiptKey(r)) })
        this.#pendingOf(rec.epoch).push(r)
      }
    }
    await this.#sealLock.run(() => this.#finishSeals(this.#open - 1))
    const latest = this.latestSealed
    if (latest !== undefined) await this.#tree(latest)
  }

  #path (epoch: number, file: string): string {
    return join(this.dir, String(epoch), file)
  }

  #pendingOf (epoch: number): Receipt[] {
    let list = this.#pending.get(epoch)
    if (list === undefined) {
      list = []
      this.#pending.set(epoch, list)
    }
    return list
  }

  /** The epoch new receipts are paid in. */
  get openEpoch (): number {
    return this.#open
  }

  /** Receipts waiting in the open epoch: the aggregator seals only when there are some. */
  get pendingReceipts (): number {
    return this.#pending.get(this.#open)?.length ?? 0
  }

  get latestSealed (): number | undefined {
    return this.#latest(n => this.#ledgers.has(n))
  }

  get latestPosted (): number | undefined {
    return this.#latest(n => this.#posted.has(n))
  }

  get latestFinal (): number | undefined {
    return this.#latest(n => this.#final.has(n))
  }

  #latest (has: (n: number) => boolean): number | undefined {
    for (let n = this.#open - 1; n >= this.firstEpoch; n--) if (has(n)) return n
    return undefined
  }

  state (epoch: number): EpochState {
    if (epoch < this.firstEpoch) return 'unknown'
    if (epoch > this.#open) return 'future'
    if (epoch === this.#open) return 'open'
    if (this.#final.has(epoch)) return 'final'
    if (this.#posted.has(epoch)) return 'posted'
    if (this.#ledgers.has(epoch)) return 'sealed'
    return 'closed'
  }

  /** The sealed epoch's ledger file (earnings of the epoch, totals, the policy it was sealed with). */
  ledger (epoch: number): LedgerFile | undefined {
    return this.#ledgers.get(epoch)
  }

  posted (epoch: number): PostedEpoch | undefined {
    const p = this.#posted.get(epoch)
    return p === undefined ? undefined : postedOf(p)
  }

  /** Uses these basis points for epochs closed from now on (e.g. after the registry changed). */
  setFeeSplit (policy: FeeSplitPolicy): void {
    splitFee({ fee: 0n, worker: this.#treasury, verifiers: [] }, policy)
    this.#feeSplit = { ...policy }
  }

  async accept (receipt: unknown): Promise<AcceptResult> {
    return (await this.acceptMany([receipt]))[0]
  }

  /**
   * Journals the receipts (one fsync for the batch) and resolves once they are durable.
   * A receipt id seen before is ignored (`duplicate`). All-or-nothing: one invalid
   * receipt refuses the batch with InvalidReceiptError (`details.index`) and nothing is written.
   */
  async acceptMany (inputs: readonly unknown[]): Promise<AcceptResult[]> {
    const receipts = inputs.map((x, index) => {
      try {
        return normalizeReceipt(x)
      } catch (err) {
        if (err instanceof InvalidReceiptError) throw new InvalidReceiptError(err.message, { index, ...err.details })
        throw err
      }
    })
    return await this.#journalLock.run(async () => {
      const results: AcceptResult[] = []
      const fresh = new Map<string, { receipt: Receipt, epoch: number, digest: string }>()
      for (const r of receipts) {
        const digest = digestOf(receiptKey(r))
        const seen = this.#ids.get(r.id) ?? fresh.get(r.id)
        if (seen !== undefined) {
          results.push({ id: r.id, epoch: seen.epoch, duplicate: true, conflict: seen.digest !== digest })
          continue
        }
        const epoch = Math.max(this.#open, r.epoch ?? 0)
        fresh.set(r.id, { receipt: r, epoch, digest })
        results.push({ id: r.id, epoch, duplicate: false, conflict: false })
      }
      await this.#journal.append([...fresh.values()].map(f => ({ t: 'receipt', epoch: f.epoch, receipt: receiptToJson(f.receipt) })))
      for (const [id, f] of fresh) {
        this.#ids.set(id, { epoch: f.epoch, digest: f.digest })
        this.#pendingOf(f.epoch).push(f.receipt)
      }
      return results
    })
  }

  /**
   * Seals the open epoch (or finishes sealing a closed one, or returns an already sealed
   * one unchanged): closes it in the journal, so later receipts go to the next epoch,
   * then writes its tree and ledger. Throws EmptyEpochError, leaving the epoch open,
   * when nobody would have a balance; EpochStateError for a future epoch.
   */
  async seal (epoch?: number, opts: { toBlock?: number } = {}): Promise<SealedEpoch> {
    if (opts.toBlock !== undefined && (!Number.isSafeInteger(opts.toBlock) || opts.toBlock < 0)) throw new EpochStateError('toBlock must be a block number', { toBlock: opts.toBlock })
    return await this.#sealLock.run(async () => {
      const n = epoch ?? this.#open
      const done = this.#ledgers.get(n)
      if (done !== undefined) return sealedOf(done)
      if (n > this.#open || n < this.firstEpoch) throw new EpochStateError('no such epoch to seal', { epoch: n, open: this.#open })
      await this.#finishSeals(n - 1)
      if (n === this.#open) {
        await this.#journalLock.run(async () => {
          const prev = n === this.firstEpoch ? undefined : this.#ledgers.get(n - 1)
          const hasBalances = (prev !== undefined && prev.accounts > 0) || (this.#pending.get(n) ?? []).some(pays)
          if (!hasBalances) throw new EmptyEpochError('nothing earned yet: no tree to seal', { epoch: n })
          const close: CloseRecord = { t: 'close', epoch: n, feeSplit: { ...this.#feeSplit }, treasury: this.#treasury, ...(opts.toBlock !== undefined ? { toBlock: opts.toBlock } : {}) }
          await this.#journal.append([close])
          this.#closes.set(n, close)
          this.#open = n + 1
        })
      }
      await this.#finishSeals(n)
      return sealedOf(this.#ledgers.get(n) as LedgerFile)
    })
  }

  /** Seals every closed, unsealed epoch up to `upTo`, in order. Caller holds the seal lock. */
  async #finishSeals (upTo: number): Promise<void> {
    for (let n = this.firstEpoch; n <= upTo; n++) {
      if (this.#ledgers.has(n)) continue
      const close = this.#closes.get(n)
      if (close === undefined) throw new EpochStateError('epoch is not closed', { epoch: n })
      const receipts = this.#pending.get(n) ?? []
      const previous = n === this.firstEpoch ? [] : (await this.#tree(n - 1)).entries()
      const ledger = computeEpochLedger({ receipts, previous, feeSplit: close.feeSplit, treasury: close.treasury })
      const tree = buildCumulativeTree(ledger.cumulative)
      const file = ledgerFileOf(n, tree, receipts, ledger, close)
      // Tree and receipts first: ledger.json is the "sealed" mark, so a crash in between re-seals.
      await writeFileAtomic(this.#path(n, 'tree.json'), JSON.stringify(tree.dump()))
      await writeFileAtomic(this.#path(n, 'receipts.json'), JSON.stringify(receipts.map(receiptToJson)))
      await writeJsonAtomic(this.#path(n, 'ledger.json'), file)
      this.#ledgers.set(n, file)
      this.#trees.set(n, tree)
      this.#pending.delete(n)
      this.#dropOldTrees()
    }
  }

  /** Keeps the trees reads need: the latest sealed, posted and final. */
  #dropOldTrees (): void {
    const keep = new Set([this.latestSealed, this.latestPosted, this.latestFinal])
    for (const n of this.#trees.keys()) if (!keep.has(n)) this.#trees.delete(n)
  }

  async #tree (epoch: number): Promise<CumulativeTree> {
    const cached = this.#trees.get(epoch)
    if (cached !== undefined) return cached
    const ledger = this.#ledgers.get(epoch)
    if (ledger === undefined) throw new EpochStateError('epoch is not sealed', { epoch })
    const dump = await readJsonIfExists<CumulativeTreeDump>(this.#path(epoch, 'tree.json'))
    if (dump === undefined) throw new EpochStoreError('sealed epoch has no tree file', { epoch })
    const tree = CumulativeTree.load(dump)
    if (tree.root !== ledger.root) throw new EpochStoreError('tree file does not match the ledger', { epoch, ledger: ledger.root, tree: tree.root })
    this.#trees.set(epoch, tree)
    return tree
  }

  /**
   * Posts the root of `epoch` (default: the oldest sealed epoch not yet posted). Asks
   * the chain first: if the root is already there it is only recorded. Epochs post in
   * order (the contract takes only nextEpoch). Throws RootConflictError when the chain
   * has a different root or total for the epoch, QuorumNotReachedError when too few
   * signers answer, EpochStateError for an unsealed epoch or one with earlier epochs unposted.
   */
  async post (epoch?: number): Promise<PostedEpoch> {
    return await this.#postLock.run(async () => {
      const chain = this.#chain
      if (chain === undefined) throw new EpochStateError('no chain to post to', {})
      let n = epoch
      if (n === undefined) {
        for (let m = this.firstEpoch; m < this.#open && n === undefined; m++) if (!this.#posted.has(m)) n = m
        if (n === undefined) throw new EpochStateError('nothing to post', { open: this.#open })
      }
      const done = this.#posted.get(n)
      if (done !== undefined) return postedOf(done)
      const ledger = this.#ledgers.get(n)
      if (ledger === undefined) throw new EpochStateError('epoch is not sealed', { epoch: n, state: this.state(n) })
      for (let m = this.firstEpoch; m < n; m++) {
        if (!this.#posted.has(m)) throw new EpochStateError('post earlier epochs first', { epoch: n, unposted: m })
      }
      const root = ledger.root
      const total = BigInt(ledger.total)
      if (ledger.toBlock === undefined) throw new EpochStateError('epoch was sealed without a cutoff block: it cannot be posted', { epoch: n })
      const toBlock = BigInt(ledger.toBlock)
      const already = await this.#onChain(chain, n, root, total)
      if (already !== null) return await this.#recordPosted(n, root, total, null, [], already.finalAt)
      const { signers, packed } = await gatherQuorum(this.#signers, this.#quorum, { epoch: BigInt(n), root, total, toBlock }, this.#verify)
      let tx: { txHash: string }
      try {
        tx = await chain.postRoot(BigInt(n), root, total, toBlock, packed)
      } catch (err) {
        // The transaction may have landed before the error, or another aggregator got
        // there first: what the chain holds decides, not the error.
        let there: { finalAt: bigint } | null
        try {
          there = await this.#onChain(chain, n, root, total)
        } catch (again) {
          if (again instanceof RootConflictError) throw again
          throw err
        }
        if (there !== null) return await this.#recordPosted(n, root, total, null, signers, there.finalAt)
        throw err
      }
      // finalAt is only for display and claims' convenience: not knowing it is no reason to fail.
      const finalAt = await chain.rootOf(BigInt(n)).then(r => r.finalAt, () => null)
      return await this.#recordPosted(n, root, total, tx.txHash, signers, finalAt)
    })
  }

  /** Posts every sealed, unposted epoch in order. */
  async postPending (): Promise<PostedEpoch[]> {
    const out: PostedEpoch[] = []
    for (let n = this.firstEpoch; n < this.#open; n++) {
      if (this.#posted.has(n)) continue
      if (!this.#ledgers.has(n)) break
      out.push(await this.post(n))
    }
    return out
  }

  /** The chain's record when it already has our root for the epoch; null when the epoch is the chain's next. */
  async #onChain (chain: RootChain, n: number, root: string, total: bigint): Promise<{ finalAt: bigint } | null> {
    const next = await chain.nextEpoch()
    if (next === BigInt(n)) return null
    if (next < BigInt(n)) throw new EpochStateError('the chain expects an earlier epoch first', { epoch: n, chainNext: next.toString() })
    const there = await chain.rootOf(BigInt(n))
    if (there.root.toLowerCase() !== root || there.total !== total) {
      throw new RootConflictError('the chain holds another root for this epoch', {
        epoch: n, ours: root, theirs: there.root, ourTotal: total.toString(), theirTotal: there.total.toString()
      })
    }
    return { finalAt: there.finalAt }
  }

  async #recordPosted (n: number, root: string, total: bigint, txHash: string | null, signers: string[], finalAt: bigint | null): Promise<PostedEpoch> {
    const file: PostedFile = { epoch: n, root, total: total.toString(), txHash, signers, finalAt: finalAt === null ? null : finalAt.toString() }
    await writeJsonAtomic(this.#path(n, 'posted.json'), file)
    this.#posted.set(n, file)
    this.#dropOldTrees()
    return postedOf(file)
  }

  /** Marks posted epochs final once the chain's finalAt has passed; returns the epochs that became final. */
  async finalize (): Promise<number[]> {
    return await this.#postLock.run(async () => {
      const chain = this.#chain
      if (chain === undefined) throw new EpochStateError('no chain to ask', {})
      const out: number[] = []
      for (let n = this.firstEpoch; n < this.#open; n++) {
        const p = this.#posted.get(n)
        if (p === undefined) break
        if (this.#final.has(n)) continue
        const there = await chain.rootOf(BigInt(n))
        if (/^0x0{64}$/.test(there.root) && await chain.nextEpoch() <= BigInt(n)) {
          // Challenged (challengeRoot): the epoch is open for posting again, and this
          // builder posts the same root again (postPending); a challenger who was wrong loses its bond.
          await rm(this.#path(n, 'posted.json'), { force: true })
          this.#posted.delete(n)
          this.challenged.push(n)
          break
        }
        if (there.root.toLowerCase() !== p.root || there.total !== BigInt(p.total)) {
          throw new RootConflictError('the chain holds another root than the one posted', { epoch: n, ours: p.root, theirs: there.root })
        }
        if (there.finalAt === 0n || BigInt(this.#now()) < there.finalAt) break
        const file: FinalFile = { epoch: n, finalAt: there.finalAt.toString() }
        await writeJsonAtomic(this.#path(n, 'final.json'), file)
        this.#final.set(n, file)
        this.#dropOldTrees()
        out.push(n)
      }
      return out
    })
  }

  /** Epochs whose posted root finalize() found challenged and un-posted (for the log; the caller may clear it). */
  readonly challenged: number[] = []

  /**
   * What epoch `n`'s root was computed from (./audit.ts bundleOf), for co-signers and
   * watchers to recompute it; `announces`: the market's record of each job that pays contributors.
   */
  async bundle (n: number, announces?: Record<string, unknown>): Promise<EpochBundle> {
    const ledger = this.#ledgers.get(n)
    if (ledger === undefined) throw new EpochStateError('epoch is not sealed', { epoch: n, state: this.state(n) })
    const receipts = await readJsonIfExists<ReceiptJson[]>(this.#path(n, 'receipts.json'))
    if (receipts === undefined) throw new EpochStoreError('sealed epoch has no receipts file', { epoch: n })
    return bundleOf(ledger, n === this.firstEpoch ? [] : (await this.#tree(n - 1)).entries(), receipts, announces)
  }

  /** Everything the account has earned up to the latest sealed epoch (0n before any). */
  balance (account: string): bigint {
    const n = this.latestSealed
    if (n === undefined) return 0n
    const tree = this.#trees.get(n)
    return tree?.cumulativeOf(account) ?? 0n
  }

  /**
   * What the account can claim (its cumulative amount; the contract pays the part not
   * yet claimed) and the proof, against the latest posted epoch by default. The contract
   * accepts it from `finalAt` on; `at: 'final'` proves against the latest epoch known
   * final instead. Undefined when nothing is posted or the account has nothing there.
   */
  async claimFor (account: string, at: ClaimAt = 'posted'): Promise<Claim | undefined> {
    const n = this.#claimEpoch(at)
    if (n === undefined) return undefined
    const tree = await this.#tree(n)
    const cumulative = tree.cumulativeOf(account)
    if (cumulative === undefined) return undefined
    return { epoch: n, root: tree.root, finalAt: this.#finalAt(n), account: normalizeAddress(account), cumulative, proof: tree.proof(account) }
  }

  /** One multiproof for several accounts (each must be in the tree: UnknownAccountError otherwise), leaves in claimMultiple's order. */
  async multiClaim (accounts: readonly string[], at: ClaimAt = 'posted'): Promise<MultiClaim | undefined> {
    const n = this.#claimEpoch(at)
    if (n === undefined) return undefined
    const tree = await this.#tree(n)
    return { epoch: n, root: tree.root, finalAt: this.#finalAt(n), ...tree.multiProof(accounts) }
  }

  #claimEpoch (at: ClaimAt): number | undefined {
    if (at === 'posted') return this.latestPosted
    if (at === 'final') return this.latestFinal
    if (!this.#posted.has(at)) throw new EpochStateError('epoch is not posted', { epoch: at, state: this.state(at) })
    return at
  }

  #finalAt (n: number): bigint | null {
    const f = this.#final.get(n)?.finalAt ?? this.#posted.get(n)?.finalAt
    return f == null ? null : BigInt(f)
  }

  async close (): Promise<void> {
    await this.#journalLock.run(() => this.#journal.close())
  }
}
