// The soak's fault-free control: `openledger flywheel --json` (what `npm start` runs) on
// a fresh devnet, `reps` times, as test/flywheel.test.ts runs it: the wall time from
// spawning the command to its report, and each stage's own time from the report. The
// test prints the wall time but no longer bounds it (a busy machine must not fail a
// test; it once required < 360 s). No baseline: an absolute figure, reported with its
// spread (the README says about 2 minutes on 2 cores).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FlywheelReport } from '../../peer/devnet/flywheel-report.ts'
import { spawnCli } from '../../peer/devnet/peer-cli.ts'

export interface FlywheelRun {
  /** Spawn to report line, ms. */
  wallMs: number
  /** The report's own wall time and per-stage times, ms. */
  reportMs: number
  stages: Array<{ name: string, ms: number, ok: boolean }>
  ok: boolean
}

export async function timeFlywheel (opts: { reps: number, log: (m: string) => void }): Promise<FlywheelRun[]> {
  const runs: FlywheelRun[] = []
  for (let rep = 0; rep < opts.reps; rep++) {
    const dir = await mkdtemp(join(tmpdir(), 'openledger-flywheel-bench-'))
    try {
      const started = performance.now()
      const child = spawnCli(['flywheel', '--json', '--dir', join(dir, 'devnet')])
      let stdout = ''
      let stderr = ''
      child.stdout!.on('data', (d) => { stdout += d })
      child.stderr!.on('data', (d) => { stderr += d })
      let wallMs: number | undefined
      child.stdout!.on('data', () => { if (wallMs === undefined && stdout.includes('\n')) wallMs = performance.now() - started })
      const code = await new Promise<number | null>(resolve => child.once('exit', (c) => resolve(c)))
      if (wallMs === undefined || !stdout.includes('\n')) throw new Error(`the flywheel exited ${code} before its report:\n${stderr.slice(-2000)}`)
      const report = JSON.parse(stdout.split('\n')[0]) as FlywheelReport
      runs.push({ wallMs, reportMs: report.wallMs, stages: report.stages.map(s => ({ name: s.name, ms: s.ms, ok: s.ok })), ok: report.ok && code === 0 })
      opts.log(`flywheel ${rep + 1}/${opts.reps}: report after ${(wallMs / 1000).toFixed(1)} s (${report.ok ? 'ok' : 'NOT ok'}, exit ${code})`)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
  return runs
}
