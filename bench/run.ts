// The bench harness: `npm run bench -- NAME [--json] [bench flags]`.
// Prints a readable table of the result; with --json the LAST stdout line is one JSON
// object { bench, date, machine, figures, baseline, ratio, reps, ... }. Progress and
// diagnostics go to stderr. Exit codes: 0 ok, 1 the bench failed, 2 usage.
import os from 'node:os'
import { BenchUsageError } from './lib/bench.ts'
import { DEFAULT_LIBS, machineInfo } from './lib/machine.ts'
import { benchNames, loadBench } from './lib/registry.ts'
import { formatReport, toReport } from './lib/report.ts'
import { round } from './lib/stats.ts'

async function usage (): Promise<string> {
  const lines = ['usage: npm run bench -- NAME [--json] [bench flags]', '', 'benches:']
  for (const name of await benchNames()) {
    const b = await loadBench(name)
    lines.push(`  ${name.padEnd(12)} ${b.description}`)
    for (const f of b.flags ?? []) lines.push(`  ${''.padEnd(12)}   ${f}`)
  }
  return lines.join('\n')
}

async function main (argv: string[]): Promise<number> {
  const json = argv.includes('--json')
  const rest = argv.filter(a => a !== '--json')
  const name = rest[0]
  if (name == null || name === '--help' || name === '-h') {
    console.log(await usage())
    return 0
  }
  if (!(await benchNames()).includes(name)) {
    console.error(`unknown bench "${name}"\n`)
    console.error(await usage())
    return 2
  }
  const bench = await loadBench(name)
  const loadBefore = round(os.loadavg()[0], 3)
  let result
  try {
    result = await bench.run(rest.slice(1))
  } catch (err) {
    if (err instanceof BenchUsageError) {
      console.error(`${name}: ${err.message}`)
      if (bench.flags != null) console.error(`flags:\n${bench.flags.map(f => `  ${f}`).join('\n')}`)
      return 2
    }
    throw err
  }
  const load = { before: loadBefore, after: round(os.loadavg()[0], 3) }
  const report = toReport(name, machineInfo([...DEFAULT_LIBS, ...(result.libs ?? [])]), result, load)
  console.log(formatReport(report, bench.description, result.tables))
  if (json) console.log(JSON.stringify(report))
  return 0
}

main(process.argv.slice(2)).then(code => {
  process.exitCode = code
  // A bench must not leave handles behind; if one did, say so rather than hang.
  setTimeout(() => {
    console.error('bench: the process did not exit 10 s after the bench finished (open handles); forcing exit')
    process.exit(process.exitCode ?? 1)
  }, 10_000).unref()
}, err => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err)
  process.exitCode = 1
})
