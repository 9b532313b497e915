// The one-page HTML report: what was run, what the policies set, what came out, and the
// charts inline, so the single file opens in any browser with nothing beside it.
import type { KindSummary, SimResult } from '../engine.ts'
import type { Outcomes } from '../outcomes.ts'
import { esc } from './svg.ts'

const n = (x: number, d = 2): string => Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : String(x)

function table (head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map(h => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map(r => `<tr>${r.map((c, i) => `<td${i > 0 ? ' class="num"' : ''}>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`
}

const STYLE = `body{font-family:sans-serif;max-width:880px;margin:24px auto;color:#222;line-height:1.4}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#666}figure{margin:16px 0}
ul.findings li{margin:4px 0}.good{color:#2e8b57}.bad{color:#c0392b}`

/** Plain-language findings, each with the number it rests on. */
export function findings (r: SimResult, o: Outcomes): string[] {
  const out: string[] = []
  const rate = r.rates
  if (o.cheats > 0) {
    out.push(`Audit rate ${n(rate.auditRate, 3)} against a break-even of ${n(rate.audit.breakEven, 3)} for the worst job (policy: ${rate.audit.deterred ? 'deters' : 'cannot deter'} at margin ${r.scenario.params.auditMargin}): cheating workers ${o.workerCheatGain > 0 ? 'profited' : 'lost'} ${n(Math.abs(o.workerCheatGain))} OPEN over honest work (expected by the policy's model: ${n(o.workerExpectedGain)}).`)
    out.push(`${o.caught} of ${o.cheats} cheating jobs were caught (${n(o.detectionRate * 100, 1)} %).`)
  } else {
    out.push('No worker cheated.')
  }
  if (o.collusionCheats > 0) out.push(`Colluding groups cheated ${o.collusionCheats} times and were caught ${o.collusionCaught} times; their gain over honest work: ${n(o.cheatGain['colluder-worker'])} OPEN.`)
  if (o.lazyApprovalsCaught > 0 || r.kinds.find(k => k.kind === 'lazy-verifier')!.everActive > 0) out.push(`Forced errors at rate ${n(rate.forcedErrorRate, 3)} caught ${o.lazyApprovalsCaught} lazy approvals; lazy verifiers' gain over honest checking: ${n(o.cheatGain['lazy-verifier'])} OPEN.`)
  const paid = o.contributorEarnings.good + o.contributorEarnings.spam + o.contributorEarnings.sybil
  if (paid > 0) out.push(`Contributors were paid ${n(paid)} OPEN: spam (duplicates, low quality, adversarial) got ${n(o.spamShare * 100, 2)} %; per identity, good ${n(o.perIdentity.good)}, spam ${n(o.perIdentity.spam)}, Sybil ${n(o.perIdentity.sybil)} OPEN.`)
  out.push(`Earnings Gini at the end: ${n(o.gini, 3)}. Requesters paid ${n(o.fees)} OPEN in fees for ${n(o.requesterValue)} OPEN of value.`)
  return out
}

function kindRows (kinds: readonly KindSummary[]): string[][] {
  return kinds.filter(k => k.everActive > 0).map(k => [
    k.kind, String(k.initial), String(k.activeAtEnd), String(k.entered), String(k.left),
    n(k.earned, 0), n(k.profit, 0), k.cheats > 0 || k.cheatGain !== 0 ? n(k.cheatGain, 0) : '-', String(k.jobs), k.cheats > 0 ? `${k.caught}/${k.cheats}` : '-'
  ])
}

export function reportHtml (r: SimResult, o: Outcomes, svgs: Record<string, string>, files: readonly string[]): string {
  const s = r.scenario
  const p = s.params
  const params: string[][] = [
    ['epochs, seed', `${s.epochs}, ${s.seed}`],
    ['agents at start / slots', `${r.kinds.reduce((a, k) => a + k.initial, 0)} / ${r.population.size}`],
    ['fee split (worker / verifiers / contributors / treasury, bp)', `${p.feeSplit.worker} / ${p.feeSplit.verifiers} / ${p.feeSplit.contributors} / ${p.feeSplit.treasury}`],
    ['audit rate', `${n(r.rates.auditRate, 4)}${p.auditRate === 'auto' ? ' (auditProbability)' : ' (set)'}; break-even ${n(r.rates.audit.breakEven, 4)}, policy p ${n(r.rates.audit.p, 4)}`],
    ['forced-error rate', `${n(r.rates.forcedErrorRate, 4)}${p.forcedErrorRate === 'auto' ? ' (forcedErrorRate)' : ' (set)'}`],
    ['worst job (cost saved / reward / slash, OPEN)', `${n(r.rates.worstJob.costSaved)} / ${n(r.rates.worstJob.reward)} / ${n(r.rates.worstJob.stake)}`],
    ['slash amount / min stake / prover share', `${p.slashAmount} / ${p.minStake} OPEN / ${p.proverShareBps} bp`],
    ['verifier detection / audit detection', `${p.verifierDetection} / ${p.auditDetection}`],
    ['fit gate', p.fitGate ? `on, margin ${p.fitMargin}` : 'off'],
    ['datanets', String(r.population.datanets)],
    ['run time', `${n(r.ms / 1000, 1)} s`]
  ]
  const order = ['earnings.svg', 'gini.svg', 'cheaters.svg', 'detection.svg', 'contributors.svg', 'participants.svg', 'flows.svg']
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>openledger sim: ${esc(s.name)}</title><style>${STYLE}</style></head>
<body>
<h1>Simulation: ${esc(s.name)}</h1>
<p class="muted">${esc(s.description)}</p>
<h2>Findings</h2>
<ul class="findings">${findings(r, o).map(f => `<li>${esc(f)}</li>`).join('')}</ul>
<h2>Parameters</h2>
${table(['parameter', 'value'], params)}
<h2>Agents</h2>
${table(['kind', 'start', 'end', 'entered', 'left', 'earned', 'profit', 'cheat gain', 'jobs', 'caught'], kindRows(r.kinds))}
<p class="muted">OPEN over the whole run. Profit = earned - spent - slashed (requesters: value received - fees). Cheat gain = what cheating made over doing the work honestly (audit.ts's model, realised).</p>
<h2>Charts</h2>
${order.filter(f => svgs[f] !== undefined).map(f => `<figure>${svgs[f].replace(/^<svg /, '<svg role="img" ')}</figure>`).join('\n')}
<h2>Files</h2>
<ul>${files.map(f => `<li>${esc(f)}</li>`).join('')}</ul>
<p class="muted">Every payout, slash, audit and forced-error rate, reputation score and assignment above was decided by the live network's policy functions (settlement/policy, settlement/epoch/ledger.ts).</p>
</body></html>
`
}
