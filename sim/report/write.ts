// Writes a run's outputs into a directory: the time series and the agents as CSV, the
// charts as SVG, a summary as JSON and the one-page HTML report that embeds the charts.
// A sweep writes one such directory per value, and a sweep table, chart and report above them.
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { SimResult } from '../engine.ts'
import { outcomes, type Outcomes, type SweepRun } from '../outcomes.ts'
import { AGENT_KINDS } from '../scenario.ts'
import { charts } from './charts.ts'
import { toCsv, type CsvRow } from './csv.ts'
import { reportHtml } from './html.ts'
import { esc, lineChart } from './svg.ts'

export const RUN_FILES = ['series.csv', 'agents.csv', 'kinds.csv', 'summary.json', 'report.html'] as const

function agentRows (r: SimResult): CsvRow[] {
  const pop = r.population
  const rows: CsvRow[] = []
  for (let i = 0; i < pop.size; i++) {
    if (pop.joined[i] < 0) continue
    rows.push({
      agent: i,
      address: pop.addresses[i],
      kind: AGENT_KINDS[pop.kind[i]],
      group: pop.group[i],
      joined: pop.joined[i],
      left: pop.left[i],
      stake: pop.stake[i],
      earned: pop.earned[i],
      spent: pop.spent[i],
      slashed: pop.slashed[i],
      profit: AGENT_KINDS[pop.kind[i]] === 'requester' ? pop.value[i] - pop.spent[i] : pop.earned[i] - pop.spent[i] - pop.slashed[i],
      cheat_gain: pop.cheatGain[i],
      expected_cheat_gain: pop.expectedGain[i],
      jobs: pop.jobs[i],
      cheats: pop.cheats[i],
      caught: pop.caught[i],
      reputation: pop.repEpoch[i] >= 0 ? pop.repScore[i] : 0.5
    })
  }
  return rows
}

/** Writes one run into `dir`; returns the files written (names relative to dir). */
export async function writeRun (r: SimResult, dir: string): Promise<{ files: string[], outcomes: Outcomes }> {
  await mkdir(dir, { recursive: true })
  const o = outcomes(r)
  const svgs = charts(r)
  const files = [...RUN_FILES.slice(0, 4), ...Object.keys(svgs), 'report.html']
  await writeFile(join(dir, 'series.csv'), toCsv(r.series))
  await writeFile(join(dir, 'agents.csv'), toCsv(agentRows(r)))
  await writeFile(join(dir, 'kinds.csv'), toCsv(r.kinds.map(k => ({ ...k }))))
  await writeFile(join(dir, 'summary.json'), JSON.stringify({ scenario: r.scenario, rates: r.rates, totals: r.totals, outcomes: o, kinds: r.kinds }, null, 2) + '\n')
  for (const [name, svg] of Object.entries(svgs)) await writeFile(join(dir, name), svg)
  await writeFile(join(dir, 'report.html'), reportHtml(r, o, svgs, files))
  return { files, outcomes: o }
}

/** One row per swept value: the value and the headline outcomes. */
export function sweepRows (runs: readonly SweepRun[]): CsvRow[] {
  return runs.map(x => ({
    [x.param]: x.value,
    worker_cheat_gain: x.outcomes.workerCheatGain,
    worker_expected_gain: x.outcomes.workerExpectedGain,
    lazy_verifier_gain: x.outcomes.cheatGain['lazy-verifier'],
    detection_rate: x.outcomes.detectionRate,
    gini: x.outcomes.gini,
    spam_share: x.outcomes.spamShare,
    contributors_end: x.outcomes.active.end.contributor,
    requesters_end: x.outcomes.active.end.requester,
    fees: x.outcomes.fees,
    requester_value: x.outcomes.requesterValue,
    break_even: x.outcomes.breakEven
  }))
}

/** The sweep's table, chart and report in `dir` (each run already written to its own subdirectory). */
export async function writeSweep (runs: readonly SweepRun[], dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true })
  const rows = sweepRows(runs)
  const param = runs[0].param
  const xs = runs.map(x => x.value)
  const svg = lineChart({
    title: `Sweep of ${param}`,
    subtitle: `cheating workers' gain over honest work (OPEN), realised and as the policy expects it${/audit/i.test(param) ? `; break-even ${runs[0].outcomes.breakEven.toFixed(3)}` : ''}`,
    yLabel: 'OPEN',
    xLabel: param,
    x: xs,
    lines: [
      { name: 'realised', values: runs.map(x => x.outcomes.workerCheatGain), color: '#c0392b' },
      { name: 'expected (policy)', values: runs.map(x => x.outcomes.workerExpectedGain), color: '#e67e22' },
      { name: 'lazy verifiers', values: runs.map(x => x.outcomes.cheatGain['lazy-verifier']), color: '#8e44ad' }
    ]
  })
  const svg2 = lineChart({
    title: `Sweep of ${param}: the network`,
    subtitle: 'detection rate, earnings Gini and spam\'s share of contributor pay at the end of each run',
    yLabel: 'share',
    xLabel: param,
    x: xs,
    lines: [
      { name: 'detection rate', values: runs.map(x => x.outcomes.detectionRate) },
      { name: 'Gini', values: runs.map(x => x.outcomes.gini) },
      { name: 'spam share', values: runs.map(x => x.outcomes.spamShare) }
    ]
  })
  await writeFile(join(dir, 'sweep.csv'), toCsv(rows))
  await writeFile(join(dir, 'sweep.svg'), svg)
  await writeFile(join(dir, 'sweep-network.svg'), svg2)
  const cols = Object.keys(rows[0])
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>openledger sim sweep: ${esc(param)}</title>
<style>body{font-family:sans-serif;max-width:880px;margin:24px auto;color:#222}table{border-collapse:collapse;font-size:12px}td,th{padding:3px 6px;border-bottom:1px solid #eee;text-align:right}th:first-child,td:first-child{text-align:left}</style></head>
<body><h1>Sweep: ${esc(runs[0].scenario)} over ${esc(param)}</h1>
<p>${runs.length} runs, ${esc(param)} from ${xs[0]} to ${xs[xs.length - 1]}. Each run's own report is in its directory.</p>
<figure>${svg}</figure><figure>${svg2}</figure>
<table><thead><tr>${cols.map(c => `<th>${esc(c)}</th>`).join('')}<th>report</th></tr></thead><tbody>
${rows.map((r, i) => `<tr>${cols.map(c => `<td>${typeof r[c] === 'number' ? (r[c] as number).toFixed(3) : esc(String(r[c]))}</td>`).join('')}<td><a href="${esc(runs[i].dir)}/report.html">${esc(runs[i].dir)}</a></td></tr>`).join('\n')}
</tbody></table></body></html>
`
  await writeFile(join(dir, 'report.html'), html)
  return ['sweep.csv', 'sweep.svg', 'sweep-network.svg', 'report.html']
}
