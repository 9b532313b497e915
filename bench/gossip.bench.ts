// gossip: capacity-advert propagation latency across a local devnet of real peer
// processes (peer/devnet/devnet.ts). Latency = receive time minus the advert's
// signing time, as each peer records it for adverts that reached it by gossip
// (StatusReport.latencySamples). Absolute figure: no baseline (BENCHMARKS.md).
//
// Steps: start N peers; wait until every peer holds adverts from all N-1 others; let
// the mesh settle for --warmup seconds; then for --seconds poll every peer's status
// once a second and keep only the samples that arrived since the previous poll.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { Devnet } from '../peer/devnet/devnet.ts'
import type { StatusReport } from '../peer/node/peer-node.ts'
import { numberFlag, parseFlags } from './lib/args.ts'
import type { BenchResult } from './lib/bench.ts'
import { fmt } from './lib/report.ts'
import { rollingTail } from './lib/rolling-tail.ts'
import { max, mean, median, min, percentile, round } from './lib/stats.ts'
import { sleep, waitFor, withTimeout } from './lib/wait.ts'

export const name = 'gossip'
export const description = 'advert propagation latency p50 / p99 across a local devnet (absolute, no baseline)'
export const flags = [
  '--peers N          devnet size (default 10)',
  '--seconds S        measurement window (default 20)',
  '--warmup S         settle time after the mesh is complete, before measuring (default 5)',
  '--interval MS      advert interval of every peer (default 1000)',
  '--bench-size N     MatMul size each peer measures at start (default 64)',
  '--ready-timeout S  give up when start-up, or then the full mesh, takes longer (default 180 each)',
  '--keep-dir         keep the devnet folder (keys, node.log files) afterwards'
]

/** peer-node.ts keeps this many latency samples (MAX_LATENCY_SAMPLES). */
const SAMPLE_CAP = 2_000
const POLL_MS = 1_000

type StatusOrError = StatusReport | { error: string }
const isStatus = (s: StatusOrError): s is StatusReport => !('error' in s)

export async function run (args: string[]): Promise<BenchResult> {
  const f = parseFlags(args, {
    peers: 'string', seconds: 'string', warmup: 'string', interval: 'string', 'bench-size': 'string', 'ready-timeout': 'string', 'keep-dir': 'boolean'
  })
  const peers = numberFlag(f, 'peers', 10, { min: 2 })
  const seconds = numberFlag(f, 'seconds', 20, { min: 1, integer: false })
  const warmupS = numberFlag(f, 'warmup', 5, { min: 0, integer: false })
  const intervalMs = numberFlag(f, 'interval', 1_000, { min: 100 })
  const benchSize = numberFlag(f, 'bench-size', 64, { min: 1 })
  const readyTimeoutS = numberFlag(f, 'ready-timeout', 180, { min: 1, integer: false })
  const log = (msg: string): void => { process.stderr.write(`gossip: ${msg}\n`) }

  const dir = await mkdtemp(join(os.tmpdir(), 'openledger-bench-gossip-'))
  const devnet = new Devnet({ dir, peers, advertIntervalMs: intervalMs, benchSize, log })
  let ok = false
  try {
    log(`starting ${peers} peers in ${dir} (advert interval ${intervalMs} ms, bench size ${benchSize})`)
    const t0 = Date.now()
    // Devnet.start() has no deadline of its own (a peer that hangs before its ready
    // line would hang it): bound it; the finally below stops whatever did start.
    const starting = devnet.start()
    starting.catch(() => {})
    await withTimeout(starting, readyTimeoutS * 1000, `devnet start (${peers} peers)`)
    const startMs = Date.now() - t0
    log(`all peers ready after ${(startMs / 1000).toFixed(1)} s; waiting for every peer to see ${peers - 1} others`)

    let last: StatusOrError[] = []
    const seenLine = (): string => last.map((s, i) => isStatus(s) ? `${i}:${s.advertsSeen}` : `${i}:${s.error}`).join(' ')
    await waitFor(async () => {
      last = await devnet.statuses()
      return last.every(s => isStatus(s) && s.advertsSeen >= peers - 1) ? true : null
    }, { timeoutMs: readyTimeoutS * 1000, intervalMs: 500, describe: () => `adverts seen per peer ${seenLine()}` })
    const meshMs = Date.now() - t0 - startMs
    log(`mesh complete ${(meshMs / 1000).toFixed(1)} s later; settling ${warmupS} s`)
    await sleep(warmupS * 1000)

    // Measurement window: poll once a second, keep each peer's new samples.
    // null until a peer's first successful read: only what arrives after it counts.
    const prev: Array<number[] | null> = Array.from({ length: peers }, () => null)
    const got: number[][] = Array.from({ length: peers }, () => [])
    let exact = true
    let pollErrors = 0
    const poll = async (record: boolean): Promise<void> => {
      const st = await devnet.statuses()
      st.forEach((s, i) => {
        if (!isStatus(s)) { pollErrors++; return }
        const before = prev[i]
        if (record && before != null) {
          const tail = rollingTail(before, s.latencySamples, SAMPLE_CAP)
          got[i].push(...tail.items)
          if (!tail.exact) exact = false
        }
        prev[i] = s.latencySamples
      })
      last = st
    }
    await poll(false)
    const w0 = Date.now()
    log(`measuring for ${seconds} s`)
    while (Date.now() - w0 < seconds * 1000) {
      await sleep(Math.min(POLL_MS, Math.max(0, seconds * 1000 - (Date.now() - w0))))
      await poll(true)
    }
    const windowMs = Date.now() - w0
    if (pollErrors > 0) log(`${pollErrors} status polls failed during the window`)

    const all = got.flat()
    if (all.length === 0) throw new Error('no latency samples arrived during the window')
    const perPeer = got.map((xs, i) => ({
      peer: i,
      samples: xs.length,
      p50: round(median(xs)),
      p99: round(percentile(xs, 99)),
      max: max(xs)
    }))
    const withSamples = perPeer.filter(p => p.samples > 0)
    const expected = peers * (peers - 1) * windowMs / intervalMs
    const final = last.filter(isStatus)

    ok = true
    return {
      figures: {
        latencyP50Ms: round(median(all)),
        latencyP90Ms: round(percentile(all, 90)),
        latencyP99Ms: round(percentile(all, 99)),
        latencyMaxMs: max(all),
        latencyMeanMs: round(mean(all)),
        samples: all.length,
        perPeerP50MinMs: round(min(withSamples.map(p => p.p50))),
        perPeerP50MaxMs: round(max(withSamples.map(p => p.p50)))
      },
      baseline: null,
      ratio: null,
      reps: 1,
      libs: ['@libp2p/gossipsub', '@libp2p/tcp', '@libp2p/noise', '@libp2p/yamux'],
      units: {
        latencyP50Ms: 'ms', latencyP90Ms: 'ms', latencyP99Ms: 'ms', latencyMaxMs: 'ms', latencyMeanMs: 'ms',
        samples: 'adverts', perPeerP50MinMs: 'ms', perPeerP50MaxMs: 'ms'
      },
      params: { peers, seconds, warmupS, intervalMs, benchSize, pollMs: POLL_MS },
      detail: {
        startMs,
        meshCompleteMs: meshMs,
        windowMs,
        expectedSamples: Math.round(expected),
        coverage: round(all.length / expected),
        samplesExact: exact,
        pollErrors,
        peersWithoutSamples: perPeer.filter(p => p.samples === 0).map(p => p.peer),
        perPeer,
        connectionsPerPeer: final.map(s => s.connections.length),
        // More than one connection to the same remote peer (e.g. both sides dialled).
        duplicateConnectionsPerPeer: final.map(s => s.connections.length - new Set(s.connections.map(c => c.peerId)).size),
        gossipPeersPerPeer: final.map(s => s.gossipPeers),
        inboundRejected: final.reduce((a, s) => a + s.inbound.rejected, 0),
        inboundIgnored: final.reduce((a, s) => a + s.inbound.ignored, 0)
      },
      tables: [{
        title: 'per peer (samples from others during the window)',
        rows: [['peer', 'samples', 'p50 ms', 'p99 ms', 'max ms'], ...perPeer.map(p => [String(p.peer), String(p.samples), fmt(p.p50), fmt(p.p99), fmt(p.max)])]
      }],
      notes: [
        'absolute figure: no baseline (BENCHMARKS.md); reps = 1 measurement window, percentiles over every sample of every peer',
        `latency = receive time - envelope signing time (Date.now(), 1 ms resolution), all ${peers} peers on this machine's loopback sharing ${os.availableParallelism()} cores`,
        `samples cover ${(100 * all.length / expected).toFixed(0)}% of the ${Math.round(expected)} adverts expected (peers x others x window / interval); adverts a peer first got by hello, or whose seq it already held, are not sampled`,
        ...(exact ? [] : ['some sample windows hit the 2000-entry cap ambiguously: counts are approximate'])
      ]
    }
  } finally {
    log('stopping devnet')
    await devnet.stop()
    if (ok && f['keep-dir'] !== true) await rm(dir, { recursive: true, force: true })
    else log(`devnet folder kept: ${dir} (peer-*/node.log)`)
  }
}
