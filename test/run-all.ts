// `npm test`: every test file, on a 2-core machine, in three phases, one after another.
//   1. Unit files (in-process, or with short-lived helpers: an anvil for the contract
//      tests, CLI calls, a child killed on purpose, mDNS in a network namespace; each
//      on its own temporary folder and free ports): one mocha run, in parallel,
//      `mocha --parallel --jobs 2` (one worker per core).
//   2. The SOLO devnet files, one after another, with the cores to themselves: those
//      that fail when another devnet shares the cores.
//   3. The other devnet files (peer processes, an anvil chain, a browser, the flywheel,
//      the soak): one mocha process per file, in LANES lanes (default 2) that each take
//      the next file from the list (longest first) when their file is done.
// The phases do not overlap: unit files beside a devnet, even at the lowest CPU
// priority, starved (a 1 s in-memory market test ran past its 30 s timeout).
// Output that runs beside other output is printed whole when its run ends, under a
// header with its time, so that two runs' lines never mix.
// Each mocha run prints its own report ("N passing", "N failing", each failure with its
// test and file); a last summary lists the runs that failed. Exit status 0 only if every
// run exited 0 and at least one test ran. Extra arguments go to every mocha run
// (`npm test -- --grep market`). OPENLEDGER_TEST_LANES=1 runs the devnet files one at a
// time. Spawned Node processes (mocha, peers, CLI calls) share a compile cache
// (NODE_COMPILE_CACHE, in node_modules/.cache unless set): a peer or a CLI call then
// starts on half the CPU.
import { spawn } from 'node:child_process'
import { globSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Files that start peer processes, an anvil chain or a browser, longest first (serial
 * seconds on 2 cores measured before the split; they decide the order only). A new file
 * of that kind must be listed here, or it runs with the unit files.
 */
const DEVNET: readonly string[] = [
  'test/market-devnet.test.ts', // 215 s: 3 devnets of 4-5 peers, kills and restarts
  'test/soak.test.ts', // 100 s: 7 peers, 3 epochs, the aggregator killed
  'test/flywheel.test.ts', // 90 s: the whole flywheel, 5 peers
  'test/market-adversaries.test.ts', // 86 s: 7 peers
  'test/market-disputes.test.ts', // 56 s: 6 peers
  'test/market-devices.test.ts', // 6 peers, two on webgpu (lavapipe)
  'test/dashboard.test.ts', // 52 s: 5 peers and Chromium
  'test/market-attribution.test.ts', // 50 s: 5 peers
  'test/market-forced-errors.test.ts', // 48 s: 5 peers
  'test/devnet.test.ts', // 37 s: devnets of 2-4 peers, SIGKILLs
  'test/model-factory.test.ts', // 33 s: 3 peers
  'test/market-inference.test.ts', // 26 s: 4 peers
  'test/datanet-swarm.test.ts', // 22 s: 4 peers
  'test/settlement-devnet.test.ts', // 22 s: 3 peers
  'test/attribute.test.ts', // 19 s: 2 peers
  'test/explain.test.ts', // 2 peers
  'test/sim-devnet.test.ts', // 13 s: 3 peers
  'test/bad-input.test.ts', // 2 peers, a plain libp2p node
  'test/datanet-bad-input.test.ts', // 1 peer, a plain Helia node
  'test/api.test.ts' // 1 peer
]

/**
 * Devnet files that must have the cores to themselves: a file that fails only when
 * another devnet runs beside it goes here, with why.
 */
const SOLO: readonly string[] = [
  // Submits 20 jobs four at a time with a 2.5 s bid window: with another devnet training
  // beside it, a peer's bids (each a few chain reads and a stream) came after the window
  // and a job went unassigned ("not enough eligible bids: 1 worker(s), 0 verifier(s)").
  'test/market-devnet-run.test.ts'
]

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..')
const MOCHA = createRequire(import.meta.url).resolve('mocha/bin/mocha.js')

interface RunResult { label: string, code: number | null, passing: number, failing: number, pending: number, ms: number, failures: string }

const children = new Set<ReturnType<typeof spawn>>()

function seconds (ms: number): string {
  const s = Math.round(ms / 1000)
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`
}

/**
 * One mocha process. With `live` its output goes through as it comes; otherwise it is
 * kept and printed whole at the end. Its summary lines ("N passing") are counted.
 */
async function mocha (label: string, files: string[], args: string[], live: boolean): Promise<RunResult> {
  const started = performance.now()
  if (live) console.log(`\n== ${label}`)
  else console.log(`== started: ${label}`)
  const color = process.stdout.isTTY ? ['--color'] : []
  const child = spawn(process.execPath, [MOCHA, ...color, ...args, ...files], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  const kept: Array<[NodeJS.WriteStream, Buffer]> = []
  let text = ''
  const out = (stream: NodeJS.WriteStream) => (d: Buffer): void => {
    if (stream === process.stdout) text += d.toString()
    if (live) stream.write(d)
    else kept.push([stream, d])
  }
  child.stdout!.on('data', out(process.stdout))
  child.stderr!.on('data', out(process.stderr))
  const code = await new Promise<number | null>(resolve => child.once('close', (c, signal) => resolve(c ?? (signal != null ? 128 : null))))
  children.delete(child)
  const counts = { passing: 0, failing: 0, pending: 0 }
  // eslint-disable-next-line no-control-regex
  const plain = text.replace(/\x1b\[[0-9;]*m/g, '')
  for (const line of plain.split('\n')) {
    const m = /^\s+(\d+) (passing|failing|pending)\b/.exec(line)
    if (m !== null) counts[m[2] as keyof typeof counts] = Number(m[1])
  }
  // Mocha's failure details follow its "N failing" line; kept so the run's last lines
  // (all a CI log may keep) say what failed, not only where.
  const at = plain.search(/^\s+\d+ failing\b/m)
  const failures = at < 0 ? (code === 0 ? '' : plain.slice(-3000)) : plain.slice(at, at + 6000)
  const r = { label, code, ...counts, ms: performance.now() - started, failures }
  if (!live) {
    console.log(`\n== ${label}`)
    for (const [stream, d] of kept) stream.write(d)
  }
  console.log(`== ${label}: ${r.passing} passing, ${r.failing} failing, ${r.pending} pending, exit ${code} (${seconds(r.ms)})`)
  return r
}

/** Runs `files` one mocha process each, `lanes` at a time, in list order. */
async function inLanes (files: readonly string[], lanes: number, args: string[], count: () => string, live = lanes === 1): Promise<RunResult[]> {
  const queue = [...files]
  const results: RunResult[] = []
  const lane = async (): Promise<void> => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      results.push(await mocha(`${count()} ${file}`, [file], args, live))
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, lanes) }, lane))
  return results
}

async function main (args: string[]): Promise<number> {
  const started = performance.now()
  const all = globSync('test/**/*.test.ts', { cwd: REPO }).map(f => f.split('\\').join('/')).sort()
  const missing = [...DEVNET, ...SOLO].filter(f => !all.includes(f))
  if (missing.length > 0) {
    console.error(`test/run-all.ts lists files that do not exist: ${missing.join(', ')}`)
    return 1
  }
  const unit = all.filter(f => !DEVNET.includes(f) && !SOLO.includes(f))
  const lanes = Number(process.env.OPENLEDGER_TEST_LANES ?? 2)
  if (!Number.isInteger(lanes) || lanes < 1) {
    console.error(`OPENLEDGER_TEST_LANES must be a whole number >= 1, not ${process.env.OPENLEDGER_TEST_LANES}`)
    return 1
  }
  process.env.NODE_COMPILE_CACHE ??= join(REPO, 'node_modules', '.cache', 'node-compile-cache')
  const heavy = DEVNET.length + SOLO.length
  console.log(`npm test: ${unit.length} unit files in parallel (mocha --parallel --jobs 2); then ${SOLO.length} devnet file(s) alone; then ${DEVNET.length} devnet files ${lanes} at a time, one mocha process each`)

  let n = 0
  const count = (): string => `devnet file ${++n}/${heavy}:`
  const results: RunResult[] = [await mocha(`unit files, in parallel: ${unit.length} files`, unit, ['--parallel', '--jobs', '2', ...args], true)]
  results.push(...await inLanes(SOLO, 1, args, count))
  results.push(...await inLanes(DEVNET, lanes, args, count))

  const total = results.reduce((t, r) => ({ passing: t.passing + r.passing, failing: t.failing + r.failing, pending: t.pending + r.pending }), { passing: 0, failing: 0, pending: 0 })
  const bad = results.filter(r => r.code !== 0)
  console.log(`\n== npm test: ${results.length} mocha runs, ${total.passing} passing, ${total.failing} failing, ${total.pending} pending (${seconds(performance.now() - started)})`)
  console.log(`== slowest: ${[...results].sort((a, b) => b.ms - a.ms).slice(0, 6).map(r => `${r.label.replace(/^.*: /, '')} ${seconds(r.ms)}`).join(', ')}`)
  for (const r of bad) console.log(`\n== FAILED: ${r.label} (exit ${r.code}, ${r.failing} failing)\n${r.failures}`)
  for (const r of bad) console.log(`== FAILED: ${r.label} (exit ${r.code}, ${r.failing} failing)`)
  if (total.passing + total.failing === 0) {
    console.log('== FAILED: no test ran')
    return 1
  }
  return bad.length > 0 ? 1 : 0
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const c of children) c.kill(signal)
    process.exit(130)
  })
}

process.exitCode = await main(process.argv.slice(2))
