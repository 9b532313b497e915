// The whole flywheel on a devnet, end to end and without a manual step: peers and the
// local chain come up, two real corpora become datanets with their contributors, a
// requester escrows OPEN for LoRA training jobs on the task market, workers train and
// verifiers check, the trainers run Proof of Attribution, answers are explained per
// contribution, an inference batch on the trained adapter and a second training cycle
// pay the contributors by what attribution measured, the aggregator settles epochs on
// chain, and everyone (contributors through a relayer) claims. `openledger flywheel`
// and `npm start` run it; test/flywheel.test.ts checks it.
//
// The orchestrator drives the peers only through their local APIs (what the CLI calls)
// and reads the chain; every number in the report comes from there, never from a
// computation of its own. The only thing it does to the system is move the devnet
// chain's clock past each root's challenge window (anvil's evm_increaseTime), which a
// real L2 would make you wait out (--no-warp waits too).
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { formatUnits, type JsonRpcProvider } from 'ethers'
import { apiGet, apiPost, ApiError, endpointOf, type NodeEndpoint } from '../cli/api-client.ts'
import type { PeerError } from '../errors.ts'
import { connectProvider, SettlementClient } from '../../settlement/chain/client.ts'
import { readSotuAddresses, slug } from '../../storage/corpora/sotu.ts'
import { readJsonIfExists, writeJsonAtomic } from '../../storage/atomic-file.ts'
import { Devnet } from './devnet.ts'
import { FlywheelError, readReport, releasedEvent, type Imported, type Job } from './flywheel-books.ts'
import { openOf, type FlywheelReport, type PayoutReport, type StageReport } from './flywheel-report.ts'

export { FlywheelError }

const BUILT = (name: string): string => fileURLToPath(new URL(`../models/built/${name}.safetensors`, import.meta.url))

/** Sizes that keep the run to a couple of minutes on 2 cores. */
export const FLYWHEEL_SIZES = {
  spamMails: 400,
  sotuPresidents: 6,
  spam: { base: 'spam-base', steps: 100, batch: 32, fee: '40' },
  sotu: { base: 'sotu-lm', steps: 100, batch: 8, fee: '100' },
  infer: { prompts: 8, maxTokens: 24, fee: '60' },
  explain: { prompts: 4, maxTokens: 32 },
  verifiers: 2,
  stake: { worker: '100', verifier: '200' }
} as const

const JOB_TIMEOUT_MS = 300_000
/** Longer than a forced-error worker waits before it reveals (market/timing.ts revealAfterMs, 120 s). */
const FORCED_REVEAL_MS = 130_000
const SETTLE_TIMEOUT_MS = 300_000

export interface FlywheelOptions {
  dir: string
  /** At least 4: aggregator + verifier, requester, worker, verifier; more alternate worker / verifier. */
  peers?: number
  /** Move the devnet chain's clock past challenge windows (default) instead of waiting them out. */
  warp?: boolean
  /**
   * The last this many peers run on WebGPU (node start --device webgpu): they train and
   * verify the training jobs beside CPU peers (inference and attribution stay on the CPU
   * peers). Default 0.
   */
  webgpuPeers?: number
  /** Demonstrations and tests: every peer's forced-error rate instead of the policy's (1: every job's first result is a planted fault). */
  forcedErrorRate?: number
  /** Progress lines, as the run goes. */
  log?: (line: string) => void
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

async function until<T> (what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 1_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined) return v
    } catch (err) { last = err }
    if (Date.now() > deadline) throw new FlywheelError(`timed out after ${timeoutMs / 1000} s waiting for ${what}`, { what, last: (last as Error | undefined)?.message })
    await sleep(everyMs)
  }
}

export class Flywheel {
  readonly opts: Required<Omit<FlywheelOptions, 'log' | 'forcedErrorRate'>> & Pick<FlywheelOptions, 'log' | 'forcedErrorRate'>
  devnet?: Devnet
  private ep: NodeEndpoint[] = []
  private provider?: JsonRpcProvider
  private client?: SettlementClient
  private readonly stages: StageReport[] = []
  private warpedSeconds = 0
  private readonly started = Date.now()

  constructor (opts: FlywheelOptions) {
    const peers = opts.peers ?? 5
    if (!Number.isInteger(peers) || peers < 4) throw new FlywheelError('the flywheel needs at least 4 peers', { peers })
    const webgpuPeers = opts.webgpuPeers ?? 0
    // Peers 0 and 1 aggregate and request; the inference job needs two CPU verifiers and a CPU worker besides.
    if (!Number.isInteger(webgpuPeers) || webgpuPeers < 0 || (webgpuPeers > 0 && peers - webgpuPeers < 4)) throw new FlywheelError('webgpu peers leave too few cpu peers: the inference and attribution jobs need peers 0-3 on the cpu (use --peers webgpu+4 or more)', { peers, webgpuPeers })
    this.opts = { peers, warp: true, webgpuPeers, ...opts }
  }

  private log (line: string): void { this.opts.log?.(line) }

  /** The stages run so far (a failed run's report has only these). */
  get stagesSoFar (): readonly StageReport[] { return this.stages }

  /** Each peer's part: 0 aggregates, verifies and relays claims; 1 requests; then workers and verifiers alternate. */
  roleOf (i: number): Array<'aggregator' | 'verifier' | 'requester' | 'worker' | 'relayer'> {
    if (i === 0) return ['aggregator', 'verifier', 'relayer']
    if (i === 1) return ['requester']
    return i % 2 === 0 ? ['worker'] : ['verifier']
  }

  private indexesWith (role: 'worker' | 'verifier'): number[] {
    return Array.from({ length: this.opts.peers }, (_, i) => i).filter(i => this.roleOf(i).includes(role))
  }

  private async get<T = any> (peer: number, path: string): Promise<T> { return await apiGet<T>(this.ep[peer], path, 60_000) }
  private async post<T = any> (peer: number, path: string, body: unknown): Promise<T> { return await apiPost<T>(this.ep[peer], path, body) }

  private async stage<T> (name: string, fn: () => Promise<{ value: T, summary: string }>): Promise<T> {
    const t0 = Date.now()
    this.log(`▸ ${name} …`)
    try {
      const { value, summary } = await fn()
      const ms = Date.now() - t0
      this.stages.push({ name, ok: true, ms, summary })
      this.log(`✓ ${name} (${(ms / 1000).toFixed(1)} s, at ${((Date.now() - this.started) / 1000).toFixed(0)} s): ${summary}`)
      return value
    } catch (err) {
      const ms = Date.now() - t0
      this.stages.push({ name, ok: false, ms, summary: (err as Error).message })
      this.log(`✗ ${name} (${(ms / 1000).toFixed(1)} s): ${(err as Error).message}`)
      if (err instanceof FlywheelError) throw err
      throw new FlywheelError(`${name}: ${(err as Error).message}`, { stage: name, error: (err as Error).name, details: (err as PeerError).details })
    }
  }

  async stop (): Promise<void> {
    this.provider?.destroy()
    this.provider = undefined
    await this.devnet?.stop()
  }

  /** Runs every stage; resolves with the report, or rejects with the stage that failed (the devnet stays up until stop()). */
  async run (): Promise<FlywheelReport> {
    const s = FLYWHEEL_SIZES
    const { peers } = this.opts

    // 1. The network: peer processes on loopback, anvil with the contracts, peer 0 aggregating.
    await this.stage('network', async () => {
      const devices = Object.fromEntries(Array.from({ length: this.opts.webgpuPeers }, (_, k) => [peers - 1 - k, 'webgpu' as const]))
      this.devnet = new Devnet({ dir: this.opts.dir, peers, benchSize: 32, advertIntervalMs: 1_000, chain: true, epochIntervalMs: 1_000, devices, forcedErrorRate: this.opts.forcedErrorRate, log: (m) => this.log(`  ${m}`) })
      await this.devnet.start()
      this.ep = await Promise.all(this.devnet.peers.map(async p => await endpointOf(p.dataDir)))
      const chain = this.devnet.chain!
      this.provider = connectProvider(chain.anvil.rpcUrl, chain.anvil.chainId)
      this.client = await SettlementClient.create(chain.addresses, this.provider)
      await until('every peer to see every other', async () => {
        const st = await this.devnet!.statuses()
        return st.every(x => !('error' in x) && x.advertsSeen >= peers - 1) ? true : undefined
      }, 60_000, 250)
      return { value: undefined, summary: `${peers} peers (${this.devnet.peers.map((p, i) => `${i} ${this.roleOf(i).join('+')}`).join(', ')}), anvil chain ${chain.anvil.chainId}, OPEN ${chain.addresses.open}` }
    })
    const devnet = this.devnet!
    const client = this.client!
    const provider = this.provider!
    const startBlock = await provider.getBlockNumber()

    // 2. Real data: two corpora imported as datanets, one signing contributor per sender domain / president.
    const imported = await this.stage('datanets', async () => {
      const saved = join(this.opts.dir, 'flywheel-datanets.json')
      const before = await readJsonIfExists<Imported[]>(saved) ?? []
      const one = async (corpus: string, peer: number, limit: number): Promise<Imported> => {
        try {
          const r = await this.post(peer, '/datanets/import', { corpus, limit })
          return { corpus, datanet: r.datanet, version: r.version, peer, contributors: r.contributors.map((c: any) => ({ id: c.id, address: c.address })) }
        } catch (err) {
          if (!(err instanceof ApiError) || err.remoteName !== 'AlreadyImportedError') throw err
          // A reused devnet: the datanet is there from an earlier run.
          const show = await this.get(peer, `/datanets/${encodeURIComponent(corpus)}`)
          const ids = before.find(b => b.datanet === show.id)?.contributors ?? []
          return { corpus, datanet: show.id, version: show.version, peer, contributors: show.contributors.map((c: any) => ({ id: ids.find(x => x.address === c.address)?.id ?? c.address, address: c.address })) }
        }
      }
      const value = await Promise.all([one('spam-assassin', 0, s.spamMails), one('sotu', 1, s.sotuPresidents)])
      await writeJsonAtomic(saved, value)
      return { value, summary: value.map(d => `${d.corpus} on peer ${d.peer}: ${d.contributors.length} contributors, version ${d.version.slice(0, 16)}…`).join('; ') }
    })
    const contributorName = new Map<string, string>()
    for (const d of imported) for (const c of d.contributors) contributorName.set(c.address.toLowerCase(), `${d.corpus}: ${c.id}`)

    // 3. Every peer follows both datanets (a peer follows only what it is told to); their shards reach the replication target.
    await this.stage('replication', async () => {
      for (const d of imported) {
        for (const [i] of devnet.peers.entries()) if (i !== d.peer) await this.post(i, '/datanets/follow', { target: d.datanet })
        const entries = (await this.get<any[]>(d.peer, '/datanets')).find(x => x.id === d.datanet).entries
        await until(`every peer to follow ${d.corpus}`, async () => {
          const lists = await Promise.all(devnet.peers.map(async (_, i) => await this.get<any[]>(i, '/datanets')))
          return lists.every(l => l.some(x => x.id === d.datanet && x.entries >= entries)) ? true : undefined
        }, 90_000, 500)
      }
      const reps = await until('every shard at its replication target', async () => {
        const shows = await Promise.all(imported.map(async d => await this.get(0, `/datanets/${d.datanet}`)))
        const done = shows.every(sh => sh.replication.shards.every((x: any) => x.holders.length >= sh.replication.target))
        return done ? shows : undefined
      }, 120_000, 1_000)
      return { value: undefined, summary: reps.map((sh: any) => `${sh.name}: ${sh.replication.shards.length} shards on >= ${sh.replication.target} peers`).join('; ') + `, followed by all ${peers} peers` }
    })

    // 4. The market's peers: base models, and OPEN at stake for their roles.
    const workers = this.indexesWith('worker')
    const verifiers = this.indexesWith('verifier')
    await this.stage('market', async () => {
      await Promise.all(devnet.peers.map(async (_, i) => {
        await this.post(i, '/models', { path: BUILT(s.spam.base) })
        await this.post(i, '/models', { path: BUILT(s.sotu.base) })
      }))
      const stakeTo = async (i: number, role: 'worker' | 'verifier'): Promise<void> => {
        const have = BigInt((await this.get(i, '/rewards')).stake[role])
        const want = BigInt(s.stake[role]) * 10n ** 18n
        if (have < want) await this.post(i, '/stake', { action: 'stake', role, amount: formatUnits(want - have, 18) })
      }
      await Promise.all([...workers.map(async i => await stakeTo(i, 'worker')), ...verifiers.map(async i => await stakeTo(i, 'verifier'))])
      return { value: undefined, summary: `${s.spam.base} and ${s.sotu.base} on every peer; workers ${workers.join(', ')} staked ${s.stake.worker} OPEN, verifiers ${verifiers.join(', ')} staked ${s.stake.verifier} OPEN` }
    })

    // What everyone had before this run's jobs: the report shows what the run added.
    const treasury = devnet.chain!.addresses.treasury
    const watched = new Map<string, { label: string, role: PayoutReport['role'], peer?: number }>()
    for (const [i, p] of devnet.peers.entries()) {
      const r = this.roleOf(i)
      watched.set(p.address.toLowerCase(), { label: `peer ${i}`, role: r.includes('worker') ? 'worker' : r.includes('verifier') ? 'verifier' : 'other', peer: i })
    }
    for (const d of imported) for (const c of d.contributors) watched.set(c.address.toLowerCase(), { label: `${d.corpus}: ${c.id}`, role: 'contributor' })
    watched.set(treasury.toLowerCase(), { label: 'treasury', role: 'treasury' })
    const rootTotalAt = async (): Promise<bigint> => {
      const latest = Number(await client.nextEpoch()) - 1
      return latest > 0 ? (await client.rootOf(latest)).total : 0n
    }
    const startTotal = await rootTotalAt()
    const startEarned = new Map<string, bigint>()
    const startClaimed = new Map<string, bigint>()
    await Promise.all([...watched.keys()].map(async a => {
      const r = await this.get(0, `/rewards/${a}`)
      startEarned.set(a, BigInt(r.earned ?? '0'))
      startClaimed.set(a, await client.claimed(a))
    }))

    const byAddress = new Map(devnet.peers.map((p, i) => [p.address.toLowerCase(), i]))
    const submit = async (label: string, body: Record<string, unknown>): Promise<Job> => {
      const t0 = Date.now()
      const requested = await this.post(1, '/jobs', { verifiers: s.verifiers, bidWindowMs: 2_500, ...body })
      if (requested.phase !== 'assigned') throw new FlywheelError(`${label}: ${requested.phase} (${requested.error ?? 'no reason given'})`, { job: requested.job })
      this.log(`  ${label}: job ${requested.job.slice(0, 12)}… escrowed ${body.amount as string} OPEN, worker peer ${byAddress.get(requested.assign.workers[0].address.toLowerCase())}, verifiers peers ${requested.assign.verifiers.map((v: any) => byAddress.get(v.address.toLowerCase())).join(', ')}`)
      // A failing verdict may be a forced error the worker planted (peer/market/forced-errors.ts):
      // it reveals it once its verifiers spoke, and the real result is verified and paid.
      // So 'failed' is the end only once it has lasted longer than a reveal can take.
      let failedSince: number | undefined
      let forced = 0
      const final = await until(`${label} to end`, async () => {
        const st = await this.get(1, `/jobs/${requested.job}`)
        const revealed = st.revealed?.length ?? 0
        if (revealed > forced) { forced = revealed; this.log(`  ${label}: the worker revealed a forced error its verifiers caught; its real result is verified next`) }
        if (st.phase !== 'failed') failedSince = undefined
        else failedSince ??= Date.now()
        if (['released', 'unassigned', 'refunded'].includes(st.phase)) return st
        return failedSince !== undefined && Date.now() - failedSince > FORCED_REVEAL_MS ? st : undefined
      }, JOB_TIMEOUT_MS, 1_000)
      if (final.phase !== 'released') throw new FlywheelError(`${label} ended ${final.phase}: ${final.error ?? JSON.stringify(final.verdicts ?? [])}`, { job: requested.job })
      const worker = byAddress.get(final.assign.workers[0].address.toLowerCase())
      // Requester and worker both try to release; the chain says who did.
      const ev = await releasedEvent(client, requested.job, startBlock)
      const from = (await provider.getTransaction(ev.tx))?.from.toLowerCase() ?? ''
      this.log(`  ${label}: ${ev.verifiers.length} verifier signatures, escrow released by ${byAddress.has(from) ? `peer ${byAddress.get(from)}` : from} in ${((Date.now() - t0) / 1000).toFixed(1)} s (tx ${ev.tx.slice(0, 12)}…)`)
      return { label, job: requested.job, requested, final, ms: Date.now() - t0, adapter: final.result?.result, worker }
    }
    const spam = imported[0]
    const sotu = imported[1]
    const at = (d: Imported): string => `${d.datanet}@${d.version}`

    // 5. Training jobs on the market, one per datanet: escrow, bids, assignment, training, verification, release.
    const trained = await this.stage('training', async () => {
      const value = await Promise.all([
        submit('train spam-assassin', { datanet: at(spam), base: s.spam.base, amount: s.spam.fee, steps: s.spam.steps, batch: s.spam.batch }),
        submit('train sotu', { datanet: at(sotu), base: s.sotu.base, amount: s.sotu.fee, steps: s.sotu.steps, batch: s.sotu.batch })
      ])
      return { value, summary: value.map(j => `${j.label}: adapter ${j.adapter?.slice(0, 12)}… by peer ${j.worker}, ${j.final.verdicts?.filter((v: any) => v.ok === true).length ?? 0} verifier approvals`).join('; ') }
    })

    // 6. Proof of Attribution on the peer that trained each adapter (its checkpoints are there).
    const attributions = await this.stage('attribution', async () => {
      const value = await Promise.all(trained.map(async (j, k) => {
        const d = imported[k]
        const t0 = Date.now()
        const r = await this.post(j.worker!, '/attribute', { adapter: j.adapter, datanet: at(d) })
        return { r, d, j, ms: Date.now() - t0 }
      }))
      // The aggregator pays by the credit map as its own copy of the manifest shows it.
      for (const { r, d } of value) {
        await until(`the aggregator to see ${d.corpus}'s attribution`, async () => {
          const view = await this.get(0, `/datanets/${d.datanet}`)
          return view.cycles.some((c: any) => c.cid === r.cycle && c.attributedBy != null) ? true : undefined
        }, 60_000, 500)
      }
      return { value, summary: value.map(({ r, d }) => `${d.corpus}: ${r.contributions.length} contributions scored, ${r.contributors.filter((c: any) => c.weight > 0).length} contributors paid`).join('; ') }
    })

    // 7. Answers with their credit: infer --explain on the trainer (it holds the gradient sketches too).
    const sotuJob = trained[1]
    const presidents = new Set(sotu.contributors.map(c => c.id))
    const words = readSotuAddresses().filter(a => presidents.has(slug(a.president))).map(a => a.text.replace(/\s+/g, ' ').trim().split(' '))
    // Prompts from the datanet's own text: openings for the batch, passages from inside the addresses to explain.
    const openings = [...new Set(words.map(w => w.slice(0, 10).join(' ')))]
    const passages = words.filter(w => w.length > 220).map(w => w.slice(200, 212).join(' '))
    const answers = await this.stage('answers', async () => {
      const value: any[] = []
      for (const prompt of spread(passages, s.explain.prompts)) {
        value.push({ prompt, r: await this.post(sotuJob.worker!, '/infer', { adapter: sotuJob.adapter, prompt, maxTokens: s.explain.maxTokens, explain: true }) })
      }
      const credited = value.filter(a => a.r.explanation.shares.length > 0).length
      return { value, summary: `${value.length} answers from adapter ${sotuJob.adapter?.slice(0, 12)}…, ${credited} with copied spans credited to contributions` }
    })

    // 8. Paid use of what was learnt: an inference batch on the sotu adapter, and a second
    // training cycle on spam-assassin; their contributors' share follows the attribution.
    const paidUse = await this.stage('inference and retraining', async () => {
      const value = await Promise.all([
        submit('infer sotu adapter', { kind: 'infer', base: s.sotu.base, adapter: sotuJob.adapter, prompts: spread(openings, s.infer.prompts), maxTokens: s.infer.maxTokens, amount: s.infer.fee }),
        submit('retrain spam-assassin', { datanet: at(spam), base: s.spam.base, amount: s.spam.fee, steps: s.spam.steps, batch: s.spam.batch })
      ])
      return { value, summary: value.map(j => `${j.label}: by peer ${j.worker}, released`).join('; ') }
    })
    const jobs = [...trained, ...paidUse]

    // 9. Settlement: the aggregator's roots hold every released fee, and the last one is final.
    const released = await Promise.all(jobs.map(async j => await releasedEvent(client, j.job, startBlock)))
    const fees = released.reduce((sum, e) => sum + e.amount, 0n)
    const target = startTotal + fees
    await this.stage('settlement', async () => {
      const done = await until('a final root holding every released fee', async () => {
        const latest = Number(await client.nextEpoch()) - 1
        if (latest <= 0) return undefined
        const root = await client.rootOf(latest)
        const now = BigInt((await provider.getBlock('latest'))!.timestamp)
        if (root.total === target && now >= root.finalAt) return { latest, root }
        if (now < root.finalAt && this.opts.warp) {
          const by = Number(root.finalAt - now) + 1
          await provider.send('evm_increaseTime', [by])
          await provider.send('evm_mine', [])
          this.warpedSeconds += by
        }
        return undefined
      }, SETTLE_TIMEOUT_MS, 1_000)
      return { value: undefined, summary: `epoch ${done.latest} root ${done.root.root.slice(0, 12)}… total ${openOf(done.root.total)} OPEN, final` }
    })

    // 10. Claims: each peer claims its own; contributors and the treasury, without a peer, through a relayer (peer 0).
    const claims = new Map<string, { tx: string, by: number }>()
    await this.stage('claims', async () => {
      await Promise.all(devnet.peers.map(async (p, i) => {
        const r = await this.get(i, '/rewards')
        if (BigInt(r.claimable) === 0n) return
        const c = await this.post(i, '/rewards/claim', {})
        claims.set(p.address.toLowerCase(), { tx: c.tx, by: i })
      }))
      for (const [address, w] of watched) {
        if (w.peer !== undefined) continue
        const r = await this.get(0, `/rewards/${address}`)
        if (BigInt(r.claimable) === 0n) continue
        const c = await this.post(0, '/rewards/claim', { account: address })
        claims.set(address, { tx: c.tx, by: 0 })
      }
      const relayed = [...claims.values()].filter(c => c.by === 0).length
      return { value: undefined, summary: `${claims.size} claims: ${claims.size - relayed} by peers for themselves, ${relayed} relayed by peer 0 for contributors and the treasury` }
    })

    return await this.stage('report', async () => {
      const value = await readReport({
        devnet, client, provider, dir: this.opts.dir, stages: this.stages, started: this.started, warpedSeconds: this.warpedSeconds,
        roleOf: (i) => this.roleOf(i), get: async (peer, path) => await this.get(peer, path)
      }, { imported, jobs, attributions, answers, released, claims, watched, startTotal, startEarned, startClaimed, startBlock, contributorName, fees })
      return { value, summary: `${value.checks.filter(c => c.ok).length}/${value.checks.length} checks hold` }
    })
  }
}

/** n items spread evenly over the list (all of it when shorter). */
function spread<T> (xs: T[], n: number): T[] {
  if (xs.length <= n) return xs
  return Array.from({ length: n }, (_, i) => xs[Math.floor(i * xs.length / n)])
}

