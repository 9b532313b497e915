// The epoch builder end to end on a real directory and a fake chain that behaves like
// RewardDistributor (WrongEpoch unless epoch = nextEpoch): same receipts in any order
// give the same root, balances accumulate over epochs, duplicates are idempotent, a
// receipt that arrives while an epoch seals lands in the next one, crashes (between
// close and ledger, between posting and recording it, a torn journal line) lose nothing
// and post nothing twice, and the proofs it serves verify with OpenZeppelin's verifier.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { StandardMerkleTree } from '@openzeppelin/merkle-tree'
import {
  EpochBuilder, EmptyEpochError, EpochStateError, EpochStoreError, InvalidReceiptError, InvalidSignatureError, JournalCorruptError,
  QuorumNotReachedError, RootConflictError, packSignatures, computeEpochLedger, normalizeReceipt,
  type EpochBuilderOptions, type RootChain, type RootSigner
} from '../settlement/epoch/index.ts'
import { buildCumulativeTree } from '../settlement/merkle/index.ts'
import { DEFAULT_FEE_SPLIT } from '../settlement/policy/index.ts'
import { expectRejects, expectThrows } from './helpers/expect-throws.ts'

const ENCODING = ['address', 'uint256']
const ZERO = '0x' + '00'.repeat(32)
const TREASURY = '0x' + 'ee'.repeat(20)

function addr (n: number): string {
  return '0x' + n.toString(16).padStart(40, '0')
}

/** Cutoff blocks for sealing epochs that get posted: increasing, as the chain requires. */
let block = 0
const cut = (): { toBlock: number } => ({ toBlock: ++block })

class WrongEpoch extends Error {
  constructor (epoch: bigint, next: bigint) {
    super(`WrongEpoch(${epoch}, ${next})`)
    this.name = 'WrongEpoch'
  }
}

/** RewardDistributor's root bookkeeping in memory, with its reverts. */
class FakeChain implements RootChain {
  next: bigint
  roots = new Map<bigint, { root: string, total: bigint, finalAt: bigint }>()
  postCalls = 0
  now = 1000n
  window = 0n
  /** Next postRoot lands on chain, then throws (connection lost before the receipt). */
  failAfterPost = false
  /** Every call throws, as if the node went away. */
  down = false
  cutoffs = new Map<bigint, bigint>()

  constructor (first = 1n) {
    this.next = first
  }

  async nextEpoch (): Promise<bigint> {
    if (this.down) throw new Error('ECONNREFUSED')
    return this.next
  }

  async rootOf (epoch: bigint): Promise<{ root: string, total: bigint, finalAt: bigint }> {
    if (this.down) throw new Error('ECONNREFUSED')
    return this.roots.get(epoch) ?? { root: ZERO, total: 0n, finalAt: 0n }
  }

  async postRoot (epoch: bigint, root: string, total: bigint, toBlock: bigint, signatures: string): Promise<{ txHash: string }> {
    if (this.down) throw new Error('ECONNREFUSED')
    this.postCalls++
    if (epoch !== this.next) throw new WrongEpoch(epoch, this.next)
    const before = this.cutoffs.get(epoch - 1n)
    if (before !== undefined && toBlock <= before) throw new Error('CutoffNotAfterPrevious')
    this.cutoffs.set(epoch, toBlock)
    if (root === ZERO) throw new Error('ZeroRoot')
    const prev = this.roots.get(epoch - 1n)
    if (prev !== undefined && this.now < prev.finalAt) throw new Error('PreviousRootNotFinal')
    if (prev !== undefined && total < prev.total) throw new Error('TotalDecreased')
    assert.ok(signatures.length > 2 && (signatures.length - 2) % 130 === 0)
    this.roots.set(epoch, { root, total, finalAt: this.now + this.window })
    this.next++
    if (this.failAfterPost) {
      this.failAfterPost = false
      this.down = true
      throw new Error('socket hang up')
    }
    return { txHash: '0x' + epoch.toString(16).padStart(64, 'a') }
  }

  /** challengeRoot: deletes the pending root, the epoch can be posted again. */
  challenge (epoch: bigint): void {
    assert.equal(epoch, this.next - 1n)
    this.roots.delete(epoch)
    this.next = epoch
  }
}

function signer (k: number, fail = false): RootSigner {
  return {
    async sign () {
      if (fail) throw new Error('aggregator offline')
      return { signer: addr(0xa000 + k), signature: '0x' + k.toString(16).padStart(2, '0').repeat(65) }
    }
  }
}

function job (id: string, fee: bigint, worker: number, verifiers: number[], weights?: Array<[number, number]>): Record<string, unknown> {
  const r: Record<string, unknown> = { id, kind: 'infer', jobId: 'job-' + id, fee, worker: addr(worker), verifiers: verifiers.map(addr) }
  if (weights !== undefined) r.contributorWeights = weights.map(([c, weight]) => ({ contributor: addr(c), weight }))
  return r
}

function receipts (n: number, seed: number): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = []
  for (let i = 0; i < n; i++) {
    const x = (i * 7919 + seed * 104729) % 1000
    if (i % 5 === 4) out.push({ id: `s${seed}-r${i}`, kind: 'attribution-reward', account: addr(200 + (x % 13)), amount: BigInt(x) * 10n ** 12n })
    else out.push(job(`s${seed}-r${i}`, BigInt(x + 1) * 10n ** 15n + BigInt(i), 100 + (x % 7), [300 + (x % 3), 310 + (x % 4)], x % 2 === 0 ? [[200 + (x % 5), 1], [210, x / 100]] : undefined))
  }
  return out
}

function shuffle<T> (xs: readonly T[], seed: number): T[] {
  const out = [...xs]
  let s = seed
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648
    const j = s % (i + 1)
    const t = out[i]
    out[i] = out[j]
    out[j] = t
  }
  return out
}

describe('epoch builder', function () {
  this.timeout(30_000)
  const dirs: string[] = []
  const builders: EpochBuilder[] = []

  async function fresh (opts: Partial<EpochBuilderOptions> = {}, dir?: string): Promise<EpochBuilder> {
    if (dir === undefined) {
      dir = await mkdtemp(join(tmpdir(), 'ol-epochs-'))
      dirs.push(dir)
    }
    const b = await EpochBuilder.open({ dir, treasury: TREASURY, signers: [signer(1), signer(2), signer(3)], ...opts })
    builders.push(b)
    return b
  }

  async function reopen (b: EpochBuilder, opts: Partial<EpochBuilderOptions> = {}): Promise<EpochBuilder> {
    await b.close()
    return await fresh(opts, b.dir)
  }

  after(async function () {
    for (const b of builders) await b.close().catch(() => {})
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  it('gives the same root for the same receipts in any arrival order, and the root OZ gives for its ledger', async function () {
    const rs = receipts(60, 1)
    const a = await fresh()
    const b = await fresh()
    await a.acceptMany(rs)
    for (const r of shuffle(rs, 5)) await b.accept(r)
    const sa = await a.seal()
    const sb = await b.seal()
    assert.equal(sa.root, sb.root)
    assert.equal(sa.receiptsDigest, sb.receiptsDigest)
    assert.equal(sa.receipts, 60)
    const la = a.ledger(1)
    assert.ok(la !== undefined)
    const oz = StandardMerkleTree.of(la.earned, ENCODING)
    assert.equal(oz.root, sa.root)
    // everything paid in adds up: fees + credits = total, to the wei
    const paidIn = rs.reduce((s, r) => s + ((r.fee ?? r.amount) as bigint), 0n)
    assert.equal(sa.total, paidIn)
    assert.equal(BigInt(la.fees) + BigInt(la.credits), paidIn)
    // sealing again is idempotent
    assert.deepEqual(await a.seal(1), sa)
  })

  it('accumulates balances over three epochs: each tree holds everything earned so far', async function () {
    const b = await fresh()
    const expected = new Map<string, bigint>()
    const roots: string[] = []
    for (let e = 1; e <= 3; e++) {
      const rs = receipts(30, 10 + e)
      await b.acceptMany(rs)
      const s = await b.seal()
      assert.equal(s.epoch, e)
      roots.push(s.root)
      for (const [account, amount] of b.ledger(e)?.earned ?? []) expected.set(account, (expected.get(account) ?? 0n) + BigInt(amount))
      for (const [account, amount] of expected) assert.equal(b.balance(account), amount)
      assert.equal(s.total, [...expected.values()].reduce((x, y) => x + y, 0n))
      assert.equal(s.root, buildCumulativeTree([...expected].map(([account, cumulative]) => ({ account, cumulative }))).root)
    }
    assert.equal(new Set(roots).size, 3)
    assert.equal(b.openEpoch, 4)
    assert.equal(b.balance(addr(999)), 0n)
    // a sealed epoch with no new receipts carries the balances forward
    const s4 = await b.seal()
    assert.equal(s4.total, (await b.seal(3)).total)
    assert.equal(s4.root, roots[2])
  })

  it('pays the fee split: worker, verifiers, contributors, treasury', async function () {
    const b = await fresh()
    await b.accept(job('a', 10_000n, 1, [3, 2], [[9, 3], [8, 1]]))
    await b.accept({ id: 'c', kind: 'proposal-refund', account: addr(1), amount: 7n })
    await b.seal()
    assert.equal(b.balance(addr(1)), 5000n + 7n)
    assert.equal(b.balance(addr(2)), 1000n)
    assert.equal(b.balance(addr(3)), 1000n)
    assert.equal(b.balance(addr(8)), 625n)
    assert.equal(b.balance(addr(9)), 1875n)
    assert.equal(b.balance(TREASURY), 500n)
    assert.deepEqual(b.ledger(1)?.feeSplit, DEFAULT_FEE_SPLIT)
  })

  it('ignores duplicate receipt ids idempotently, across epochs and restarts', async function () {
    let b = await fresh()
    const r = job('dup', 1000n, 1, [2])
    assert.deepEqual(await b.accept(r), { id: 'dup', epoch: 1, duplicate: false, conflict: false })
    assert.deepEqual(await b.accept(r), { id: 'dup', epoch: 1, duplicate: true, conflict: false })
    const batch = await b.acceptMany([job('x', 5n, 1, [2]), job('x', 5n, 1, [2])])
    assert.deepEqual(batch.map(x => x.duplicate), [false, true])
    await b.seal()
    assert.deepEqual(await b.accept(r), { id: 'dup', epoch: 1, duplicate: true, conflict: false })
    b = await reopen(b)
    assert.deepEqual(await b.accept(r), { id: 'dup', epoch: 1, duplicate: true, conflict: false })
    assert.deepEqual(await b.accept({ ...r, fee: 999_999n }), { id: 'dup', epoch: 1, duplicate: true, conflict: true })
    await b.accept(job('y', 1n, 1, [2]))
    await b.seal()
    assert.equal(b.ledger(2)?.receipts, 1)
    assert.equal(b.balance(addr(1)), 500n + 3n + 1n) // 50 % of 1000; of 5 and of 1 wei the worker's remainder is the largest
  })

  it('puts every receipt in exactly one epoch when receipts arrive while an epoch seals', async function () {
    const b = await fresh()
    await b.acceptMany(receipts(2000, 3))
    const late = receipts(40, 4)
    const sealing = b.seal()
    // spread the late receipts over the seal: some before the close, some while the tree is built
    const pending = []
    for (const r of late) {
      pending.push(b.accept(r))
      await new Promise(resolve => setTimeout(resolve, 2))
    }
    const results = await Promise.all(pending)
    const s1 = await sealing
    const inFirst = results.filter(r => r.epoch === 1).length
    assert.ok(results.every(r => r.epoch === 1 || r.epoch === 2))
    assert.ok(results.some(r => r.epoch === 2), 'some receipts should land after the close')
    assert.equal(s1.receipts, 2000 + inFirst)
    const s2 = await b.seal()
    assert.equal(s2.receipts, 40 - inFirst)
    const all = [...receipts(2000, 3), ...late].reduce((s, r) => s + ((r.fee ?? r.amount) as bigint), 0n)
    assert.equal(s2.total, all)
  })

  it('refuses to seal when nobody has earned anything, and leaves the epoch open', async function () {
    const b = await fresh()
    await expectRejects(b.seal(), EmptyEpochError)
    await b.accept(job('zero', 0n, 1, [2]))
    await expectRejects(b.seal(), EmptyEpochError)
    assert.equal(b.state(1), 'open')
    await b.accept(job('one', 1n, 1, [2]))
    assert.equal((await b.seal()).epoch, 1)
    await expectRejects(b.seal(5), EpochStateError)
  })

  it('refuses invalid receipts before writing anything', async function () {
    const b = await fresh()
    const bad = [
      { ...job('b1', 1n, 1, [2]), worker: '0x12' },
      { ...job('b2', -1n, 1, [2]) },
      { ...job('b3', 1n, 1, [2, 2]) },
      { ...job('b4', 1n, 1, [2], [[5, -1]]) },
      { ...job('b5', 1n, 1, [2]), kind: 'mine' },
      { id: '', kind: 'proposal-refund', account: addr(1), amount: 1n },
      { id: 'b7', kind: 'proposal-refund', account: addr(1), amount: 1.5 },
      { ...job('b8', 1n, 1, [2]), epoch: -1 }
    ]
    for (const r of bad) await expectRejects(b.accept(r), InvalidReceiptError)
    const err = await expectRejects(b.acceptMany([job('ok', 1n, 1, [2]), bad[0]]), InvalidReceiptError)
    assert.equal(err.details.index, 1)
    assert.equal((await b.accept(job('ok', 1n, 1, [2]))).duplicate, false)
  })

  it('holds a receipt for a later epoch until that epoch, and puts a late one in the open epoch', async function () {
    const b = await fresh()
    assert.equal((await b.accept({ ...job('future', 10n, 1, [2]), epoch: 3 })).epoch, 3)
    await b.accept(job('now', 10n, 1, [2]))
    assert.equal((await b.seal()).receipts, 1)
    assert.equal((await b.accept({ ...job('late', 10n, 1, [2]), epoch: 1 })).epoch, 2)
    assert.equal((await b.seal()).receipts, 1)
    assert.equal((await b.seal()).receipts, 1)
  })

  it('re-seals to the same root after a crash between closing the epoch and writing its ledger', async function () {
    let b = await fresh()
    await b.acceptMany(receipts(50, 7))
    const s = await b.seal()
    await b.accept(job('next', 10n, 1, [2]))
    await b.close()
    // the crash: the close record is in the journal, the epoch files never got written
    await rm(join(b.dir, '1'), { recursive: true })
    b = await fresh({}, b.dir)
    assert.equal(b.state(1), 'sealed')
    assert.deepEqual(await b.seal(1), s)
    assert.equal(b.openEpoch, 2)
    assert.equal((await b.seal()).receipts, 1)
  })

  it('drops a torn last journal line after kill -9, and refuses a damaged line in the middle', async function () {
    let b = await fresh()
    await b.acceptMany([job('t1', 10n, 1, [2]), job('t2', 20n, 1, [2])])
    await b.close()
    const path = join(b.dir, 'journal.jsonl')
    const good = await readFile(path)
    await appendFile(path, '1a2b3c4d {"t":"receipt","epoch":1,"rece')
    b = await fresh({}, b.dir)
    assert.ok(b.recoveredBytes > 0)
    assert.deepEqual(await readFile(path), good)
    assert.equal((await b.accept(job('t2', 20n, 1, [2]))).duplicate, true)
    assert.equal((await b.accept(job('t3', 30n, 1, [2]))).duplicate, false)
    b = await reopen(b)
    assert.equal(b.recoveredBytes, 0)
    assert.equal((await b.seal()).receipts, 3)
    await b.close()
    // a whole line with a wrong checksum, then good lines: acknowledged data was damaged
    const lines = (await readFile(path, 'utf8')).split('\n')
    lines[0] = lines[0].replace('"fee":"10"', '"fee":"11"')
    await writeFile(path, lines.join('\n'))
    await expectRejects(EpochBuilder.open({ dir: b.dir, treasury: TREASURY }), JournalCorruptError)
  })

  it('posts in order with the quorum signatures sorted by signer, and serves proofs OZ verifies', async function () {
    const chain = new FakeChain()
    const b = await fresh({ chain })
    const rs = receipts(40, 9)
    await b.acceptMany(rs)
    const s = await b.seal(undefined, cut())
    assert.equal(await b.claimFor(addr(100)), undefined) // nothing posted yet
    const p = await b.post()
    assert.equal(p.epoch, 1)
    assert.equal(p.txHash, '0x' + '1'.padStart(64, 'a'))
    assert.deepEqual(p.signers, [addr(0xa001), addr(0xa002), addr(0xa003)])
    assert.equal(chain.roots.get(1n)?.root, s.root)
    assert.equal(chain.roots.get(1n)?.total, s.total)
    assert.equal(b.state(1), 'posted')

    const accounts = (b.ledger(1)?.earned ?? []).map(([a]) => a)
    for (const account of accounts) {
      const claim = await b.claimFor(account)
      assert.ok(claim !== undefined)
      assert.equal(claim.cumulative, b.balance(account))
      assert.ok(StandardMerkleTree.verify(chain.roots.get(1n)?.root as string, ENCODING, [claim.account, claim.cumulative.toString()], claim.proof))
    }
    const mc = await b.multiClaim(accounts.slice(0, 5))
    assert.ok(mc !== undefined)
    assert.ok(StandardMerkleTree.verifyMultiProof(s.root, ENCODING, { leaves: mc.leaves.map(l => [l.account, l.cumulative.toString()]), proof: mc.proof, proofFlags: mc.proofFlags }))

    // epoch 2 sealed, proofs still against the posted epoch 1 until 2 is posted
    await b.acceptMany(receipts(10, 10))
    const s2 = await b.seal(undefined, cut())
    assert.equal((await b.claimFor(accounts[0]))?.epoch, 1)
    await b.post()
    assert.equal((await b.claimFor(accounts[0]))?.root, s2.root)
    assert.equal(chain.postCalls, 2)
    assert.equal((await b.post(2)).txHash, p.txHash.replace(/1$/, '2')) // already posted: recorded, not sent
    assert.equal(chain.postCalls, 2)
  })

  it('does not post twice when the chain took the root but the builder crashed before recording it', async function () {
    const chain = new FakeChain()
    let b = await fresh({ chain })
    await b.acceptMany(receipts(20, 11))
    const s = await b.seal(undefined, cut())
    chain.failAfterPost = true
    await expectRejects(b.post(), Error)
    assert.equal(b.state(1), 'sealed')
    assert.equal(chain.postCalls, 1)
    assert.equal(chain.roots.get(1n)?.root, s.root)
    // restart; the chain is back
    chain.down = false
    b = await reopen(b, { chain })
    const p = await b.post()
    assert.equal(chain.postCalls, 1)
    assert.equal(p.txHash, null)
    assert.equal(b.state(1), 'posted')
    b = await reopen(b, { chain })
    assert.equal(b.state(1), 'posted')
    assert.equal((await b.claimFor(addr(100)))?.root, s.root)
  })

  it('records the post when postRoot fails after landing, without a second transaction', async function () {
    const chain = new FakeChain()
    const b = await fresh({ chain })
    await b.accept(job('p', 100n, 1, [2]))
    await b.seal(undefined, cut())
    chain.failAfterPost = true
    // the connection drops for postRoot only: the re-check sees the root
    const post = chain.postRoot.bind(chain)
    chain.postRoot = async (...args) => {
      try { return await post(...args) } finally { chain.down = false }
    }
    const p = await b.post()
    assert.equal(p.txHash, null)
    assert.equal(chain.postCalls, 1)
  })

  it('refuses to post over a different root, out of order, or without a quorum', async function () {
    const chain = new FakeChain()
    const b = await fresh({ chain, signers: [signer(1), signer(2, true), signer(3)], quorum: 2 })
    await b.accept(job('q1', 100n, 1, [2]))
    await b.seal(undefined, cut())
    await b.accept(job('q2', 100n, 1, [2]))
    await b.seal(undefined, cut())
    await expectRejects(b.post(2), EpochStateError)
    await expectRejects(b.post(3), EpochStateError)
    const p = await b.post()
    assert.deepEqual(p.signers, [addr(0xa001), addr(0xa003)])
    // another aggregator posted something else for epoch 2
    chain.roots.set(2n, { root: '0x' + '12'.repeat(32), total: 1n, finalAt: 0n })
    chain.next = 3n
    await expectRejects(b.post(), RootConflictError)
    assert.equal(b.state(2), 'sealed')

    const c = await fresh({ chain: new FakeChain(), signers: [signer(1), signer(2, true)], quorum: 2 })
    await c.accept(job('q3', 100n, 1, [2]))
    await c.seal(undefined, cut())
    const err = await expectRejects(c.post(), QuorumNotReachedError)
    assert.equal(err.details.got, 1)
  })

  it('marks posted epochs final once the challenge window has passed, and serves claims against final roots', async function () {
    const chain = new FakeChain()
    chain.window = 100n
    let now = 1050
    let b = await fresh({ chain, now: () => now })
    await b.accept(job('f', 100n, 1, [2]))
    await b.seal(undefined, cut())
    assert.equal((await b.post()).finalAt, 1100n)
    assert.equal((await b.claimFor(addr(1)))?.finalAt, 1100n)
    assert.equal(await b.claimFor(addr(1), 'final'), undefined)
    assert.deepEqual(await b.finalize(), [])
    now = 1100
    assert.deepEqual(await b.finalize(), [1])
    assert.equal(b.state(1), 'final')
    assert.equal(b.latestFinal, 1)
    // epoch 2 posted but not final: 'final' claims stay on epoch 1
    await b.accept(job('g', 100n, 1, [2]))
    await b.seal(undefined, cut())
    chain.now = 1100n
    await b.post()
    assert.equal((await b.claimFor(addr(1)))?.epoch, 2)
    const c = await b.claimFor(addr(1), 'final')
    assert.equal(c?.epoch, 1)
    assert.equal(c?.cumulative, 50n)
    assert.ok(StandardMerkleTree.verify(chain.roots.get(1n)?.root as string, ENCODING, [addr(1), '50'], c?.proof ?? []))
    b = await reopen(b, { chain, now: () => now })
    assert.equal(b.state(1), 'final')
    assert.equal((await b.multiClaim([addr(1), addr(2)], 'final'))?.epoch, 1)
    await expectRejects(b.claimFor(addr(1), 3), EpochStateError)
  })

  it('posts a challenged root again instead of finalizing it, and refuses to finalize over another root', async function () {
    const chain = new FakeChain()
    chain.window = 100n
    let b = await fresh({ chain, now: () => 2000 })
    await b.accept(job('ch', 100n, 1, [2]))
    const s = await b.seal(undefined, cut())
    await b.post()
    chain.challenge(1n)
    assert.deepEqual(await b.finalize(), [])
    assert.deepEqual(b.challenged, [1])
    assert.equal(b.state(1), 'sealed')
    b = await reopen(b, { chain, now: () => 2000 })
    assert.equal(b.state(1), 'sealed', 'the un-posting survives a restart')
    const again = await b.postPending()
    assert.equal(again[0].root, s.root)
    assert.equal(chain.postCalls, 2)
    assert.equal(chain.roots.get(1n)?.root, s.root)
    // someone else's root in our place: refused, not finalized
    chain.roots.set(1n, { root: '0x' + '34'.repeat(32), total: 1n, finalAt: 0n })
    await expectRejects(b.finalize(), RootConflictError)
  })

  it('publishes each sealed epoch\'s bundle: the previous balances and receipts that give its root', async function () {
    const b = await fresh({})
    await b.acceptMany(receipts(30, 21).filter(r => r.kind !== 'attribution-reward'))
    const s1 = await b.seal(undefined, { toBlock: 10 })
    await b.acceptMany(receipts(20, 22).filter(r => r.kind !== 'attribution-reward'))
    const s2 = await b.seal(undefined, { toBlock: 20 })
    const bundle = await b.bundle(2, { x: 1 })
    assert.equal(bundle.root, s2.root)
    assert.equal(bundle.toBlock, 20)
    assert.deepEqual(bundle.announces, { x: 1 })
    const prev = buildCumulativeTree(bundle.previous.map(([account, c]) => ({ account, cumulative: BigInt(c) })))
    assert.equal(prev.root, s1.root)
    const ledger = computeEpochLedger({ receipts: bundle.receipts.map(r => normalizeReceipt(r)), previous: prev.entries(), feeSplit: bundle.feeSplit, treasury: bundle.treasury })
    assert.equal(buildCumulativeTree(ledger.cumulative).root, s2.root)
    assert.equal((await b.bundle(1)).previous.length, 0)
    await expectRejects(b.bundle(3), EpochStateError)
  })

  it('drops a signature that does not verify, and posts if the rest make the quorum', async function () {
    const chain = new FakeChain()
    const verifySignature = (_e: bigint, _r: string, _t: bigint, _b: bigint, s: { signer: string }): boolean => s.signer !== addr(0xa002)
    const b = await fresh({ chain, quorum: 2, verifySignature })
    await b.accept(job('v', 100n, 1, [2]))
    await b.seal(undefined, cut())
    assert.deepEqual((await b.post()).signers, [addr(0xa001), addr(0xa003)])
    const c = await fresh({ chain: new FakeChain(), quorum: 3, verifySignature })
    await c.accept(job('v', 100n, 1, [2]))
    await c.seal(undefined, cut())
    const err = await expectRejects(c.post(), QuorumNotReachedError)
    assert.match(String(err.details.failures), /does not verify/)
  })

  it('uses the first epoch the chain starts at, and keeps it', async function () {
    const chain = new FakeChain(0n)
    const b = await fresh({ chain, firstEpoch: 0 })
    await b.accept(job('z', 100n, 1, [2]))
    assert.equal((await b.seal(undefined, cut())).epoch, 0)
    assert.equal((await b.post()).epoch, 0)
    await b.close()
    await expectRejects(EpochBuilder.open({ dir: b.dir, treasury: TREASURY, firstEpoch: 1 }), EpochStoreError)
  })

  it('loses no acknowledged receipt when the process is killed with SIGKILL mid-stream and mid-seal', async function () {
    const dir = await mkdtemp(join(tmpdir(), 'ol-epochs-kill-'))
    dirs.push(dir)
    const builderUrl = new URL('../settlement/epoch/index.ts', import.meta.url).href
    // The child accepts receipts one by one, prints each id once acknowledged, and seals every 40.
    const child = spawn(process.execPath, ['--input-type=module', '-e', `
      const { EpochBuilder } = await import(${JSON.stringify(builderUrl)})
      const b = await EpochBuilder.open({ dir: ${JSON.stringify(dir)}, treasury: ${JSON.stringify(TREASURY)} })
      for (let i = 0; ; i++) {
        await b.accept({ id: 'k' + String(i).padStart(6, '0'), kind: 'proposal-refund', account: '0x' + (1 + i % 50).toString(16).padStart(40, '0'), amount: BigInt(i + 1) })
        process.stdout.write(i + '\\n')
        if (i % 40 === 39) b.seal() // not awaited: the kill may land inside it
      }
    `], { stdio: ['ignore', 'pipe', 'inherit'], cwd: fileURLToPath(new URL('..', import.meta.url)) })
    let acked = -1
    let buf = ''
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject)
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString()
        const lines = buf.split('\n')
        buf = lines.pop() ?? ''
        for (const l of lines) acked = Number(l)
        if (acked >= 300 && child.exitCode === null && !child.killed) {
          child.kill('SIGKILL')
          resolve()
        }
      })
      child.on('exit', () => resolve())
    })
    if (child.exitCode === null && child.signalCode === null) await new Promise(resolve => child.once('exit', resolve))
    assert.ok(acked >= 300)
    const b = await fresh({}, dir)
    assert.ok(b.openEpoch > 1, 'some seals happened before the kill')
    for (let i = 0; i <= acked; i++) {
      const r = await b.accept({ id: 'k' + String(i).padStart(6, '0'), kind: 'proposal-refund', account: addr(1 + i % 50), amount: BigInt(i + 1) })
      assert.equal(r.duplicate, true, `acknowledged receipt ${i} was lost`)
      assert.equal(r.conflict, false)
    }
    const s = await b.seal(undefined, cut())
    // everything acknowledged is paid, plus at most the one in flight at the kill
    const ackedTotal = BigInt((acked + 1) * (acked + 2) / 2)
    assert.ok(s.total === ackedTotal || s.total === ackedTotal + BigInt(acked + 2), `total ${s.total} vs acknowledged ${ackedTotal}`)
    let receipts = 0
    for (let n = 1; n <= s.epoch; n++) receipts += b.ledger(n)?.receipts ?? 0
    assert.equal(BigInt(receipts), BigInt(s.total === ackedTotal ? acked + 1 : acked + 2))
  })

  it('packs signatures sorted by signer, 65 bytes each', function () {
    const sig = (b: string): string => '0x' + b.repeat(65)
    const { signers, packed } = packSignatures([
      { signer: addr(3), signature: sig('33') },
      { signer: addr(1).toUpperCase().replace('0X', '0x'), signature: sig('11') },
      { signer: addr(2), signature: sig('22') }
    ])
    assert.deepEqual(signers, [addr(1), addr(2), addr(3)])
    assert.equal(packed, '0x' + '11'.repeat(65) + '22'.repeat(65) + '33'.repeat(65))
    expectThrows(() => packSignatures([{ signer: addr(1), signature: sig('11') }, { signer: addr(1), signature: sig('22') }]), InvalidSignatureError)
    expectThrows(() => packSignatures([{ signer: addr(1), signature: '0x1234' }]), InvalidSignatureError)
    expectThrows(() => packSignatures([{ signer: 'nobody', signature: sig('11') }]), InvalidSignatureError)
  })
})
