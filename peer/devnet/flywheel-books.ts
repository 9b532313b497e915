// What a flywheel run reports, read back from the running system: the chain (escrow
// events, roots, claims), the peers' APIs and the aggregator's journal, and the checks
// that those agree. flywheel.ts runs the stages and collects the facts; this file reads
// them into the report; flywheel-report.ts lays it out.
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Interface, type JsonRpcProvider } from 'ethers'
import type { SettlementClient } from '../../settlement/chain/client.ts'
import { EXIT, PeerError } from '../errors.ts'
import type { Devnet } from './devnet.ts'
import type {
  AnswerReport, AttributionReport, CheckReport, DatanetReport, EpochReport, FlywheelReport, JobReport, PayoutReport, PeerRole, StageReport
} from './flywheel-report.ts'

/** A stage did not complete; `details.stage` names it. */
export class FlywheelError extends PeerError {
  constructor (message: string, details?: Record<string, unknown>) { super(message, EXIT.failure, details) }
}

export interface Imported { corpus: string, datanet: string, version: string, peer: number, contributors: Array<{ id: string, address: string }> }

export interface Job { label: string, job: string, requested: any, final?: any, ms: number, adapter?: string, worker?: number }

export interface Released { amount: bigint, tx: string, worker: string, verifiers: string[] }

/** Where the report reads from. */
export interface ReportSources {
  devnet: Devnet
  client: SettlementClient
  provider: JsonRpcProvider
  dir: string
  /** The run's stages, the array itself: the report's own stage is added to it after the report is read. */
  stages: StageReport[]
  started: number
  warpedSeconds: number
  roleOf: (i: number) => string[]
  get: (peer: number, path: string) => Promise<any>
}

/** What the run did: its datanets, jobs, attributions, answers, releases and claims, and what everyone had before. */
export interface RunFacts {
  imported: Imported[]
  jobs: Job[]
  attributions: Array<{ r: any, d: Imported, j: Job, ms: number }>
  answers: Array<{ prompt: string, r: any }>
  released: Released[]
  claims: Map<string, { tx: string, by: number }>
  watched: Map<string, { label: string, role: PayoutReport['role'], peer?: number }>
  startTotal: bigint
  startEarned: Map<string, bigint>
  startClaimed: Map<string, bigint>
  startBlock: number
  contributorName: Map<string, string>
  fees: bigint
}

/** The escrow's JobReleased event of a job, read from the chain. */
export async function releasedEvent (client: SettlementClient, job: string, fromBlock: number): Promise<Released> {
  const escrow = client.c.escrow
  const [log] = await escrow.queryFilter(escrow.filters.JobReleased(job), fromBlock)
  if (log === undefined) throw new FlywheelError('no JobReleased event on chain for a released job', { job })
  const e = escrow.interface.parseLog(log)!
  return { amount: e.args.amount as bigint, tx: log.transactionHash, worker: e.args.worker as string, verifiers: [...(e.args.verifiers as string[])] }
}

/** The aggregator's journal: in which epoch each job's receipt was paid, and whom it credited. */
async function journalOf (devnet: Devnet): Promise<Map<string, { epoch: number, credited: number }>> {
  const chain = devnet.chain!
  const epochs = join(devnet.peers[0].dataDir, 'epochs')
  const prefix = `${chain.addresses.chainId}-${chain.addresses.distributor.toLowerCase()}-`
  const stores = (await readdir(epochs).catch(() => [] as string[])).filter(n => n.startsWith(prefix))
  const out = new Map<string, { epoch: number, credited: number }>()
  let newest: string | undefined
  let newestAt = -1
  for (const n of stores) {
    const at = (await stat(join(epochs, n))).mtimeMs
    if (at > newestAt) { newest = n; newestAt = at }
  }
  if (newest === undefined) return out
  const text = await readFile(join(epochs, newest, 'journal.jsonl'), 'utf8')
  for (const line of text.split('\n')) {
    if (line.length < 10) continue
    try {
      const rec = JSON.parse(line.slice(9))
      if (rec.t === 'receipt' && typeof rec.receipt?.jobId === 'string') out.set(rec.receipt.jobId, { epoch: rec.epoch, credited: rec.receipt.contributorWeights?.length ?? 0 })
    } catch {}
  }
  return out
}

/** The report of a run: every figure read back from the chain, the peers' APIs and the aggregator's journal. */
export async function readReport (src: ReportSources, x: RunFacts): Promise<FlywheelReport> {
  const { devnet, client } = src
  const chain = devnet.chain!
  const nameOf = (a: string): string | undefined => x.contributorName.get(a.toLowerCase())?.split(': ')[1]

  const peers: PeerRole[] = devnet.peers.map((p, i) => ({ index: i, peerId: p.peerId, address: p.address, roles: src.roleOf(i) }))

  const datanets: DatanetReport[] = await Promise.all(x.imported.map(async d => {
    const v = await src.get(0, `/datanets/${d.datanet}`)
    const holders = v.replication.shards.map((sh: any) => sh.holders.length as number)
    return {
      id: v.id,
      name: v.name,
      version: v.version,
      importedBy: d.peer,
      contributors: v.contributors.map((c: any) => ({ id: nameOf(c.address), address: c.address, contributions: c.contributions, files: c.files, bytes: c.bytes, duplicateFiles: c.duplicateFiles, nearDuplicateFiles: c.nearDuplicateFiles, creditWeight: c.creditWeight })),
      files: v.totals.files,
      uniqueFiles: v.totals.uniqueFiles,
      bytes: v.totals.bytes,
      shards: v.replication.shards.length,
      replication: { target: v.replication.target, minHolders: Math.min(...holders), maxHolders: Math.max(...holders) },
      cycles: v.cycles.map((c: any) => ({ cycle: c.cid, adapter: c.adapter, attributedBy: c.attributedBy, method: c.method }))
    }
  }))

  const journal = await journalOf(devnet)
  const escrow = client.c.escrow
  const jobs: JobReport[] = await Promise.all(x.jobs.map(async (j, k) => {
    const f = j.final
    const [opened] = await escrow.queryFilter(escrow.filters.JobOpened(j.job), x.startBlock)
    const datanet = typeof f.announce.spec.params?.datanet === 'string' ? f.announce.spec.params.datanet : undefined
    const signed = new Set(x.released[k].verifiers.map(v => v.toLowerCase()))
    return {
      label: j.label,
      job: j.job,
      kind: f.announce.kind,
      datanet: datanet !== undefined ? x.imported.find(d => datanet.startsWith(d.datanet))?.corpus ?? datanet : undefined,
      base: f.announce.kind === 'infer' ? f.announce.spec.base : f.announce.spec.params.base,
      adapter: f.announce.kind === 'infer' ? f.announce.spec.adapter : f.result?.result,
      fee: x.released[k].amount.toString(),
      requester: f.requester,
      worker: x.released[k].worker,
      verifiers: f.assign.verifiers.map((v: any) => ({
        address: v.address,
        approved: (f.verdicts ?? []).some((d: any) => d.ok === true && d.by.toLowerCase() === v.address.toLowerCase()),
        paid: signed.has(v.address.toLowerCase())
      })),
      forcedErrors: f.revealed?.length ?? 0,
      phase: f.phase,
      escrowTx: opened?.transactionHash,
      releaseTx: x.released[k].tx,
      epoch: journal.get(j.job)?.epoch,
      contributorsCredited: journal.get(j.job)?.credited ?? 0,
      ms: j.ms
    }
  }))

  const attribution: AttributionReport[] = x.attributions.map(({ r, d, j, ms }) => ({
    adapter: r.adapter,
    datanet: d.corpus,
    version: r.version,
    cycle: r.cycle,
    attribution: r.attribution,
    method: r.method,
    trainedBy: j.worker!,
    ms,
    validationLoss: r.validationLoss,
    contributors: r.contributors.map((c: any) => ({ address: c.address, id: nameOf(c.address), influence: c.influence, weight: c.weight, unfit: r.contributions.some((k: any) => k.contributor === c.address && k.unfit === true) })),
    contributions: r.contributions.map((c: any) => ({ contribution: c.contribution, contributor: c.contributor, examples: c.examples, tracin: c.tracin, weight: c.weight, unfit: c.unfit })),
    flags: [...r.flags.map((f: any) => ({ reason: f.reason, contributor: f.contributor })), ...r.contributions.flatMap((c: any) => Object.keys(c.flagged ?? {}).map(reason => ({ reason, contributor: c.contributor })))]
  }))

  const answers: AnswerReport[] = x.answers.map(({ prompt, r }) => {
    const e = r.explanation
    const g = e.gradient
    return {
      peer: x.jobs[1].worker!,
      adapter: r.adapter,
      prompt,
      text: r.text,
      baseShare: e.baseShare,
      otherShare: e.otherShare,
      shares: e.shares.map((sh: any) => ({ contributor: sh.contributor, id: nameOf(sh.contributor), share: sh.share, longest: sh.longest })),
      ...(g != null ? { gradient: 'unavailable' in g ? { unavailable: g.unavailable } : { baseShare: g.baseShare, shares: g.shares.map((sh: any) => ({ contributor: sh.contributor, id: nameOf(sh.contributor), share: sh.share, similarity: sh.similarity })) } } : {})
    }
  })

  const distributor = client.c.distributor
  const epochs: EpochReport[] = (await distributor.queryFilter(distributor.filters.RootPosted(), x.startBlock)).map(log => {
    const e = distributor.interface.parseLog(log)!
    return { epoch: Number(e.args.epoch), root: e.args.root as string, total: (e.args.total as bigint).toString(), finalAt: Number(e.args.finalAt), tx: log.transactionHash }
  })

  // Every account the latest root pays, plus everyone watched: earned from the root (the
  // aggregator's proof, checked against the chain by the peer), claims from the chain.
  const claimedEvents = new Interface(['event Claimed(address indexed account, uint64 epoch, uint256 amount, uint256 cumulative)'])
  const payouts: PayoutReport[] = []
  for (const [address, w] of x.watched) {
    const rewards = await src.get(0, `/rewards/${address}`)
    const cumulative = BigInt(rewards.earned ?? '0')
    const earned = cumulative - (x.startEarned.get(address) ?? 0n)
    const claim = x.claims.get(address)
    let claimed = 0n
    if (claim !== undefined) {
      const receipt = await src.provider.getTransactionReceipt(claim.tx)
      for (const log of receipt?.logs ?? []) {
        if (log.address.toLowerCase() !== chain.addresses.distributor.toLowerCase()) continue
        const parsed = claimedEvents.parseLog(log)
        if (parsed?.name === 'Claimed' && (parsed.args.account as string).toLowerCase() === address) claimed += parsed.args.amount as bigint
      }
    }
    const [claimedOnChain, balance] = await Promise.all([client.claimed(address), client.balanceOf(address)])
    if (earned === 0n && claimed === 0n && w.role !== 'treasury') continue
    payouts.push({ address: rewards.address, label: w.label, role: w.role, earned: earned.toString(), cumulative: cumulative.toString(), claimed: claimed.toString(), claimedOnChain: claimedOnChain.toString(), ...(claim !== undefined ? { claimTx: claim.tx, claimedBy: claim.by } : {}), balance: balance.toString() })
  }
  const order = { worker: 0, verifier: 1, contributor: 2, treasury: 3, other: 4 }
  payouts.sort((a, b) => order[a.role] - order[b.role] || (BigInt(b.earned) > BigInt(a.earned) ? 1 : BigInt(b.earned) < BigInt(a.earned) ? -1 : 0))
  const sumOf = (role: PayoutReport['role']): bigint => payouts.filter(p => p.role === role).reduce((t, p) => t + BigInt(p.earned), 0n)
  const latest = Number(await client.nextEpoch()) - 1
  const rootTotal = latest > 0 ? (await client.rootOf(latest)).total : 0n
  const totals = { workers: sumOf('worker').toString(), verifiers: sumOf('verifier').toString(), contributors: sumOf('contributor').toString(), treasury: sumOf('treasury').toString(), other: sumOf('other').toString(), fees: x.fees.toString(), rootTotal: rootTotal.toString() }

  const checks: CheckReport[] = []
  const check = (what: string, expected: unknown, actual: unknown): void => { checks.push({ what, ok: String(expected) === String(actual), expected: String(expected), actual: String(actual) }) }
  const earnedAll = payouts.reduce((t, p) => t + BigInt(p.earned), 0n)
  check('every job released', jobs.length, jobs.filter(j => j.phase === 'released').length)
  check('fees released (JobReleased on chain) = growth of the root total', rootTotal - x.startTotal, x.fees)
  check('earned by everyone listed = growth of the root total', rootTotal - x.startTotal, earnedAll)
  const grew = payouts.filter(p => BigInt(p.claimedOnChain) - (x.startClaimed.get(p.address.toLowerCase()) ?? 0n) === BigInt(p.claimed)).length
  check('per address: claimed in this run (Claimed events) = growth of claimed() on chain', `${payouts.length}/${payouts.length}`, `${grew}/${payouts.length}`)
  const whole = payouts.filter(p => p.claimedOnChain === p.cumulative).length
  check('per address: claimed() on chain = cumulative earnings in the final root', `${payouts.length}/${payouts.length}`, `${whole}/${payouts.length}`)
  check('claimed in this run = earned in this run', earnedAll, payouts.reduce((t, p) => t + BigInt(p.claimed), 0n))
  for (const d of x.imported) check(`${d.corpus} contributors paid`, true, payouts.some(p => p.role === 'contributor' && p.label.startsWith(`${d.corpus}:`) && BigInt(p.earned) > 0n))
  for (const a of attribution) check(`${a.datanet} attribution weights sum to 1`, '1.000000', a.contributors.reduce((t, c) => t + c.weight, 0).toFixed(6))
  check('every other stage completed', src.stages.length, src.stages.filter(st => st.ok).length)

  return {
    ok: checks.every(c => c.ok),
    wallMs: Date.now() - src.started,
    dir: src.dir,
    chain: { rpcUrl: chain.anvil.rpcUrl, chainId: chain.anvil.chainId, open: chain.addresses.open, escrow: chain.addresses.escrow, distributor: chain.addresses.distributor, treasury: chain.addresses.treasury, warpedSeconds: src.warpedSeconds },
    stages: src.stages,
    peers,
    datanets,
    jobs,
    attribution,
    answers,
    epochs,
    payouts,
    totals,
    checks
  }
}
