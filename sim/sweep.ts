// A parameter sweep: the same scenario and seed run once per value of one parameter, so
// the runs differ only by that value (every subsystem draws from its own seeded stream).
// This is the question a gOPEN vote asks: what does this value do to the network?
import { join } from 'node:path'
import { runSimulation, type RunOptions } from './engine.ts'
import { outcomes, type SweepRun } from './outcomes.ts'
import { writeRun } from './report/write.ts'
import { isIntegerParam, setParam, sweepValues, type Scenario, type SweepSpec } from './scenario.ts'

export type { SweepRun } from './outcomes.ts'

export interface SweepOptions extends RunOptions {
  /** Write each run's report into out/<param>=<value>/. */
  out?: string
  onRun?: (index: number, total: number, value: number) => void
}

export async function runSweep (s: Scenario, spec: SweepSpec, opts: SweepOptions = {}): Promise<SweepRun[]> {
  const values = sweepValues(spec).map(v => isIntegerParam(spec.param) ? Math.round(v) : Number(v.toPrecision(6)))
  const runs: SweepRun[] = []
  for (const [i, value] of values.entries()) {
    opts.onRun?.(i, values.length, value)
    const scenario = setParam(s, spec.param, value)
    const result = runSimulation(scenario, opts)
    const dir = `${spec.param}=${value}`
    const o = opts.out !== undefined ? (await writeRun(result, join(opts.out, dir))).outcomes : outcomes(result)
    runs.push({ param: spec.param, value, scenario: s.name, dir, outcomes: o })
  }
  return runs
}
