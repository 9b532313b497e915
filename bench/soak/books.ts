// The soak's audit of the money: what the chain released, what the aggregator's epoch
// builder recorded, and what the RewardDistributor lets each account claim must agree
// to the wei. Three independent sources:
//   1 the escrow's JobReleased events (fee, worker, signing verifiers), split by the
//     registry's fee split: what every account is owed (the contributors' part by the
//     weights the aggregator's receipt of the job names: its job-credit reading);
//   2 the aggregator's store on disk: its receipt journal (every released job exactly
//     once, nothing else) and each sealed epoch's ledger.json (what each account earned
//     in it), summed over the epochs;
//   3 the chain: the latest root the distributor holds (the aggregator's tree file for
//     that epoch must hash to it, and every leaf's proof must verify against it), and
//     claimed(account); claimable = cumulative - claimed.
// lost = recorded - (claimed + claimable); unrecorded = owed - recorded. Both must be 0.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { JsonRpcProvider } from 'ethers'
import type { Addresses, SettlementClient } from '../../settlement/chain/client.ts'
import { CumulativeTree, verifyCumulativeProof, type CumulativeTreeDump } from '../../settlement/merkle/index.ts'
import { splitFee, type FeeSplitPolicy } from '../../settlement/policy/index.ts'

export interface AccountBooks {
  account: string
  /** Who it is (peer N, treasury), when known. */
  label: string
  /** From the escrow's JobReleased events and the fee split. */
  owed: string
  /** Sum of the aggregator's sealed ledgers. */
  recorded: string
  /** In the latest root on chain (its leaf, proof verified against the chain's root). */
  onChain: string
  claimed: string
  claimable: string
  /** recorded - (claimed + claimable). */
  lost: string
  /** owed - recorded. */
  unrecorded: string
}

export interface BooksReport {
  releasedJobs: number
  releasedFees: string
  /** Receipts in the aggregator's journal; journal ids that no JobReleased names; released jobs the journal lacks or holds twice. */
  journalReceipts: number
  phantomReceipts: number
  missingReceipts: number
  duplicateReceipts: number
  /** Journal receipts whose fee, worker or verifiers differ from the chain's JobReleased event. */
  receiptMismatches: number
  sealedEpochs: number
  chainEpoch: number
  chainRoot: string
  chainTotal: string
  chainFinal: boolean
  treeMatchesChain: boolean
  proofsVerified: number
  proofsFailed: number
  /** Sum over accounts of |lost| and |unrecorded| (wei). */
  lostWei: string
  unrecordedWei: string
  claimedWei: string
  claimableWei: string
  /** Sum of Claimed events equals claimed() for every account. */
  claimEventsMatch: boolean
  /** The distributor holds at least what is owed and unclaimed. */
  solvent: boolean
  accounts: AccountBooks[]
}

interface LedgerFile { epoch: number, root: string, total: string, earned: Array<[string, string]> }

/** The aggregator's epoch store: <peer 0>/epochs/<deployment>/ (one deployment per devnet). */
async function storeDir (aggregatorDir: string): Promise<string> {
  const base = join(aggregatorDir, 'epochs')
  const dirs = (await readdir(base)).filter(d => !d.startsWith('.'))
  if (dirs.length !== 1) throw new Error(`expected one epoch store under ${base}, found ${dirs.length}`)
  return join(base, dirs[0])
}

interface JournalReceipt { id: string, fee?: string, worker?: string, verifiers?: string[], contributorWeights?: Array<{ contributor: string, weight: number }> }

/** Receipts from the journal, read as text (the aggregator may be appending; a torn last line is skipped). */
async function journalReceipts (dir: string): Promise<JournalReceipt[]> {
  const text = await readFile(join(dir, 'journal.jsonl'), 'utf8')
  const out: JournalReceipt[] = []
  for (const line of text.split('\n')) {
    if (line.length < 10) continue
    try {
      const rec = JSON.parse(line.slice(9)) as { t: string, receipt?: JournalReceipt }
      if (rec.t === 'receipt' && rec.receipt !== undefined) out.push(rec.receipt)
    } catch {}
  }
  return out
}

export async function auditBooks (opts: {
  client: SettlementClient
  provider: JsonRpcProvider
  addresses: Addresses
  aggregatorDir: string
  labels: Map<string, string>
}): Promise<BooksReport> {
  const { client, provider, addresses } = opts
  const head = await provider.getBlockNumber()
  const escrow = client.c.escrow
  const released = await escrow.queryFilter(escrow.filters.JobReleased(), addresses.deployBlock, head)
  const split = await client.read<bigint[]>('registry', 'rewardSplit')
  const policy: FeeSplitPolicy = { worker: Number(split[0]), verifiers: Number(split[1]), contributors: Number(split[2]), treasury: Number(split[3]) }
  const treasury = addresses.treasury.toLowerCase()
  const dir = await storeDir(opts.aggregatorDir)
  const journaled = await journalReceipts(dir)
  const ids = journaled.map(r => r.id)
  const byId = new Map(journaled.map(r => [r.id, r]))
  const owed = new Map<string, bigint>()
  const add = (m: Map<string, bigint>, a: string, v: bigint): void => { m.set(a.toLowerCase(), (m.get(a.toLowerCase()) ?? 0n) + v) }
  let fees = 0n
  let receiptMismatches = 0
  const releasedIds = new Set<string>()
  for (const log of released) {
    const e = escrow.interface.parseLog(log)!
    const fee = e.args.amount as bigint
    const id = `job:${e.args.jobId as string}`
    const worker = (e.args.worker as string).toLowerCase()
    const verifiers = (e.args.verifiers as string[]).map(v => v.toLowerCase())
    fees += fee
    releasedIds.add(id)
    // Fee, worker and verifiers are the chain's; who shares the contributors' part is the aggregator's
    // job-credit reading (its receipt's weights; none: the treasury), so that much is taken from its journal.
    const r = byId.get(id)
    if (r !== undefined && (r.fee !== fee.toString() || r.worker?.toLowerCase() !== worker || [...(r.verifiers ?? [])].map(v => v.toLowerCase()).sort().join() !== [...verifiers].sort().join())) receiptMismatches++
    const weights = r?.contributorWeights?.map(w => ({ contributor: w.contributor.toLowerCase(), weight: w.weight }))
    const s = splitFee({ fee, worker, verifiers, ...(weights !== undefined ? { contributorWeights: weights } : {}) }, policy)
    for (const p of s.payouts) add(owed, p.account, p.amount)
    add(owed, treasury, s.treasury)
  }

  const contributors = new Set(journaled.flatMap(r => (r.contributorWeights ?? []).map(w => w.contributor.toLowerCase())))
  const seen = new Map<string, number>()
  for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1)
  const recorded = new Map<string, bigint>()
  const ledgers = new Map<number, LedgerFile>()
  const epochDirs = (await readdir(dir)).filter(d => /^[0-9]+$/.test(d)).map(Number).sort((a, b) => a - b)
  for (const n of epochDirs) {
    const l = await readFile(join(dir, String(n), 'ledger.json'), 'utf8').then(t => JSON.parse(t) as LedgerFile, () => undefined)
    if (l === undefined) continue
    ledgers.set(n, l)
    for (const [account, wei] of l.earned) add(recorded, account, BigInt(wei))
  }

  const distributor = client.c.distributor
  const chainEpoch = Number(await client.nextEpoch()) - 1
  const root = chainEpoch > 0 ? await client.rootOf(chainEpoch) : { root: '0x' + '00'.repeat(32), total: 0n, finalAt: 0n }
  const now = (await provider.getBlock('latest'))?.timestamp ?? 0
  const onChain = new Map<string, bigint>()
  let treeMatchesChain = false
  let proofsVerified = 0
  let proofsFailed = 0
  if (chainEpoch > 0) {
    const dump = JSON.parse(await readFile(join(dir, String(chainEpoch), 'tree.json'), 'utf8')) as CumulativeTreeDump
    const tree = CumulativeTree.load(dump)
    treeMatchesChain = tree.root === root.root.toLowerCase() && tree.total === root.total
    for (const entry of tree.entries()) {
      if (treeMatchesChain && verifyCumulativeProof(root.root, entry, tree.proof(entry.account))) {
        proofsVerified++
        onChain.set(entry.account.toLowerCase(), entry.cumulative)
      } else proofsFailed++
    }
  }

  const claims = await distributor.queryFilter(distributor.filters.Claimed(), addresses.deployBlock, head)
  const claimedByEvents = new Map<string, bigint>()
  for (const log of claims) {
    const e = distributor.interface.parseLog(log)!
    add(claimedByEvents, e.args.account as string, e.args.amount as bigint)
  }

  const accounts = [...new Set([...owed.keys(), ...recorded.keys(), ...onChain.keys(), ...claimedByEvents.keys()])].sort()
  let lostWei = 0n
  let unrecordedWei = 0n
  let claimedWei = 0n
  let claimableWei = 0n
  let claimEventsMatch = true
  const rows: AccountBooks[] = []
  for (const a of accounts) {
    const claimed = await client.claimed(a)
    if (claimed !== (claimedByEvents.get(a) ?? 0n)) claimEventsMatch = false
    const cumulative = onChain.get(a) ?? 0n
    const claimable = cumulative > claimed ? cumulative - claimed : 0n
    const rec = recorded.get(a) ?? 0n
    const lost = rec - (claimed + claimable)
    const unrecorded = (owed.get(a) ?? 0n) - rec
    lostWei += lost < 0n ? -lost : lost
    unrecordedWei += unrecorded < 0n ? -unrecorded : unrecorded
    claimedWei += claimed
    claimableWei += claimable
    rows.push({
      account: a,
      label: a === treasury ? 'treasury' : opts.labels.get(a) ?? (contributors.has(a) ? 'contributor' : '?'),
      owed: (owed.get(a) ?? 0n).toString(),
      recorded: rec.toString(),
      onChain: cumulative.toString(),
      claimed: claimed.toString(),
      claimable: claimable.toString(),
      lost: lost.toString(),
      unrecorded: unrecorded.toString()
    })
  }
  const balance = await client.balanceOf(addresses.distributor)
  return {
    releasedJobs: released.length,
    releasedFees: fees.toString(),
    journalReceipts: ids.length,
    phantomReceipts: ids.filter(id => !releasedIds.has(id)).length,
    missingReceipts: [...releasedIds].filter(id => !seen.has(id)).length,
    duplicateReceipts: [...seen.values()].filter(c => c > 1).length,
    receiptMismatches,
    sealedEpochs: ledgers.size,
    chainEpoch,
    chainRoot: root.root,
    chainTotal: root.total.toString(),
    chainFinal: chainEpoch > 0 && root.finalAt > 0n && BigInt(now) >= root.finalAt,
    treeMatchesChain,
    proofsVerified,
    proofsFailed,
    lostWei: lostWei.toString(),
    unrecordedWei: unrecordedWei.toString(),
    claimedWei: claimedWei.toString(),
    claimableWei: claimableWei.toString(),
    claimEventsMatch,
    solvent: balance >= root.total - claimedWei,
    accounts: rows
  }
}
