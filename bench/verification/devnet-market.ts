// verification --devnet: the same questions asked of the real network path. A devnet
// with its anvil chain: peer 0 holds the data, aggregates and verifies; peer 1 requests;
// peers 2-3 work honestly; peers 4-8 play the worker adversaries of peer/market/adversaries/cheats.ts
// (random, base, stale, copy, lazy). Jobs go out in rounds of four through `job submit`;
// before every other round each cheater slashed below the minimum stakes again, so
// cheats keep coming, and in the rounds between honest workers take the jobs. Each job's fate is read back from the peers' own job records: the worker's
// (did it cheat, how long it computed), the verifier's (verdict, replay time, wall time).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Devnet } from '../../peer/devnet/devnet.ts'
import { devnetCli } from '../../peer/devnet/peer-cli.ts'
import { median, round } from '../lib/stats.ts'
import { sleep, waitFor } from '../lib/wait.ts'

const SPAM_BASE = fileURLToPath(new URL('../../peer/models/built/spam-base.safetensors', import.meta.url))
const CHEATS = ['random', 'base', 'stale', 'copy'] as const
const WORKERS = [2, 3, 4, 5, 6, 7, 8]
const OPEN = 10n ** 18n

export interface DevnetMarketFigures {
  jobs: number
  cheatingJobs: number
  caught: number
  honestJobs: number
  honestRejected: number
  /** Per honest job: the verifier's replay time / the worker's whole job time (data, training, evaluation; median). */
  verificationShare: number
  /** The same with the verifier's whole wall time (fetching checkpoints, preparing the data, the binding check). */
  verificationWallShare: number
  byWorker: Record<string, { jobs: number, cheated: number, caught: number }>
}

export async function devnetMarket (opts: { jobs: number, steps: number, log: (m: string) => void }): Promise<DevnetMarketFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'openledger-bench-verification-'))
  const devnet = new Devnet({ dir: join(dir, 'devnet'), peers: 9, benchSize: 32, chain: true, epochIntervalMs: 2_000, cheats: [...CHEATS], cheaters: 1 })
  const cli = devnetCli(() => devnet.peers, 600_000)
  try {
    await devnet.start()
    opts.log(`devnet of ${devnet.peers.length} peers up`)
    const imported = await cli(0, ['datanet', 'import', 'spam-assassin', '--limit', '600'])
    for (const p of [0, ...WORKERS]) {
      if (p !== 0) await cli(p, ['datanet', 'follow', imported.datanet])
      await waitFor(async () => (await cli(p, ['datanet', 'list'])).datanets.some((d: any) => d.id === imported.datanet) ? true : undefined, { timeoutMs: 120_000 })
      await cli(p, ['model', 'add', SPAM_BASE])
    }
    await cli(0, ['stake', 'add', '200', '--role', 'verifier'])
    const submitted: string[] = []
    for (let round = 0; submitted.length < opts.jobs; round++) {
      // Every other round, every worker below the minimum stakes back up, so a slashed
      // cheater keeps cheating; in between, the honest workers take the jobs.
      for (const p of round % 2 === 0 ? WORKERS : []) {
        const stake = BigInt((await cli(p, ['rewards', 'show'])).stake.worker)
        if (stake < 100n * OPEN) await cli(p, ['stake', 'add', String((100n * OPEN - stake) / OPEN + 1n), '--role', 'worker'])
      }
      const n = Math.min(4, opts.jobs - submitted.length)
      const out = await Promise.all(Array.from({ length: n }, async () => await cli(1, ['job', 'submit', '--datanet', `spam-assassin@${imported.version}`, '--base', 'spam-base', '--amount', '10', '--steps', String(opts.steps), '--batch', '32', '--bid-window', '2500'])))
      submitted.push(...out.filter(s => s.phase === 'assigned').map(s => s.job))
      await waitFor(async () => {
        const all = await Promise.all(out.map(async s => (await cli(1, ['job', 'status', s.job])).phase))
        return all.every(p => p === 'released' || p === 'failed' || p === 'unassigned') ? true : undefined
      }, { timeoutMs: 900_000, intervalMs: 2_000 })
      opts.log(`round ${round + 1}: ${submitted.length}/${opts.jobs} jobs done`)
      // Slashes land a moment after the verdict.
      await sleep(3_000)
    }
    const byWorker: DevnetMarketFigures['byWorker'] = {}
    let cheatingJobs = 0
    let caught = 0
    let honestJobs = 0
    let honestRejected = 0
    const shares: number[] = []
    const wallShares: number[] = []
    for (const job of submitted) {
      const r = await cli(1, ['job', 'status', job])
      const w = devnet.peers.find(p => p.address === r.assign.workers[0].address)!
      const ws = await cli(w.index, ['job', 'status', job])
      const vs = await cli(0, ['job', 'status', job])
      const who = devnet.cheatOf(w.index) ?? 'honest'
      const row = byWorker[who] ??= { jobs: 0, cheated: 0, caught: 0 }
      row.jobs++
      if (ws.cheated === true) {
        cheatingJobs++
        row.cheated++
        if (r.phase === 'failed') { caught++; row.caught++ }
      } else {
        honestJobs++
        if (r.phase !== 'released') honestRejected++
        if (ws.computeMs > 0 && vs.computeMs !== undefined) {
          shares.push(vs.computeMs / ws.computeMs)
          wallShares.push(vs.wallMs / ws.computeMs)
        }
      }
    }
    return {
      jobs: submitted.length,
      cheatingJobs,
      caught,
      honestJobs,
      honestRejected,
      verificationShare: round(median(shares), 4),
      verificationWallShare: round(median(wallShares), 4),
      byWorker
    }
  } finally {
    await devnet.stop()
    await rm(dir, { recursive: true, force: true })
  }
}
