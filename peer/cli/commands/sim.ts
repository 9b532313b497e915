// openledger sim: run an incentive scenario through the simulator (sim/), which calls the
// same policy functions the live network pays by, and write its CSV series, SVG charts
// and one-page HTML report. No node, no chain: it runs anywhere the code is.
import { resolve, join } from 'node:path'
import type { Command } from 'commander'
import { UsageError } from '../../errors.ts'
import { intOption } from '../options.ts'
import { printJson } from '../output.ts'
import { progressBar } from '../progress.ts'
import { runSimulation } from '../../../sim/engine.ts'
import { SimError } from '../../../sim/errors.ts'
import { findings } from '../../../sim/report/html.ts'
import { writeRun, writeSweep } from '../../../sim/report/write.ts'
import { loadScenario, parseSweep, scaleAgents, setParam, shippedScenarios, type Scenario } from '../../../sim/scenario.ts'
import { runSweep } from '../../../sim/sweep.ts'

interface SimOpts { epochs?: number, seed?: number, sweep?: string, steps?: number, out?: string, set: string[], agents?: number, json?: boolean }

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

/** PARAM=VALUE: numbers as numbers, true/false as booleans, anything else as text ('auto'). */
function assignment (text: string): [string, unknown] {
  const i = text.indexOf('=')
  if (i <= 0) throw new UsageError(`--set must look like PARAM=VALUE, got "${text}"`)
  const raw = text.slice(i + 1)
  const value = raw === 'true' ? true : raw === 'false' ? false : raw.trim() !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw
  return [text.slice(0, i), value]
}

async function scenarioFrom (name: string, opts: SimOpts): Promise<Scenario> {
  let s = await loadScenario(name)
  if (opts.agents !== undefined) s = scaleAgents(s, opts.agents)
  for (const x of opts.set) s = setParam(s, ...assignment(x))
  if (opts.epochs !== undefined) s = setParam(s, 'epochs', opts.epochs)
  if (opts.seed !== undefined) s = setParam(s, 'seed', opts.seed)
  return s
}

export function simCommand (program: Command): void {
  program.command('sim [scenario]')
    .description('incentive simulator: run a scenario (sim/scenarios/NAME or a JSON file) through the live network\'s policies; writes CSV series, SVG charts and an HTML report')
    .option('--epochs <n>', 'epochs to run (default: the scenario\'s)', intOption('--epochs', 1, 1_000_000))
    .option('--seed <s>', 'random seed (default: the scenario\'s)', intOption('--seed', 0, 2 ** 31 - 1))
    .option('--sweep <param=a..b>', 'run once per value of a parameter, e.g. auditRate=0.02..0.3 (or PARAM=a..b:steps)')
    .option('--steps <n>', 'values in a sweep (default 5)', intOption('--steps', 2, 100))
    .option('--set <param=value>', 'override a parameter, e.g. --set fitGate=false (repeatable)', collect, [])
    .option('--agents <n>', 'scale the scenario\'s agent mix to this many agents', intOption('--agents', 10, 10_000_000))
    .option('--out <dir>', 'output directory (default ./sim-out/SCENARIO)')
    .option('--json', 'print one JSON object')
    .action(async (name: string | undefined, opts: SimOpts) => {
      if (name === undefined) {
        const lines = ['scenarios:']
        for (const n of await shippedScenarios()) lines.push(`  ${n.padEnd(14)} ${(await loadScenario(n)).description.split('. ')[0]}`)
        console.log(lines.join('\n'))
        return
      }
      try {
        await run(name, opts)
      } catch (err) {
        if (err instanceof SimError) throw new UsageError(`${err.message}${Object.keys(err.details).length > 0 ? ` (${JSON.stringify(err.details)})` : ''}`, err.details)
        throw err
      }
    })
}

async function run (name: string, opts: SimOpts): Promise<void> {
  const s = await scenarioFrom(name, opts)
  const out = resolve(opts.out ?? join('sim-out', s.name))
  const spec = opts.sweep !== undefined ? parseSweep(opts.sweep, opts.steps) : s.sweep !== undefined && opts.steps !== undefined ? { ...s.sweep, steps: opts.steps } : s.sweep
  if (spec !== undefined) {
    let bar = progressBar('sim', 'items')
    const runs = await runSweep(s, spec, {
      out,
      onRun: (i, total, value) => { bar.done(); bar = progressBar(`sim ${s.name} ${i + 1}/${total} ${spec.param}=${value}`, 'items') },
      onEpoch: (e, row) => bar.update(e, s.epochs, `jobs ${row.jobs_posted} cheats ${row.cheats}`)
    })
    bar.done()
    const files = await writeSweep(runs, out)
    if (opts.json === true) { printJson({ out, sweep: spec, files, runs: runs.map(r => ({ value: r.value, dir: r.dir, outcomes: r.outcomes })) }); return }
    console.log(`sweep of ${spec.param} over ${runs.length} values: ${runs.map(r => `${r.value} -> cheat gain ${r.outcomes.workerCheatGain.toFixed(1)}`).join(', ')}`)
    console.log(`report: ${join(out, 'report.html')}`)
    return
  }
  const bar = progressBar(`sim ${s.name}`, 'items')
  const result = runSimulation(s, { onEpoch: (e, row) => bar.update(e, s.epochs, `agents ${row.active} jobs ${row.jobs_posted} cheats ${row.cheats}`) })
  bar.done()
  const { files, outcomes } = await writeRun(result, out)
  if (opts.json === true) { printJson({ out, files, rates: result.rates, outcomes, seconds: result.ms / 1000 }); return }
  console.log(findings(result, outcomes).join('\n'))
  console.log(`\n${files.length} files in ${out}\nreport: ${join(out, 'report.html')}`)
}
