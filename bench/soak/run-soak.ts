// The soak: the flywheel on a devnet for many reward epochs while faults are injected,
// then an audit that nothing was lost and nothing crashed. A 7-peer devnet with its
// anvil chain: peer 0 holds the datanet (SpamAssassin mail) and aggregates rewards,
// peer 1 requests, peers 2-4 work, peers 5-6 verify. Each round submits training jobs
// through the task market and waits for them to end; then the chain's clock is moved
// past the challenge window so the aggregator seals the round's receipts into an epoch
// and posts its root. Meanwhile:
//   - peers are SIGKILLed and restarted: the worker of a job mid-training, the verifier
//     of a job, and the aggregator (at the moment it seals and posts, or mid-round);
//   - every peer drops a share of its inbound gossip and request/response streams
//     (OPENLEDGER_CHAOS, peer/net/chaos.ts);
//   - a hostile libp2p node sends garbage on every topic and protocol (garbage-peer.ts);
//   - peers claim their rewards now and then, as people would.
// At the end every job is let finish, the books are closed (the last root final, some
// accounts claimed), the deadlines passed so failed jobs refund, and the figures read:
// jobs by outcome from the requester and the escrow, money from the chain and the
// aggregator's store (books.ts), memory per peer (/proc), crashes (exits the soak did
// not cause, and what Node wrote to the logs).
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { formatUnits } from 'ethers'
import { Devnet, type DevnetPeer } from '../../peer/devnet/devnet.ts'
import { devnetCli } from '../../peer/devnet/peer-cli.ts'
import { apiGet, apiPost, endpointOf } from '../../peer/cli/api-client.ts'
import { CHAOS_ENV } from '../../peer/net/chaos.ts'
import type { JobState } from '../../peer/market/job-state.ts'
import type { StatusReport } from '../../peer/node/peer-node.ts'
import { connectProvider, SettlementClient } from '../../settlement/chain/client.ts'
import { sleep, waitFor } from '../lib/wait.ts'
import { auditBooks, type BooksReport } from './books.ts'
import { GarbagePeer, type GarbageTally } from './garbage-peer.ts'
import { memoryOf, scanLog, type LogScan, type MemorySample } from './health.ts'

const SPAM_BASE = fileURLToPath(new URL('../../peer/models/built/spam-base.safetensors', import.meta.url))
const AGGREGATOR = 0
const REQUESTER = 1
const WORKERS = [2, 3, 4]
const VERIFIERS = [5, 6]
/** Never killed: the requester, a worker and a verifier whose memory is measured over the whole soak. */
const WITNESSES = new Set([REQUESTER, 3, 6])
const FEE = '10'
/** The registry's challenge window on the devnet chain (seconds), plus one. */
const WARP_SECONDS = 61
const TERMINAL = new Set(['released', 'failed', 'unassigned', 'refunded'])
/** A round waits this long for its jobs; one that has not ended by then is carried over (and counted at the end). */
const ROUND_WAIT_MS = 90_000
/** ...or, once one of them is released, when the others have not changed phase for this long. */
const ROUND_SETTLE_MS = 30_000
/** Memory is measured from the end of this round on: by then every peer has trained or verified a job. */
const WARMUP_ROUNDS = 3

export type KillRole = 'worker' | 'verifier' | 'aggregator'

export interface SoakOptions {
  /** Reward epochs to post on chain while faults are injected (at least). */
  epochs: number
  jobsPerRound: number
  steps: number
  /** Shares of inbound gossip messages and request/response streams every peer drops. */
  dropGossip: number
  dropStreams: number
  /** Chance per round of killing a job's worker mid-training, and a job's verifier. */
  workerKillRate: number
  verifierKillRate: number
  /** Times the aggregator is killed during the soak. */
  aggregatorKills: number
  /** Instead of the random plan: exactly these kills, by round (1-based). */
  kills?: Array<{ round: number, role: KillRole, /** aggregator: while it seals and posts (default), else mid-round. */ atPost?: boolean }>
  /** The hostile peer: one garbage gossip message and one garbage stream per interval (0: none). */
  garbageIntervalMs: number
  /** Chance per round that each worker and verifier claims its rewards. */
  claimRate: number
  seed: number
  /** Keep the devnet folder (logs, stores) for inspection. */
  keep?: boolean
  log: (msg: string) => void
}

export interface KillRecord { round: number, peer: number, role: KillRole, when: string, downMs: number, restartMs: number, restartError?: string }
export interface CrashRecord { round: number, peer: number, code: number | null, signal: string | null, tail: string[] }
/**
 * One job: the requester's phase and the escrow's status before the deadline was passed
 * (what the job came to by itself) and at the end (after refunds).
 */
export interface JobRecord { job: string, round: number, phase: string, beforeDeadline: string, chainBeforeDeadline: string, chain: string, worker?: number, verifiers: number[], reassigned: number, error?: string }

export interface SoakResult {
  wallMs: number
  setupMs: number
  rounds: number
  epochs: number
  /** hung: escrow still open at the deadline without the requester having given up on it; requesterStale: released on chain while the requester still waited; stuck: escrow open at the very end. */
  jobs: { submitted: number, submitFailed: number, completed: number, refunded: number, failed: number, hung: number, requesterStale: number, stuck: number, reassigned: number, list: JobRecord[] }
  kills: KillRecord[]
  crashes: CrashRecord[]
  claims: { attempted: number, succeeded: number, refused: Record<string, number> }
  /** Slashed events on chain: every peer of the soak is honest, so each one is a wrong slash. */
  slashes: Array<{ peer: number, role: number, amount: string, tx: string }>
  books: BooksReport
  /** What `rewards show` answered each peer, against the books (the user's path: aggregator proof, checked by the peer against the chain). */
  rewardsShowMismatches: string[]
  /**
   * Per peer: RSS (and V8 heap in use) after setup, after round WARMUP_ROUNDS (the
   * baseline), at the end, and after every round; `sameProcess` when the end sample is
   * the baseline's process (not restarted since), the only case where end - start is
   * growth. Peers 1, 3 and 6 are never killed, so the requester, a worker and a verifier
   * always have a figure.
   */
  memory: Array<{ peer: number, role: string, restarts: number, setup: MemorySample | undefined, start: MemorySample | undefined, end: MemorySample | undefined, sameProcess: boolean, maxRssKiB: number, perRound: number[], heapPerRound: number[] }>
  logs: Array<{ peer: number } & LogScan>
  garbage: GarbageTally & { rejectedAtPeers: number, byError: Record<string, number> }
  dir: string
}

/** mulberry32: a small seeded PRNG, so a soak's fault plan can be replayed. */
function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function roleOf (i: number): string {
  return i === AGGREGATOR ? 'aggregator, data' : i === REQUESTER ? 'requester' : WORKERS.includes(i) ? 'worker' : 'verifier'
}

export async function soak (opts: SoakOptions): Promise<SoakResult> {
  const started = performance.now()
  const random = prng(opts.seed)
  const between = (lo: number, hi: number): number => Math.round(lo + random() * (hi - lo))
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]
  const dir = await mkdtemp(join(tmpdir(), 'openledger-soak-'))
  const chaos = opts.dropGossip > 0 || opts.dropStreams > 0 ? `gossip=${opts.dropGossip},streams=${opts.dropStreams}` : undefined
  const devnet = new Devnet({
    dir: join(dir, 'devnet'),
    peers: 7,
    benchSize: 32,
    chain: true,
    epochIntervalMs: 2_000,
    peerEnv: (): Record<string, string> => chaos === undefined ? {} : { [CHAOS_ENV]: chaos },
    log: (m) => opts.log(m)
  })
  const cli = devnetCli(() => devnet.peers, 600_000)
  const api = async <T>(i: number, path: string, timeoutMs = 30_000): Promise<T> => await apiGet<T>(await endpointOf(devnet.peers[i].dataDir), path, timeoutMs)
  const post = async <T>(i: number, path: string, body: unknown): Promise<T> => await apiPost<T>(await endpointOf(devnet.peers[i].dataDir), path, body)

  const kills: KillRecord[] = []
  const crashes: CrashRecord[] = []
  const intended = new Set<ChildProcess>()
  /** Peers being killed or restarted by the soak right now. */
  const bouncing = new Set<number>()
  const restarts = new Map<number, number>()
  const maxRss = new Map<number, number>()
  const claims = { attempted: 0, succeeded: 0, refused: {} as Record<string, number> }
  let round = 0
  let garbage: GarbagePeer | undefined
  let watchdog: NodeJS.Timeout | undefined
  const isUp = (p: DevnetPeer): boolean => p.child != null && p.child.exitCode == null && p.child.signalCode == null && !bouncing.has(p.index)

  try {
    await devnet.start()
    const provider = connectProvider(devnet.chain!.anvil.rpcUrl, devnet.chain!.anvil.chainId)
    const client = await SettlementClient.create(devnet.chain!.addresses, provider)
    const warp = async (seconds: number): Promise<void> => {
      await provider.send('evm_increaseTime', [seconds])
      await provider.send('evm_mine', [])
    }
    const postedEpochs = async (): Promise<number> => Number(await client.nextEpoch()) - 1
    const releasedFees = async (): Promise<bigint> => {
      const escrow = client.c.escrow
      const logs = await escrow.queryFilter(escrow.filters.JobReleased(), devnet.chain!.addresses.deployBlock, 'latest')
      return logs.reduce((s, l) => s + (escrow.interface.parseLog(l)!.args.amount as bigint), 0n)
    }
    /** Until every fee released so far is in the latest posted root (its total), warping past the challenge window when nothing moves. */
    const settled = async (timeoutMs: number): Promise<boolean> => {
      const deadline = Date.now() + timeoutMs
      let lastWarp = Date.now()
      while (Date.now() < deadline) {
        const epoch = await postedEpochs()
        const fees = await releasedFees()
        if (fees === 0n || (epoch > 0 && (await client.rootOf(epoch)).total === fees)) return true
        // The root before may still be in its window (a release landed after the last warp).
        if (Date.now() - lastWarp > 15_000) { await warp(WARP_SECONDS); lastWarp = Date.now() }
        await sleep(1_000)
      }
      return false
    }
    opts.log(`devnet of ${devnet.peers.length} peers up${chaos !== undefined ? ` (${CHAOS_ENV}=${chaos} on every peer)` : ''}`)

    // The flywheel's ground: a datanet on peer 0, followed by the workers and verifiers, the base model and stakes.
    const imported = await cli(AGGREGATOR, ['datanet', 'import', 'spam-assassin', '--limit', '600'])
    for (const p of [...WORKERS, ...VERIFIERS]) {
      if (p !== AGGREGATOR) await cli(p, ['datanet', 'follow', imported.datanet])
      await waitFor(async () => (await cli(p, ['datanet', 'list'])).datanets.some((d: any) => d.id === imported.datanet) ? true : undefined, { timeoutMs: 180_000, intervalMs: 2_000 })
      await cli(p, ['model', 'add', SPAM_BASE])
    }
    for (const p of WORKERS) await cli(p, ['stake', 'add', '100', '--role', 'worker'])
    for (const p of VERIFIERS) await cli(p, ['stake', 'add', '200', '--role', 'verifier'])
    const datanet = `spam-assassin@${imported.version}`

    // A peer that exits without the soak killing it is a crash: recorded, and restarted so the soak goes on.
    watchdog = setInterval(() => {
      for (const p of devnet.peers) {
        const child = p.child
        if (child == null || bouncing.has(p.index) || intended.has(child) || (child.exitCode == null && child.signalCode == null)) continue
        intended.add(child)
        bouncing.add(p.index)
        void (async () => {
          const tail = (await readFile(join(p.dataDir, 'node.log'), 'utf8').catch(() => '')).trimEnd().split('\n').slice(-15)
          crashes.push({ round, peer: p.index, code: child.exitCode, signal: child.signalCode, tail })
          opts.log(`CRASH: peer ${p.index} exited (${child.signalCode ?? child.exitCode}) in round ${round}`)
          await devnet.startPeer(p).catch((err: Error) => opts.log(`peer ${p.index} did not come back: ${err.message}`))
          restarts.set(p.index, (restarts.get(p.index) ?? 0) + 1)
        })().finally(() => bouncing.delete(p.index))
      }
    }, 1_000)

    if (opts.garbageIntervalMs > 0) {
      garbage = new GarbagePeer({ network: devnet.opts.network, targets: () => devnet.peers.filter(isUp).map(p => ({ peerId: p.peerId, addrs: p.addrs })), random })
      await garbage.start(opts.garbageIntervalMs)
      opts.log(`garbage peer ${garbage.peerId} sending every ${opts.garbageIntervalMs} ms`)
    }

    const perRound = new Map<number, number[]>(devnet.peers.map(p => [p.index, []]))
    const heapPerRound = new Map<number, number[]>(devnet.peers.map(p => [p.index, []]))
    const sampleMemory = async (): Promise<Map<number, MemorySample & { pid: number } | undefined>> => {
      const out = new Map<number, MemorySample & { pid: number } | undefined>()
      for (const p of devnet.peers) {
        const pid = p.child?.pid
        const m = isUp(p) ? await memoryOf(pid) : undefined
        const heap = m === undefined ? undefined : await api<StatusReport>(p.index, '/status', 5_000).then(s => Math.round(s.memory.heapUsed / 1024), () => undefined)
        out.set(p.index, m === undefined || pid === undefined ? undefined : { ...m, ...(heap !== undefined ? { heapUsedKiB: heap } : {}), pid })
        perRound.get(p.index)!.push(m?.rssKiB ?? 0)
        heapPerRound.get(p.index)!.push(heap ?? 0)
        if (m !== undefined) maxRss.set(p.index, Math.max(maxRss.get(p.index) ?? 0, m.rssKiB))
      }
      return out
    }
    const memorySetup = await sampleMemory()
    let memoryStart = memorySetup
    const setupMs = performance.now() - started
    opts.log(`setup done in ${(setupMs / 1000).toFixed(0)} s; soaking for ${opts.epochs} epochs`)

    /** Kill a peer after a delay (SIGKILL, as a crash would) and start it again after `downMs`. */
    const bounce = async (index: number, role: KillRole, when: string, delayMs: number, downMs: number): Promise<void> => {
      await sleep(delayMs)
      const p = devnet.peers[index]
      if (!isUp(p)) return
      bouncing.add(index)
      try {
        intended.add(p.child!)
        await devnet.kill(p)
        const rec: KillRecord = { round, peer: index, role, when, downMs, restartMs: 0 }
        kills.push(rec)
        opts.log(`round ${round}: killed peer ${index} (${role}, ${when}); back in ${downMs} ms`)
        await sleep(downMs)
        const t0 = performance.now()
        for (let attempt = 1; ; attempt++) {
          try { await devnet.startPeer(p); break } catch (err) {
            rec.restartError = (err as Error).message
            if (attempt >= 3) throw err
          }
        }
        rec.restartMs = Math.round(performance.now() - t0)
        restarts.set(index, (restarts.get(index) ?? 0) + 1)
      } finally {
        bouncing.delete(index)
      }
    }

    // The kill plan: given, or drawn from the seed (aggregator kills spread over the rounds).
    const aggregatorRounds = new Set<number>()
    if (opts.kills === undefined) {
      for (let k = 0; k < opts.aggregatorKills; k++) aggregatorRounds.add(Math.max(2, Math.round((k + 0.5) * opts.epochs / opts.aggregatorKills)))
    }
    const planned = (r: number, role: KillRole): boolean => opts.kills !== undefined
      ? opts.kills.some(k => k.round === r && k.role === role)
      : role === 'aggregator' ? aggregatorRounds.has(r) : random() < (role === 'worker' ? opts.workerKillRate : opts.verifierKillRate)

    const jobs: Array<{ job: string, round: number }> = []
    let submitFailed = 0
    const byAddress = new Map(devnet.peers.map(p => [p.address.toLowerCase(), p.index]))
    const jobState = async (job: string): Promise<JobState> => await api<JobState>(REQUESTER, `/jobs/${job}`)
    /**
     * Until every job in the list ended, or the timeout. With `settleMs`, also once one
     * of them was released and the others have not moved for that long (a job whose
     * verifier never got its result waits for its deadline: it is carried over, and
     * counted at the end).
     */
    const waitJobs = async (list: string[], timeoutMs: number, settleMs?: number): Promise<boolean> => {
      const deadline = Date.now() + timeoutMs
      const since = new Map<string, { phase: string, at: number }>()
      while (Date.now() < deadline) {
        const phases = await Promise.all(list.map(async j => await jobState(j).then(s => s.phase, () => 'unknown')))
        if (phases.every(p => TERMINAL.has(p))) return true
        const now = Date.now()
        phases.forEach((p, i) => { if (since.get(list[i])?.phase !== p) since.set(list[i], { phase: p, at: now }) })
        if (settleMs !== undefined && phases.includes('released') && list.every((j, i) => TERMINAL.has(phases[i]) || now - since.get(j)!.at > settleMs)) return false
        await sleep(2_000)
      }
      return false
    }
    const claim = async (i: number): Promise<void> => {
      if (!isUp(devnet.peers[i])) return
      claims.attempted++
      try {
        await post(i, '/rewards/claim', {})
        claims.succeeded++
      } catch (err) {
        const name = (err as { remoteName?: string }).remoteName ?? (err as Error).name
        claims.refused[name] = (claims.refused[name] ?? 0) + 1
      }
    }

    const maxRounds = opts.epochs * 2 + 5
    while (await postedEpochs() < opts.epochs && round < maxRounds) {
      round++
      const r = round
      const submitted = await Promise.all(Array.from({ length: opts.jobsPerRound }, async () =>
        await post<JobState>(REQUESTER, '/jobs', { datanet, base: 'spam-base', amount: FEE, steps: opts.steps, batch: 32, bidWindowMs: 2_500 }).catch((err: Error) => {
          submitFailed++
          opts.log(`round ${r}: job submit failed: ${err.message}`)
          return undefined
        })))
      const mine = submitted.filter((s): s is JobState => s !== undefined)
      for (const s of mine) jobs.push({ job: s.job, round: r })
      const faults: Array<Promise<void>> = []
      const assigned = mine.filter(s => s.assign !== undefined)
      const victims = (of: (s: JobState) => string): number[] => assigned.map(s => byAddress.get(of(s).toLowerCase())).filter((i): i is number => i !== undefined && !WITNESSES.has(i))
      const workers = victims(s => s.assign!.workers[0].address)
      const verifiers = victims(s => s.assign!.verifiers[0].address)
      if (workers.length > 0 && planned(r, 'worker')) faults.push(bounce(pick(workers), 'worker', 'mid-job', between(300, 2_500), between(1_000, 5_000)))
      if (verifiers.length > 0 && planned(r, 'verifier')) faults.push(bounce(pick(verifiers), 'verifier', 'mid-job', between(1_000, 8_000), between(1_000, 5_000)))
      const aggregatorNow = planned(r, 'aggregator')
      const given = opts.kills?.find(k => k.round === r && k.role === 'aggregator')
      const atPost = aggregatorNow && (given !== undefined ? given.atPost !== false : random() < 0.6)
      if (aggregatorNow && !atPost) faults.push(bounce(AGGREGATOR, 'aggregator', 'mid-round', between(500, 6_000), between(2_000, 6_000)))
      for (const i of [...WORKERS, ...VERIFIERS]) if (random() < opts.claimRate) faults.push(claim(i))
      const done = await waitJobs(mine.map(s => s.job), ROUND_WAIT_MS, ROUND_SETTLE_MS)
      await Promise.all(faults)
      const phases = await Promise.all(mine.map(async s => (await jobState(s.job).catch(() => undefined))?.phase ?? 'unknown'))
      // Move the chain past the challenge window: the last root goes final and the aggregator seals and posts this round's receipts.
      await warp(WARP_SECONDS)
      if (atPost) await bounce(AGGREGATOR, 'aggregator', 'at seal and post', between(0, 2_500), between(2_000, 6_000))
      if (!await settled(90_000)) opts.log(`round ${r}: the releases were not all in a posted root within 90 s`)
      const sampled = await sampleMemory()
      if (r <= WARMUP_ROUNDS) memoryStart = sampled
      opts.log(`round ${r}: jobs ${phases.join(', ')}${done ? '' : ' (not all ended)'}; epochs on chain ${await postedEpochs()}`)
    }

    // Closing: no more faults. Every job ends, every release lands in a final root, some accounts claim, the deadlines pass.
    opts.log('faults off: closing the books')
    await waitFor(async () => devnet.peers.every(isUp) ? true : undefined, { timeoutMs: 120_000 })
    await waitJobs(jobs.map(j => j.job), 120_000)
    if (!await settled(180_000)) opts.log('the releases were not all in a posted root within 180 s')
    await warp(WARP_SECONDS)
    // The aggregator marks the root final on its next round; then claims against it are served.
    await sleep(6_000)
    const claimers = [...WORKERS, ...VERIFIERS].filter(() => random() < 0.5)
    if (claimers.length === 0) claimers.push(WORKERS[0])
    for (const i of claimers) await claim(i)
    // What each job came to by itself, before its escrow deadline: one still open now never ended (hung).
    const escrowStatus = async (job: string): Promise<string> => { const s = (await client.jobOf(job)).status; return ['none', 'open', 'released', 'refunded'][s] ?? String(s) }
    const beforeDeadline = new Map<string, string>()
    const chainBeforeDeadline = new Map<string, string>()
    for (const j of jobs) {
      beforeDeadline.set(j.job, (await jobState(j.job).catch(() => undefined))?.phase ?? 'unknown')
      chainBeforeDeadline.set(j.job, await escrowStatus(j.job))
    }
    if ([...chainBeforeDeadline.values()].some(p => p !== 'released')) {
      await warp(3_601)
      // Requesters take back the fees of jobs that did not complete on their next refund sweep (every 10 s).
      await waitFor(async () => {
        const phases = await Promise.all(jobs.map(async j => (await jobState(j.job).catch(() => undefined))?.phase))
        return phases.every(p => p === 'released' || p === 'refunded') ? true : undefined
      }, { timeoutMs: 60_000, intervalMs: 3_000 }).catch(() => opts.log('some jobs that did not complete were not refunded within 60 s'))
    }

    // The figures.
    const memoryEnd = await sampleMemory()
    const list: JobRecord[] = []
    for (const { job, round: r } of jobs) {
      const s = await jobState(job).catch(() => undefined)
      list.push({
        job,
        round: r,
        phase: s?.phase ?? 'unknown',
        beforeDeadline: beforeDeadline.get(job) ?? 'unknown',
        chainBeforeDeadline: chainBeforeDeadline.get(job) ?? 'unknown',
        chain: await escrowStatus(job),
        worker: s?.assign === undefined ? undefined : byAddress.get(s.assign.workers[0].address.toLowerCase()),
        verifiers: (s?.assign?.verifiers ?? []).map(v => byAddress.get(v.address.toLowerCase()) ?? -1),
        reassigned: s?.silent?.length ?? 0,
        ...(s?.error !== undefined ? { error: s.error.slice(0, 200) } : {})
      })
    }
    const labels = new Map(devnet.peers.map(p => [p.address.toLowerCase(), `peer ${p.index} (${roleOf(p.index)})`]))
    const staking = client.c.staking
    const slashes = (await staking.queryFilter(staking.filters.Slashed(), devnet.chain!.addresses.deployBlock, 'latest')).map(log => {
      const e = staking.interface.parseLog(log)!
      return { peer: byAddress.get(String(e.args.peer).toLowerCase()) ?? -1, role: Number(e.args.role), amount: String(e.args.amount), tx: log.transactionHash }
    })
    const books = await auditBooks({ client, provider, addresses: devnet.chain!.addresses, aggregatorDir: devnet.peers[AGGREGATOR].dataDir, labels })
    const rewardsShowMismatches: string[] = []
    for (const p of devnet.peers) {
      const row = books.accounts.find(a => a.account === p.address.toLowerCase())
      const shown = await api<{ earned: string | null, claimed: string, claimable: string, note?: string }>(p.index, '/rewards').catch((err: Error) => ({ error: err.message }))
      if ('error' in shown) { rewardsShowMismatches.push(`peer ${p.index}: ${shown.error}`); continue }
      const want = row === undefined ? { onChain: '0', claimed: '0', claimable: '0' } : row
      if ((shown.earned ?? '0') !== want.onChain || shown.claimed !== want.claimed || shown.claimable !== want.claimable) {
        rewardsShowMismatches.push(`peer ${p.index}: rewards show earned ${shown.earned} claimed ${shown.claimed} claimable ${shown.claimable}${shown.note !== undefined ? ` (${shown.note})` : ''}; chain ${want.onChain} / ${want.claimed} / ${want.claimable}`)
      }
    }
    let rejectedAtPeers = 0
    const byError: Record<string, number> = {}
    for (const p of devnet.peers) {
      const s = await api<StatusReport>(p.index, '/status').catch(() => undefined)
      if (s === undefined) continue
      rejectedAtPeers += s.inbound.rejected
      for (const [k, v] of Object.entries(s.inbound.byError)) byError[k] = (byError[k] ?? 0) + v
    }
    await garbage?.stop()
    const tally: GarbageTally = garbage?.tally ?? { gossip: {}, streams: {}, publishFailed: 0, dials: 0, dialFailed: 0 }
    garbage = undefined
    clearInterval(watchdog)
    watchdog = undefined
    const logs: SoakResult['logs'] = []
    for (const p of devnet.peers) logs.push({ peer: p.index, ...scanLog(await readFile(join(p.dataDir, 'node.log'), 'utf8').catch(() => '')) })
    const epochs = await postedEpochs()
    provider.destroy()
    const count = (f: (j: JobRecord) => boolean): number => list.filter(f).length
    return {
      wallMs: performance.now() - started,
      setupMs,
      rounds: round,
      epochs,
      jobs: {
        submitted: jobs.length,
        submitFailed,
        completed: count(j => j.chain === 'released'),
        refunded: count(j => j.chain === 'refunded'),
        failed: count(j => j.beforeDeadline === 'failed' || j.beforeDeadline === 'unassigned'),
        hung: count(j => j.chainBeforeDeadline === 'open' && j.beforeDeadline !== 'failed' && j.beforeDeadline !== 'unassigned'),
        requesterStale: count(j => j.chainBeforeDeadline === 'released' && j.beforeDeadline !== 'released'),
        stuck: count(j => j.chain === 'open'),
        reassigned: list.reduce((s, j) => s + j.reassigned, 0),
        list
      },
      kills,
      crashes,
      claims,
      slashes,
      books,
      rewardsShowMismatches,
      memory: devnet.peers.map(p => {
        const start = memoryStart.get(p.index)
        const end = memoryEnd.get(p.index)
        return { peer: p.index, role: roleOf(p.index), restarts: restarts.get(p.index) ?? 0, setup: memorySetup.get(p.index), start, end, sameProcess: start !== undefined && start.pid === end?.pid, maxRssKiB: maxRss.get(p.index) ?? 0, perRound: perRound.get(p.index)!, heapPerRound: heapPerRound.get(p.index)! }
      }),
      logs,
      garbage: { ...tally, rejectedAtPeers, byError },
      dir
    }
  } finally {
    clearInterval(watchdog)
    await garbage?.stop().catch(() => {})
    await devnet.stop()
    if (opts.keep !== true) await rm(dir, { recursive: true, force: true })
    else opts.log(`kept ${dir}`)
  }
}

export function openOf (wei: string): string {
  return formatUnits(BigInt(wei), 18)
}
