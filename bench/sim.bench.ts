// sim: how fast the incentive simulator runs, and how its time grows with the network
// (issue 8). The headline is the wall time and peak memory of 10,000 agents for 1,000
// epochs (the baseline scenario's mix, scaled); the baseline (BENCHMARKS.md) is the
// scaling curve: the same mix at 1k, 10k and 100k agents for the same (smaller) number
// of epochs, as time per agent-epoch, and the exponent of a least-squares fit of
// log(time) on log(agents) (1 = linear). Every run is a fresh child process
// (bench/sim/run-one.ts), so the peak RSS it reports is that run's own; time is the
// engine's wall time, module loading left out. Agents enter and leave as they earn, so
// the number active drifts from the starting number: it is reported with the jobs run.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { numberFlag, parseFlags } from './lib/args.ts'
import { BenchUsageError, type BenchResult } from './lib/bench.ts'
import { fmt } from './lib/report.ts'
import { median, round } from './lib/stats.ts'

export const name = 'sim'
export const description = 'incentive simulator: wall time and peak memory of 10k agents x 1k epochs; time per agent-epoch from 1k to 100k agents'
export const flags = [
  '--agents N         agents of the headline run (default 10000)',
  '--epochs E         epochs of the headline run (default 1000)',
  '--sizes LIST       agent counts of the scaling curve (default 1000,10000,100000)',
  '--scale-epochs E   epochs of each scaling run (default 100)',
  '--reps R           runs per case, median reported (default 3)',
  '--scenario NAME    scenario whose mix is scaled (default baseline)'
]

const RUN_ONE = fileURLToPath(new URL('./sim/run-one.ts', import.meta.url))

interface One { agents: number, epochs: number, ms: number, maxRssKiB: number, heapPeakBytes: number, jobs: number, meanActive: number, receipts: number, slots: number }

async function runOne (agents: number, epochs: number, scenario: string): Promise<One> {
  const child = spawn(process.execPath, [RUN_ONE, String(agents), String(epochs), scenario], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  if (code !== 0) throw new Error(`sim run of ${agents} agents x ${epochs} epochs exited ${code}`)
  return JSON.parse(out.trim().split('\n').at(-1)!) as One
}

/** Slope of the least-squares line through (log x, log y). */
function exponent (xs: number[], ys: number[]): number {
  const lx = xs.map(Math.log)
  const ly = ys.map(Math.log)
  const mx = lx.reduce((a, b) => a + b, 0) / lx.length
  const my = ly.reduce((a, b) => a + b, 0) / ly.length
  let num = 0
  let den = 0
  for (let i = 0; i < lx.length; i++) { num += (lx[i] - mx) * (ly[i] - my); den += (lx[i] - mx) ** 2 }
  return num / den
}

const MiB = 1024 * 1024

export async function run (args: string[]): Promise<BenchResult> {
  const f = parseFlags(args, { agents: 'string', epochs: 'string', sizes: 'string', 'scale-epochs': 'string', reps: 'string', scenario: 'string' })
  const agents = numberFlag(f, 'agents', 10_000, { min: 10 })
  const epochs = numberFlag(f, 'epochs', 1000, { min: 1 })
  const scaleEpochs = numberFlag(f, 'scale-epochs', 100, { min: 1 })
  const reps = numberFlag(f, 'reps', 3, { min: 1 })
  const scenario = (f.scenario as string | undefined) ?? 'baseline'
  const sizes = ((f.sizes as string | undefined) ?? '1000,10000,100000').split(',').map(s => Number(s.trim()))
  if (sizes.length < 2 || sizes.some(n => !Number.isInteger(n) || n < 10)) throw new BenchUsageError('--sizes must list at least two integers >= 10')
  const log = (msg: string): void => { process.stderr.write(`sim: ${msg}\n`) }

  // Interleaved: each repetition runs the headline and then every size, so machine noise hits all alike.
  const headline: One[] = []
  const curve = new Map<number, One[]>(sizes.map(n => [n, []]))
  for (let r = 0; r < reps; r++) {
    const h = await runOne(agents, epochs, scenario)
    headline.push(h)
    log(`rep ${r + 1}/${reps}: ${agents} x ${epochs} in ${(h.ms / 1000).toFixed(1)} s, peak RSS ${(h.maxRssKiB / 1024).toFixed(0)} MiB`)
    for (const n of sizes) {
      const x = await runOne(n, scaleEpochs, scenario)
      curve.get(n)!.push(x)
      log(`rep ${r + 1}/${reps}: ${n} x ${scaleEpochs} in ${(x.ms / 1000).toFixed(2)} s (${(x.ms * 1000 / n / scaleEpochs).toFixed(2)} us per agent-epoch)`)
    }
  }

  const perAE = (xs: One[]): number => median(xs.map(x => x.ms * 1000 / x.agents / x.epochs))
  const usPerAgentEpoch = sizes.map(n => perAE(curve.get(n)!))
  const k = exponent(sizes, sizes.map(n => median(curve.get(n)!.map(x => x.ms))))
  const wall = median(headline.map(x => x.ms)) / 1000
  const figures: Record<string, number> = {
    wallSeconds: round(wall, 4),
    peakRssMiB: round(median(headline.map(x => x.maxRssKiB)) / 1024, 4),
    heapHighWaterMiB: round(median(headline.map(x => x.heapPeakBytes)) / MiB, 4),
    usPerAgentEpoch: round(median(headline.map(x => x.ms * 1000 / x.agents / x.epochs)), 4),
    jobsPerEpoch: round(median(headline.map(x => x.jobs / x.epochs)), 4),
    meanActiveAgents: round(median(headline.map(x => x.meanActive)), 4),
    scalingExponent: round(k, 4)
  }
  const units: Record<string, string> = {
    wallSeconds: `s, ${agents} agents x ${epochs} epochs`, peakRssMiB: 'MiB (child process max RSS)', heapHighWaterMiB: 'MiB (V8 heapUsed, sampled per epoch)',
    usPerAgentEpoch: 'us', jobsPerEpoch: 'jobs', meanActiveAgents: 'agents', scalingExponent: 'd log t / d log agents'
  }
  sizes.forEach((n, i) => { figures[`usPerAgentEpoch_${n}`] = round(usPerAgentEpoch[i], 4); units[`usPerAgentEpoch_${n}`] = `us, ${scaleEpochs} epochs` })
  const first = usPerAgentEpoch[0]
  const last = usPerAgentEpoch[usPerAgentEpoch.length - 1]
  // The baseline column shows the smallest size's cost next to the largest's.
  figures.usPerAgentEpochLargest = round(last, 4)
  units.usPerAgentEpochLargest = `us at ${sizes[sizes.length - 1]} agents (baseline: at ${sizes[0]})`
  return {
    figures,
    baseline: { usPerAgentEpochLargest: round(first, 4) },
    ratio: round(last / first, 4),
    reps,
    units,
    params: { agents, epochs, sizes: sizes.join(','), scaleEpochs, scenario, target: '<= 60 s' },
    detail: {
      headline,
      curve: Object.fromEntries([...curve].map(([n, xs]) => [n, xs])),
      meetsTarget: wall <= 60
    },
    tables: [{
      title: `scaling curve (${scaleEpochs} epochs each, medians of ${reps})`,
      rows: [['agents', 'seconds', 'us / agent-epoch', 'jobs / epoch', 'mean active', 'peak RSS MiB'], ...sizes.map(n => {
        const xs = curve.get(n)!
        return [String(n), fmt(median(xs.map(x => x.ms)) / 1000), fmt(perAE(xs)), fmt(median(xs.map(x => x.jobs / x.epochs))), fmt(median(xs.map(x => x.meanActive))), fmt(median(xs.map(x => x.maxRssKiB)) / 1024)]
      })]
    }],
    notes: [
      `target: ${agents} agents x ${epochs} epochs in <= 60 s; measured median ${wall.toFixed(1)} s (${wall <= 60 ? 'met' : 'MISSED'})`,
      `baseline = the scaling curve: usPerAgentEpochLargest is the time per agent-epoch at ${sizes[sizes.length - 1]} agents, its baseline the same at ${sizes[0]}; ratio = time per agent-epoch at ${sizes[sizes.length - 1]} / at ${sizes[0]} (1 = linear); scalingExponent fits all sizes`,
      'agents enter and leave by what they earn: the number active drifts from the starting number (mean reported); jobs per epoch grow with the requesters that stay',
      'each run is a fresh process: no warm-up across runs; JIT warm-up is inside the measured time'
    ]
  }
}
