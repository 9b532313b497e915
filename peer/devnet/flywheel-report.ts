// The flywheel run's final report: what `openledger flywheel` prints (or, with --json,
// the object itself). Every number in it was read from the running system (the chain,
// the peers' APIs, the aggregator's journal) by flywheel.ts; this file only lays them out.
import { table } from '../cli/output.ts'

export interface StageReport { name: string, ok: boolean, ms: number, summary: string }

export interface PeerRole { index: number, peerId: string, address: string, roles: string[] }

export interface DatanetReport {
  id: string
  name: string
  version: string
  /** The peer that imported it. */
  importedBy: number
  contributors: Array<{ id?: string, address: string, contributions: number, files: number, bytes: number, duplicateFiles: number, nearDuplicateFiles: number, creditWeight: number }>
  files: number
  uniqueFiles: number
  bytes: number
  /** Unique shards, the replication target, and the fewest / most peers holding a shard. */
  shards: number
  replication: { target: number, minHolders: number, maxHolders: number }
  cycles: Array<{ cycle: string, adapter?: string, attributedBy?: string, method?: string }>
}

export interface JobReport {
  label: string
  job: string
  kind: 'train' | 'infer'
  datanet?: string
  base: string
  /** infer: the adapter run; train: the adapter produced. */
  adapter?: string
  /** Wei. */
  fee: string
  requester: string
  worker: string
  /** Each assigned verifier: approved the (real) result, and was paid (its signature in the release). */
  verifiers: Array<{ address: string, approved: boolean, paid: boolean }>
  /** Results the worker revealed as planted forced errors (caught, then the real result verified). */
  forcedErrors: number
  phase: string
  escrowTx?: string
  releaseTx?: string
  /** The epoch whose root first paid it, and the contributors its receipt credited (the aggregator's journal). */
  epoch?: number
  contributorsCredited: number
  ms: number
}

export interface AttributionReport {
  adapter: string
  datanet: string
  version: string
  cycle: string
  attribution: string
  method: string
  trainedBy: number
  ms: number
  validationLoss: number
  /** `unfit`: the fit gate found data of it the adapter could not fit (paid nothing for it). */
  contributors: Array<{ address: string, id?: string, influence: number, weight: number, unfit: boolean }>
  contributions: Array<{ contribution: string, contributor: string, examples: number, tracin: number, weight: number, unfit: boolean }>
  flags: Array<{ reason: string, contributor?: string }>
}

export interface AnswerReport {
  peer: number
  adapter: string
  prompt: string
  text: string
  baseShare: number
  otherShare: number
  shares: Array<{ contributor: string, id?: string, share: number, longest: number }>
  gradient?: { baseShare: number, shares: Array<{ contributor: string, id?: string, share: number, similarity: number }> } | { unavailable: string }
}

export interface EpochReport { epoch: number, root: string, total: string, finalAt: number, tx: string }

export interface PayoutReport {
  address: string
  label: string
  role: 'worker' | 'verifier' | 'contributor' | 'treasury' | 'other'
  /** Wei, from the latest root (the aggregator's proof, checked against the chain): earned in this run, and all time. */
  earned: string
  cumulative: string
  /** Wei claimed in this run (the Claimed events of its claim transactions), and claimed() on chain now. */
  claimed: string
  claimedOnChain: string
  claimTx?: string
  /** Who sent the claim: the peer itself, or a relayer peer for an address without one. */
  claimedBy?: number
  balance: string
}

export interface CheckReport { what: string, ok: boolean, expected: string, actual: string }

export interface FlywheelReport {
  ok: boolean
  wallMs: number
  dir: string
  chain: { rpcUrl: string, chainId: number, open: string, escrow: string, distributor: string, treasury: string, warpedSeconds: number }
  stages: StageReport[]
  peers: PeerRole[]
  datanets: DatanetReport[]
  jobs: JobReport[]
  attribution: AttributionReport[]
  answers: AnswerReport[]
  epochs: EpochReport[]
  payouts: PayoutReport[]
  /** Wei earned in this run per role, and the fees released in it. */
  totals: { workers: string, verifiers: string, contributors: string, treasury: string, other: string, fees: string, rootTotal: string }
  checks: CheckReport[]
}

/** Wei as OPEN, rounded to `digits` decimals (the exact wei are in the --json report). */
export function openOf (wei: string | bigint, digits = 4): string {
  const w = BigInt(wei)
  const scale = 10n ** BigInt(18 - digits)
  const rounded = (w + scale / 2n) / scale
  const whole = rounded / 10n ** BigInt(digits)
  const frac = (rounded % 10n ** BigInt(digits)).toString().padStart(digits, '0').replace(/0+$/, '')
  return `${whole}${frac === '' ? '' : '.' + frac}`
}

const short = (s: string, n = 10): string => s.length > n + 2 ? s.slice(0, n) + '…' : s
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`

export function formatReport (r: FlywheelReport): string {
  const out: string[] = []
  const h = (title: string): void => { out.push('', `== ${title} ==`) }
  out.push(`openledger flywheel: ${r.ok ? 'complete' : 'FAILED'} in ${secs(r.wallMs)} (${r.peers.length} peers, chain ${r.chain.chainId} at ${r.chain.rpcUrl}, data in ${r.dir})`)

  h('stages')
  out.push(table([['stage', 'time', 'result'], ...r.stages.map(s => [`${s.ok ? '✓' : '✗'} ${s.name}`, secs(s.ms), s.summary])]))

  h('peers')
  out.push(table([['#', 'address', 'roles'], ...r.peers.map(p => [String(p.index), p.address, p.roles.join(', ')])]))

  h('who contributed what')
  for (const d of r.datanets) {
    out.push(`${d.name} ${short(d.id, 16)}@${short(d.version, 16)} (imported on peer ${d.importedBy}): ${d.contributors.length} contributors, ${d.files} files (${d.uniqueFiles} unique), ${d.bytes} bytes, ${d.shards} shards held by ${d.replication.minHolders}-${d.replication.maxHolders} peers (target ${d.replication.target})`)
    out.push(table([['contributor', 'address', 'contributions', 'files', 'bytes', 'dup/near', 'credit weight'],
      ...d.contributors.map(c => [c.id ?? '-', c.address, String(c.contributions), String(c.files), String(c.bytes), `${c.duplicateFiles}/${c.nearDuplicateFiles}`, c.creditWeight.toFixed(4)])]))
    out.push('')
  }

  h('jobs (escrowed, worked, verified, released)')
  out.push(table([['job', 'kind', 'fee OPEN', 'worker', 'verifiers (approved / paid)', 'forced errors', 'phase', 'paid in epoch', 'contributors credited'],
    ...r.jobs.map(j => [`${j.label} ${short(j.job)}`, j.kind, openOf(j.fee), short(j.worker), j.verifiers.map(v => `${short(v.address, 8)} ${v.approved ? 'yes' : 'no'}/${v.paid ? 'yes' : 'no'}`).join(', '), String(j.forcedErrors), j.phase, j.epoch != null ? String(j.epoch) : '-', String(j.contributorsCredited)])]))
  out.push('', table([['job', 'escrow tx (JobOpened)', 'release tx (JobReleased)'], ...r.jobs.map(j => [j.label, j.escrowTx ?? '-', j.releaseTx ?? '-'])]))

  h('measured influence (Proof of Attribution, per contributor)')
  for (const a of r.attribution) {
    out.push(`adapter ${a.adapter} (${a.datanet}, trained on peer ${a.trainedBy}), ${a.method}, ${secs(a.ms)}; recorded as ${a.attribution}`)
    out.push(table([['contributor', 'address', 'influence (TracIn)', 'payout weight', 'note'], ...a.contributors.map(c => [c.id ?? '-', c.address, c.influence.toExponential(3), pct(c.weight), c.influence < 0 ? 'harmful: earns nothing' : c.unfit ? 'not fitted by the adapter: earns nothing for it' : ''])]))
    const flagged = a.flags.filter(f => f.reason !== 'capped' && f.reason !== 'noise')
    if (flagged.length > 0) out.push(`flags: ${flagged.map(f => `${f.reason}${f.contributor != null ? ' ' + short(f.contributor) : ''}`).join(', ')}`)
    out.push('')
  }

  h('answers and their credit (infer --explain)')
  for (const a of r.answers) {
    out.push(`"${a.prompt}" ->${a.text}`)
    const spans = a.shares.map(s => `${s.id ?? short(s.contributor)} ${pct(s.share)} (span ${s.longest})`).join(', ')
    out.push(`  copied spans: ${spans === '' ? 'none' : spans}; base model ${pct(a.baseShare)}${a.otherShare > 0 ? `, others ${pct(a.otherShare)}` : ''}`)
    if (a.gradient != null && !('unavailable' in a.gradient)) out.push(`  gradient resemblance: ${a.gradient.shares.slice(0, 4).map(s => `${s.id ?? short(s.contributor)} ${pct(s.share)}`).join(', ')}; base ${pct(a.gradient.baseShare)}`)
  }

  h('epochs settled on chain')
  out.push(table([['epoch', 'root', 'total OPEN', 'final at', 'post tx'], ...r.epochs.map(e => [String(e.epoch), e.root, openOf(e.total), new Date(e.finalAt * 1000).toISOString(), e.tx])]))

  h('who was paid how much (OPEN)')
  out.push(table([['who', 'role', 'address', 'earned', 'claimed', 'on chain', 'claim tx'],
    ...r.payouts.map(p => [p.label, p.role, p.address, openOf(p.earned), openOf(p.claimed), openOf(p.claimedOnChain), p.claimTx ?? '-'])]))
  out.push('', `fees released ${openOf(r.totals.fees)} = workers ${openOf(r.totals.workers)} + verifiers ${openOf(r.totals.verifiers)} + contributors ${openOf(r.totals.contributors)} + treasury ${openOf(r.totals.treasury)}${BigInt(r.totals.other) > 0n ? ` + other ${openOf(r.totals.other)}` : ''}`)
  if (r.chain.warpedSeconds > 0) out.push(`(the devnet chain's clock was moved ${r.chain.warpedSeconds} s forward past the roots' challenge windows)`)

  h('checks')
  out.push(table([['', 'check', 'expected', 'actual'], ...r.checks.map(c => [c.ok ? '✓' : '✗', c.what, c.expected, c.actual])]))
  return out.join('\n')
}
