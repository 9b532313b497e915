// `openledger sim` as a user runs it: a shipped scenario writes CSV series, SVG charts and
// a self-contained HTML report; the same run again writes byte-identical CSV; a sweep
// writes its table and one report per value; bad input is a usage error (exit 2).
import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from './helpers/cli.ts'

function checkCsv (text: string, rows: number): string[] {
  const lines = text.trimEnd().split('\n')
  assert.equal(lines.length, rows + 1, 'a header and one line per row')
  const cols = lines[0].split(',')
  for (const l of lines) assert.equal(l.split(',').length, cols.length, `every line has ${cols.length} cells`)
  for (const l of lines.slice(1)) for (const c of l.split(',')) assert.ok(Number.isFinite(Number(c)), `numeric cell "${c}"`)
  return cols
}

function checkSvg (text: string): void {
  assert.match(text, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="\d+"/)
  assert.match(text.trimEnd(), /<\/svg>$/)
  assert.equal((text.match(/<svg/g) ?? []).length, 1)
  assert.doesNotMatch(text, /NaN|undefined|Infinity/)
}

describe('openledger sim', function () {
  this.timeout(60_000)
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'openledger-sim-cli-')) })
  after(async () => { if (process.env.KEEP == null) await rm(dir, { recursive: true, force: true }) })

  it('runs a shipped scenario and writes CSV, SVG and a self-contained HTML report', async function () {
    const out = join(dir, 'baseline')
    const r = await runCli(['sim', 'baseline', '--epochs', '20', '--seed', '5', '--out', out])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /sim baseline .*100%/, 'progress on stderr')
    assert.match(r.stdout, /report: .*report\.html/)
    const files = await readdir(out)
    for (const f of ['series.csv', 'agents.csv', 'kinds.csv', 'summary.json', 'report.html', 'earnings.svg', 'gini.svg', 'cheaters.svg', 'detection.svg', 'contributors.svg', 'flows.svg']) assert.ok(files.includes(f), f)
    const cols = checkCsv(await readFile(join(out, 'series.csv'), 'utf8'), 20)
    for (const c of ['epoch', 'gini', 'detection_rate', 'cheat_gain_lazy-worker', 'active_contributor', 'to_workers', 'to_treasury', 'slashed']) assert.ok(cols.includes(c), c)
    const svgs = files.filter(f => f.endsWith('.svg'))
    for (const f of svgs) checkSvg(await readFile(join(out, f), 'utf8'))
    const html = await readFile(join(out, 'report.html'), 'utf8')
    assert.match(html, /^<!doctype html>/)
    assert.match(html.trimEnd(), /<\/html>$/)
    assert.equal((html.match(/<svg /g) ?? []).length, svgs.length, 'every chart embedded')
    assert.doesNotMatch(html, /<script|<link|src=|url\(/, 'nothing outside the file')
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'))
    assert.equal(summary.scenario.epochs, 20)
    assert.equal(summary.scenario.seed, 5)

    // Same scenario and seed: byte-identical CSV.
    const again = join(dir, 'again')
    assert.equal((await runCli(['sim', 'baseline', '--epochs', '20', '--seed', '5', '--out', again])).code, 0)
    for (const f of ['series.csv', 'agents.csv', 'kinds.csv']) {
      assert.equal(await readFile(join(again, f), 'utf8'), await readFile(join(out, f), 'utf8'), f)
    }
  })

  it('sweeps a parameter: a table, a chart and a report per value', async function () {
    const out = join(dir, 'sweep')
    const r = await runCli(['sim', 'free-riders', '--epochs', '10', '--sweep', 'auditRate=0.05..0.25', '--steps', '3', '--out', out, '--json'])
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!)
    assert.deepEqual(j.runs.map((x: any) => x.value), [0.05, 0.15, 0.25])
    const cols = checkCsv(await readFile(join(out, 'sweep.csv'), 'utf8'), 3)
    assert.equal(cols[0], 'auditRate')
    checkSvg(await readFile(join(out, 'sweep.svg'), 'utf8'))
    for (const v of ['0.05', '0.15', '0.25']) {
      const files = await readdir(join(out, `auditRate=${v}`))
      assert.ok(files.includes('report.html') && files.includes('series.csv'))
    }
    assert.match(await readFile(join(out, 'report.html'), 'utf8'), /auditRate=0\.15\/report\.html/)
  })

  it('lists the scenarios without one, and refuses bad input with exit 2', async function () {
    const list = await runCli(['sim'])
    assert.equal(list.code, 0)
    for (const n of ['baseline', 'free-riders', 'data-spam', 'collusion', 'sweep-audit']) assert.match(list.stdout, new RegExp(n))
    for (const args of [['sim', 'no-such'], ['sim', 'baseline', '--epochs', '0'], ['sim', 'baseline', '--sweep', 'auditRate'], ['sim', 'baseline', '--set', 'nope=1']]) {
      const r = await runCli([...args, '--out', join(dir, 'bad')])
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    }
  })
})
