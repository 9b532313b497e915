// What the chain says about the whole network, for the dashboard: every job put in
// escrow, released or refunded, every slash, every reward root posted or finalized and
// every claim, read from the contracts' events (so a peer that took no part in a job
// still sees it), and the stake of the peers it knows. Read-only, with its own
// provider; it reads only when asked (a dashboard open) and at most once a second,
// catching up in bounded block ranges so a long chain does not stall one request.
import { Interface, type JsonRpcProvider, type Log } from 'ethers'
import { connectProvider, ROLE, SettlementClient } from '../../settlement/chain/client.ts'
import type { ChainConfig } from './chain-config.ts'

/** Blocks per eth_getLogs call (public RPCs refuse wide ranges) and calls per refresh. */
const BLOCKS_PER_QUERY = 5_000
const QUERIES_PER_REFRESH = 20
/** Records kept of each kind: the newest. */
const MAX_RECORDS = 500
const MIN_REFRESH_MS = 1_000
const STAKE_REFRESH_MS = 5_000
const MAX_STAKE_ACCOUNTS = 64

export interface ChainJob {
  job: string
  requester?: string
  amount?: string
  /** Escrow deadline (unix seconds, chain time). */
  deadline?: number
  openedAt?: number
  released?: { worker: string, resultHash: string, amount: string, verifiers: string[], block: number, tx: string }
  refunded?: { amount: string, block: number, tx: string }
}

export interface ChainSlash { peer: string, role: string, evidence: string, amount: string, prover: string, toProver: string, block: number, tx: string, job?: string }
export interface ChainRoot { epoch: number, root: string, total: string, finalAt: number, postedAt: number, tx: string, finalized?: boolean, challenged?: boolean }
export interface ChainClaim { account: string, epoch: number, amount: string, cumulative: string, block: number, tx: string }

export interface ChainSnapshot {
  chainId: number
  /** Where the treasury's share goes (the page labels it). */
  treasury: string
  /** The latest block read, and its time (unix seconds): deadlines and finality are judged by it. */
  block: number
  time: number
  /** Events are read up to here; below `block` while catching up. */
  scannedTo: number
  jobs: ChainJob[]
  slashes: ChainSlash[]
  roots: ChainRoot[]
  claims: ChainClaim[]
  /** Stake per known account and role (decimal wei). */
  stakes: Record<string, Record<keyof typeof ROLE, string>>
  error?: string
}

const ROLE_NAMES = Object.fromEntries(Object.entries(ROLE).map(([k, v]) => [v, k])) as Record<number, string>

function keepNewest<T> (list: T[]): void {
  if (list.length > MAX_RECORDS) list.splice(0, list.length - MAX_RECORDS)
}

export class ChainWatch {
  private readonly config: ChainConfig
  private provider?: JsonRpcProvider
  private client?: SettlementClient
  private iface?: Record<'escrow' | 'staking' | 'distributor', Interface>
  private next: number
  private head = { block: 0, time: 0 }
  private readonly jobs = new Map<string, ChainJob>()
  private readonly slashes: ChainSlash[] = []
  private readonly roots = new Map<number, ChainRoot>()
  private readonly claims: ChainClaim[] = []
  private stakes: ChainSnapshot['stakes'] = {}
  private lastRefresh = 0
  private lastStakes = 0
  /** A staking event arrived since the stakes were read: read them again now. */
  private stakesStale = true
  private refreshing?: Promise<void>
  private error?: string
  private stopped = false

  constructor (config: ChainConfig) {
    this.config = config
    this.next = config.addresses.deployBlock
  }

  private async connect (): Promise<SettlementClient> {
    if (this.client != null) return this.client
    this.provider = connectProvider(this.config.rpcUrl, this.config.chainId)
    this.client = await SettlementClient.create(this.config.addresses, this.provider)
    this.iface = { escrow: this.client.c.escrow.interface, staking: this.client.c.staking.interface, distributor: this.client.c.distributor.interface }
    return this.client
  }

  /** Read what is new (at most once a second; concurrent callers share one read), then the snapshot. */
  async snapshot (accounts: string[] = []): Promise<ChainSnapshot> {
    if (!this.stopped && Date.now() - this.lastRefresh >= MIN_REFRESH_MS) {
      this.refreshing ??= this.refresh(accounts).finally(() => { this.lastRefresh = Date.now(); this.refreshing = undefined })
      await this.refreshing
    }
    return {
      chainId: this.config.chainId,
      treasury: this.config.addresses.treasury,
      block: this.head.block,
      time: this.head.time,
      scannedTo: this.next - 1,
      jobs: [...this.jobs.values()],
      slashes: [...this.slashes],
      roots: [...this.roots.values()].sort((a, b) => a.epoch - b.epoch),
      claims: [...this.claims],
      stakes: this.stakes,
      ...(this.error !== undefined ? { error: this.error } : {})
    }
  }

  private async refresh (accounts: string[]): Promise<void> {
    try {
      const client = await this.connect()
      const latest = await this.provider!.getBlock('latest')
      if (latest == null) return
      this.head = { block: latest.number, time: latest.timestamp }
      const { escrow, staking, distributor } = this.config.addresses
      for (let q = 0; q < QUERIES_PER_REFRESH && this.next <= latest.number; q++) {
        const to = Math.min(latest.number, this.next + BLOCKS_PER_QUERY - 1)
        const logs = await this.provider!.getLogs({ address: [escrow, staking, distributor], fromBlock: this.next, toBlock: to })
        for (const log of logs) this.apply(log)
        this.next = to + 1
      }
      if ((this.stakesStale || Date.now() - this.lastStakes >= STAKE_REFRESH_MS) && accounts.length > 0) {
        this.lastStakes = Date.now()
        this.stakesStale = false
        const stakes: ChainSnapshot['stakes'] = {}
        await Promise.all([...new Set(accounts)].slice(0, MAX_STAKE_ACCOUNTS).map(async (a) => {
          const values = await Promise.all(Object.values(ROLE).map(async r => await client.stakeOf(a, r)))
          stakes[a] = Object.fromEntries(Object.keys(ROLE).map((k, i) => [k, values[i].toString()])) as Record<keyof typeof ROLE, string>
        }))
        this.stakes = stakes
      }
      this.error = undefined
    } catch (err) {
      this.error = (err as Error).message.slice(0, 300)
    }
  }

  private apply (log: Log): void {
    const { escrow, staking } = this.config.addresses
    const which = log.address.toLowerCase() === escrow.toLowerCase() ? 'escrow' : log.address.toLowerCase() === staking.toLowerCase() ? 'staking' : 'distributor'
    const e = this.iface![which].parseLog({ topics: [...log.topics], data: log.data })
    if (e == null) return
    const a = e.args
    if (which === 'staking') this.stakesStale = true
    const at = { block: log.blockNumber, tx: log.transactionHash }
    const job = (id: string): ChainJob => {
      let j = this.jobs.get(id)
      if (j == null) {
        j = { job: id }
        this.jobs.set(id, j)
        if (this.jobs.size > MAX_RECORDS) this.jobs.delete(this.jobs.keys().next().value!)
      }
      return j
    }
    switch (e.name) {
      case 'JobOpened': Object.assign(job(a.jobId), { requester: a.requester, amount: a.amount.toString(), deadline: Number(a.deadline), openedAt: log.blockNumber }); break
      case 'JobReleased': job(a.jobId).released = { worker: a.worker, resultHash: a.resultHash, amount: a.amount.toString(), verifiers: [...a.verifiers], ...at }; break
      case 'JobRefunded': job(a.jobId).refunded = { amount: a.amount.toString(), ...at }; break
      case 'Slashed':
        this.slashes.push({ peer: a.peer, role: ROLE_NAMES[Number(a.role)] ?? String(a.role), evidence: a.evidence, amount: a.amount.toString(), prover: a.prover, toProver: a.toProver.toString(), job: a.jobId as string, ...at })
        keepNewest(this.slashes)
        break
      case 'RootPosted':
        this.roots.set(Number(a.epoch), { epoch: Number(a.epoch), root: a.root, total: a.total.toString(), finalAt: Number(a.finalAt), postedAt: log.blockNumber, tx: log.transactionHash })
        if (this.roots.size > MAX_RECORDS) this.roots.delete(Math.min(...this.roots.keys()))
        break
      case 'RootFinalized': { const r = this.roots.get(Number(a.epoch)); if (r != null) r.finalized = true; break }
      case 'RootChallenged': { const r = this.roots.get(Number(a.epoch)); if (r != null) r.challenged = true; break }
      case 'Claimed':
        this.claims.push({ account: a.account, epoch: Number(a.epoch), amount: a.amount.toString(), cumulative: a.cumulative.toString(), ...at })
        keepNewest(this.claims)
        break
    }
  }

  stop (): void {
    this.stopped = true
    this.provider?.destroy()
  }
}
