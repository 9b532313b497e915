// What the dashboard shows, as one JSON document built from the services' own read
// methods: the swarm (this peer, the capacity adverts it holds, its connections), the
// datanets it follows with their contributors and credit map, the task market's jobs
// (merged from this peer's own job files, the market gossip and the escrow's events,
// so jobs this peer took no part in show too), and settlement (reward roots posted and
// final, claims, earned and claimed per account). Built at most once a second however
// many pages poll it; every string in it may come from the network, and the page puts
// them in as text.
import type { JobState, MarketService } from '../market/market-service.ts'
import type { ChainSnapshot, ChainWatch } from '../settlement/chain-watch.ts'
import type { DatanetService } from '../datanets/datanet-service.ts'
import type { JobWatch, SeenJob } from '../market/job-watch.ts'
import type { StatusReport } from './status-report.ts'
import type { SettlementService } from '../settlement/settlement-service.ts'
import type { RewardsReport } from '../settlement/rewards.ts'
import type { DatanetView } from '../../storage/datanet/view.ts'

const MIN_BUILD_MS = 1_000
const MAX_JOBS = 100
const MAX_CONTRIBUTORS = 200
const REWARDS_CACHE_MS = 5_000

export interface DashboardSources {
  status: () => StatusReport
  datanets: DatanetService
  market?: MarketService
  jobWatch?: JobWatch
  chainWatch?: ChainWatch
  settlement?: SettlementService
  log?: (msg: string, fields?: Record<string, unknown>) => void
}

export interface DashboardJob {
  job: string
  kind?: string
  datanet?: string
  base?: string
  /** Fee in escrow (decimal wei). */
  amount?: string
  requester?: string
  worker?: string
  verifiers: string[]
  /** This peer's part in the job and its phase there, when it took part. */
  role?: string
  phase?: string
  /** What the page shows: the furthest the job got, from everything this peer knows. */
  state: string
  escrowed: boolean
  verdicts: Array<{ by: string, ok: boolean, checked: number, evidence?: string }>
  slashes: Array<{ peer: string, role: string, amount: string, evidence: string, tx: string }>
  release?: { worker: string, amount: string, tx: string, verifiers: string[] }
  refund?: { amount?: string, tx: string }
  error?: string
  /** Last time this peer heard of the job (ms; 0: only the chain knows it). */
  at: number
  block?: number
}

const STATE_ORDER = ['escrowed', 'announced', 'bidding', 'unassigned', 'assigned', 'training', 'submitted', 'verifying', 'verified', 'failed', 'released', 'refunded']

function furthest (a: string, b: string | undefined): string {
  if (b === undefined) return a
  return STATE_ORDER.indexOf(b) > STATE_ORDER.indexOf(a) ? b : a
}

const lower = (s: string | undefined): string => (s ?? '').toLowerCase()

export class DashboardSummary {
  private readonly src: DashboardSources
  private last?: { at: number, value: unknown }
  private building?: Promise<unknown>
  private readonly views = new Map<string, { key: string, view: ReturnType<typeof datanetSummary> }>()
  private rewardsCache?: { at: number, value: RewardsReport | null, error?: string }

  constructor (src: DashboardSources) {
    this.src = src
  }

  async get (): Promise<unknown> {
    if (this.last != null && Date.now() - this.last.at < MIN_BUILD_MS) return this.last.value
    this.building ??= this.build().then((value) => { this.last = { at: Date.now(), value }; return value }).finally(() => { this.building = undefined })
    return await this.building
  }

  private async build (): Promise<unknown> {
    const status = this.src.status()
    const chain = await this.src.chainWatch?.snapshot([status.address, ...status.adverts.map(a => a.address)])
    const [datanets, jobs, settlement] = await Promise.all([this.datanets(), this.jobs(chain), this.settlement(status, chain)])
    return {
      at: Date.now(),
      peer: { peerId: status.peerId, address: status.address, network: status.network, agent: status.agent, uptimeMs: status.uptimeMs, url: status.statusUrl },
      swarm: swarm(status, chain),
      datanets,
      market: { enabled: this.src.market != null, jobs, slashes: chain?.slashes.slice(-50).reverse() ?? [] },
      settlement
    }
  }

  private async datanets (): Promise<unknown[]> {
    const store = this.src.datanets.store
    const out = []
    for (const log of store.list()) {
      const key = `${log.size}:${log.heads.map(String).join(',')}`
      let cached = this.views.get(log.id)
      if (cached?.key !== key) {
        cached = { key, view: datanetSummary(await store.view(log.id)) }
        this.views.set(log.id, cached)
      }
      out.push(cached.view)
    }
    return out
  }

  private async jobs (chain: ChainSnapshot | undefined): Promise<DashboardJob[]> {
    const byId = new Map<string, DashboardJob>()
    const get = (job: string): DashboardJob => {
      let j = byId.get(job)
      if (j == null) byId.set(job, j = { job, verifiers: [], state: 'escrowed', escrowed: false, verdicts: [], slashes: [], at: 0 })
      return j
    }
    for (const c of chain?.jobs ?? []) {
      const j = get(c.job)
      j.escrowed = c.requester !== undefined
      j.requester ??= c.requester
      j.amount ??= c.amount
      j.block = c.openedAt
      if (c.released != null) {
        j.release = { worker: c.released.worker, amount: c.released.amount, tx: c.released.tx, verifiers: c.released.verifiers }
        j.worker = c.released.worker
        j.state = furthest(j.state, 'released')
      }
      if (c.refunded != null) { j.refund = { amount: c.refunded.amount, tx: c.refunded.tx }; j.state = furthest(j.state, 'refunded') }
    }
    for (const s of this.src.jobWatch?.list() ?? []) mergeSeen(get(s.job), s)
    for (const s of await this.localJobs()) mergeLocal(get(s.job), s)
    // A slash names its job on chain (Staking's Slashed event carries it).
    for (const s of chain?.slashes ?? []) {
      const j = s.job !== undefined ? byId.get(lower(s.job)) ?? byId.get(s.job) : undefined
      j?.slashes.push({ peer: s.peer, role: s.role, amount: s.amount, evidence: s.evidence, tx: s.tx })
    }
    return [...byId.values()]
      .sort((a, b) => (b.at - a.at) || ((b.block ?? 0) - (a.block ?? 0)))
      .slice(0, MAX_JOBS)
  }

  private async localJobs (): Promise<JobState[]> {
    const market = this.src.market
    if (market == null) return []
    const out: JobState[] = []
    for (const { job } of (await market.list()).slice(0, MAX_JOBS)) {
      try { out.push(await market.status(job)) } catch {} // removed meanwhile
    }
    return out
  }

  private async rewards (): Promise<{ value: RewardsReport | null, error?: string }> {
    const s = this.src.settlement
    if (s == null) return { value: null }
    if (this.rewardsCache != null && Date.now() - this.rewardsCache.at < REWARDS_CACHE_MS) return this.rewardsCache
    try {
      this.rewardsCache = { at: Date.now(), value: await s.rewards() }
    } catch (err) {
      this.rewardsCache = { at: Date.now(), value: null, error: (err as Error).message.slice(0, 300) }
    }
    return this.rewardsCache
  }

  private async settlement (status: StatusReport, chain: ChainSnapshot | undefined): Promise<unknown> {
    const s = this.src.settlement
    if (s == null || chain == null) return null
    const mine = await this.rewards()
    const agg = s.epochs()
    // Epochs: the chain's posted roots, with what the aggregator's own record adds.
    const epochs = new Map<number, Record<string, unknown>>()
    for (const e of agg?.epochs ?? []) epochs.set(e.epoch, { ...e })
    for (const r of chain.roots) {
      const state = r.finalized === true || (r.finalAt > 0 && chain.time >= r.finalAt) ? 'final' : r.challenged === true ? 'challenged' : 'posted'
      epochs.set(r.epoch, { ...epochs.get(r.epoch), epoch: r.epoch, root: r.root, total: r.total, finalAt: r.finalAt, postedTx: r.tx, postedAt: r.postedAt, state })
    }
    // Earned (cumulative, from the aggregator's ledgers or this peer's own proof) and claimed (the chain's Claimed events).
    const accounts = new Map<string, { address: string, earned?: string, claimed: string, self: boolean }>()
    const account = (a: string): { address: string, earned?: string, claimed: string, self: boolean } => {
      let x = accounts.get(lower(a))
      if (x == null) accounts.set(lower(a), x = { address: a, claimed: '0', self: lower(a) === lower(status.address) })
      return x
    }
    for (const [a, w] of Object.entries(agg?.earned ?? {})) account(a).earned = w
    for (const c of chain.claims) {
      const x = account(c.account)
      if (BigInt(c.cumulative) > BigInt(x.claimed)) x.claimed = c.cumulative
    }
    if (mine.value?.earned != null) account(status.address).earned = mine.value.earned
    return {
      chainId: chain.chainId,
      treasury: chain.treasury,
      block: chain.block,
      time: chain.time,
      scannedTo: chain.scannedTo,
      aggregator: agg !== undefined,
      openEpoch: agg?.openEpoch,
      pendingReceipts: agg?.pendingReceipts,
      epochs: [...epochs.values()].sort((a, b) => (b.epoch as number) - (a.epoch as number)),
      claims: chain.claims.slice(-100).reverse(),
      accounts: [...accounts.values()].sort((a, b) => Number(BigInt(b.earned ?? '0') - BigInt(a.earned ?? '0'))),
      me: mine.value,
      ...(mine.error !== undefined ? { rewardsError: mine.error } : {}),
      ...(chain.error !== undefined ? { error: chain.error } : {})
    }
  }
}

function swarm (status: StatusReport, chain: ChainSnapshot | undefined): unknown {
  const now = Date.now()
  const connected = new Map<string, string>()
  for (const c of status.connections) connected.set(c.peerId, c.direction)
  const peers = []
  const advertOf = (a: StatusReport['advert']) => a == null
    ? undefined
    : { agent: a.agent, cores: a.cpu.cores, cpu: a.cpu.model, gflops: a.ort.matmulGflops, memFree: a.memory.freeBytes, memTotal: a.memory.totalBytes, diskFree: a.disk.freeBytes, slots: a.slots, gpus: a.gpus.length }
  peers.push({ peerId: status.peerId, address: status.address, self: true, connected: false, advert: advertOf(status.advert), stake: chain?.stakes[status.address] })
  for (const r of status.adverts) {
    if (r.peerId === status.peerId) continue
    peers.push({ peerId: r.peerId, address: r.address, self: false, connected: connected.has(r.peerId), direction: connected.get(r.peerId), advert: advertOf(r.advert), advertAgeMs: now - r.ts, via: r.via, stake: chain?.stakes[r.address] })
  }
  for (const [peerId, direction] of connected) {
    if (!peers.some(p => p.peerId === peerId)) peers.push({ peerId, address: undefined, self: false, connected: true, direction, advert: undefined, stake: undefined })
  }
  return {
    peers,
    connections: status.connections,
    gossipPeers: status.gossipPeers,
    inbound: { accepted: status.inbound.accepted, rejected: status.inbound.rejected, ignored: status.inbound.ignored },
    latencyP50: median(status.latencySamples.slice(-200))
  }
}

function median (xs: number[]): number | null {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

/** A datanet for the page: its contributors (with a sample file path and the labels of their files) and its training cycles. */
function datanetSummary (v: DatanetView) {
  const sample = new Map<string, { path: string, labels: Set<string> }>()
  for (const c of v.contributions) {
    let s = sample.get(c.contributor)
    if (s == null) sample.set(c.contributor, s = { path: c.files[0]?.path ?? '', labels: new Set() })
    for (const f of c.files) if (f.label !== undefined && s.labels.size < 4) s.labels.add(f.label)
  }
  const contributors = [...v.contributors]
    .sort((a, b) => (b.creditWeight - a.creditWeight) || (b.bytes - a.bytes))
    .slice(0, MAX_CONTRIBUTORS)
    .map(c => ({ ...c, sample: sample.get(c.address)?.path ?? '', labels: [...(sample.get(c.address)?.labels ?? [])] }))
  return {
    id: v.id,
    name: v.name,
    description: v.description,
    license: v.license,
    creator: v.creator,
    createdAt: v.createdAt,
    entries: v.entries,
    totals: v.totals,
    contributorCount: v.contributors.length,
    contributors,
    cycles: v.cycles.slice(-20),
    attributedCycles: v.cycles.filter(c => c.attributedBy !== undefined).length
  }
}

function mergeSeen (j: DashboardJob, s: SeenJob): void {
  j.at = Math.max(j.at, s.seenAt, ...s.verdicts.map(v => v.at))
  if (s.announce != null) {
    const p = s.announce.spec.params
    j.kind = s.announce.kind
    j.datanet ??= typeof p.datanet === 'string' ? p.datanet : s.announce.spec.datanet
    j.base ??= typeof p.base === 'string' ? p.base : s.announce.spec.base
    j.amount ??= s.announce.escrow.amount
    j.requester ??= s.announce.requester
    j.state = furthest(j.state, 'announced')
  }
  if (s.assign != null) {
    j.worker = s.assign.workers[0]?.address
    j.verifiers = s.assign.verifiers.map(v => v.address)
    j.state = furthest(j.state, 'assigned')
  }
  // Only verdicts of the assigned verifiers on the assigned worker's result count; a result revealed as a forced error no longer does.
  const revealed = new Set(s.reveals.map(r => r.resultHash))
  for (const v of s.verdicts) {
    if (j.verifiers.length > 0 && !j.verifiers.some(a => lower(a) === lower(v.by))) continue
    if (revealed.has(v.resultHash)) continue
    addVerdict(j, { by: v.by, ok: v.ok, checked: v.checked.length, ...(v.evidence !== undefined ? { evidence: v.evidence } : {}) })
  }
}

function mergeLocal (j: DashboardJob, s: JobState): void {
  j.at = Math.max(j.at, s.updatedAt)
  j.role = s.role
  j.phase = s.phase
  const p = s.announce.spec.params
  j.kind = s.announce.kind
  j.datanet ??= typeof p.datanet === 'string' ? p.datanet : s.announce.spec.datanet
  j.base ??= typeof p.base === 'string' ? p.base : s.announce.spec.base
  j.amount ??= s.announce.escrow.amount
  j.requester ??= s.requester
  if (s.assign != null) {
    j.worker = s.assign.workers[0]?.address
    j.verifiers = s.assign.verifiers.map(v => v.address)
  }
  const revealed = new Set(s.revealed ?? [])
  for (const v of s.verdicts ?? []) {
    if (revealed.has(v.resultHash)) continue
    addVerdict(j, { by: v.by, ok: v.ok, checked: v.checked.length, ...(v.evidence !== undefined ? { evidence: v.evidence.hash } : {}) })
  }
  if (s.release != null && j.release == null) j.release = { worker: j.worker ?? '', amount: j.amount ?? '', tx: s.release.tx, verifiers: [] }
  if (s.refund != null) j.refund ??= { tx: s.refund.tx }
  if (s.error !== undefined) j.error = s.error.slice(0, 300)
  j.state = furthest(j.state, s.phase)
}

function addVerdict (j: DashboardJob, v: DashboardJob['verdicts'][number]): void {
  j.verdicts = [...j.verdicts.filter(x => lower(x.by) !== lower(v.by)), v]
  j.state = furthest(j.state, v.ok ? 'verified' : 'failed')
}
