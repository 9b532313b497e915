// The report's charts from one run: the earnings distribution and its Gini, the
// cheaters' cumulative gain, the detection rate, who takes part over time, and where the
// tokens go. Each is an SVG string, keyed by its file name.
import type { SimResult } from '../engine.ts'
import { isContributorKind, isVerifierKind, isWorkerKind, KIND } from '../population.ts'
import { barChart, lineChart } from './svg.ts'

const col = (r: SimResult, key: string): number[] => r.series.map(row => row[key] ?? 0)

function cumulative (xs: readonly number[]): number[] {
  let s = 0
  return xs.map(x => (s += x))
}

const BINS = [-Infinity, 0, 1e-9, 1, 10, 100, 1000, 10000, Infinity]
const BIN_LABELS = ['< 0', '0', '0 - 1', '1 - 10', '10 - 100', '100 - 1k', '1k - 10k', '> 10k']

/** Net profit of every agent that took part, binned, in four groups. */
function distribution (r: SimResult): string {
  const pop = r.population
  const groups = [
    { name: 'honest workers + verifiers', values: new Array<number>(BIN_LABELS.length).fill(0), color: '#2e8b57' },
    { name: 'cheating workers + verifiers', values: new Array<number>(BIN_LABELS.length).fill(0), color: '#c0392b' },
    { name: 'good contributors', values: new Array<number>(BIN_LABELS.length).fill(0), color: '#2c6fbb' },
    { name: 'spam + Sybil contributors', values: new Array<number>(BIN_LABELS.length).fill(0), color: '#e67e22' }
  ]
  for (let i = 0; i < pop.size; i++) {
    if (pop.joined[i] < 0) continue
    const k = pop.kind[i]
    let g: number
    if (k === KIND.worker || k === KIND.verifier) g = 0
    else if (isWorkerKind(k) || isVerifierKind(k)) g = 1
    else if (k === KIND.contributor) g = 2
    else if (isContributorKind(k)) g = 3
    else continue
    const profit = pop.earned[i] - pop.spent[i] - pop.slashed[i]
    let b = 0
    while (b < BIN_LABELS.length - 1 && !(profit < BINS[b + 1])) b++ // bins [BINS[b], BINS[b + 1]); exactly 0 lands in '0'
    groups[g].values[b]++
  }
  const last = r.series[r.series.length - 1]
  return barChart({
    title: 'Earnings distribution',
    subtitle: `net profit per agent over the run (earned - spent - slashed), OPEN; Gini of earnings at the end ${(last?.gini ?? 0).toFixed(3)}`,
    yLabel: 'agents',
    bins: BIN_LABELS,
    groups
  })
}

export function charts (r: SimResult): Record<string, string> {
  const cheatLines = (['lazy-worker', 'malicious-worker', 'colluder-worker', 'lazy-verifier'] as const)
    .filter(k => r.kinds.find(x => x.kind === k)!.everActive > 0)
    .map(k => ({ name: k, values: col(r, `cheat_gain_${k}`) }))
  const cheats = cumulative(col(r, 'cheats'))
  const caught = cumulative(col(r, 'cheats_caught'))
  const contributorKinds = ['contributor', 'duplicator', 'low-quality', 'adversarial', 'sybil'] as const
  const participantKinds = ['worker', 'lazy-worker', 'malicious-worker', 'colluder-worker', 'verifier', 'lazy-verifier', 'colluder-verifier', 'requester'] as const
  const present = (k: string): boolean => (r.kinds.find(x => x.kind === k)?.everActive ?? 0) > 0
  return {
    'earnings.svg': distribution(r),
    'gini.svg': lineChart({
      title: 'Inequality of earnings',
      subtitle: 'Gini coefficient of cumulative earnings among active agents (requesters left out)',
      yLabel: 'Gini',
      lines: [{ name: 'Gini', values: col(r, 'gini') }]
    }),
    'cheaters.svg': lineChart({
      title: 'Cheaters\' profit',
      subtitle: `cumulative gain of cheating over honest work, OPEN (audit rate ${r.rates.auditRate.toFixed(3)}, break-even ${r.rates.audit.breakEven.toFixed(3)})`,
      yLabel: 'OPEN',
      lines: cheatLines.length > 0 ? cheatLines : [{ name: 'no cheaters', values: col(r, 'cheats') }]
    }),
    'detection.svg': lineChart({
      title: 'Detection rate',
      subtitle: 'share of cheating jobs caught (slashed): per epoch and cumulative',
      yLabel: 'caught / cheats',
      lines: [
        { name: 'per epoch', values: col(r, 'detection_rate'), color: '#bbb' },
        { name: 'cumulative', values: cheats.map((c, i) => c > 0 ? caught[i] / c : 0), color: '#c0392b' }
      ]
    }),
    'contributors.svg': lineChart({
      title: 'Contributors over time',
      subtitle: 'active contributor identities by kind (they enter and leave by what they earn)',
      yLabel: 'agents',
      lines: contributorKinds.filter(present).map(k => ({ name: k, values: col(r, `active_${k}`) }))
    }),
    'participants.svg': lineChart({
      title: 'Workers, verifiers and requesters over time',
      subtitle: 'active agents by kind',
      yLabel: 'agents',
      lines: participantKinds.filter(present).map(k => ({ name: k, values: col(r, `active_${k}`) }))
    }),
    'flows.svg': lineChart({
      title: 'Token flows',
      subtitle: 'OPEN per epoch: the fee split\'s payouts by role, and stake slashed',
      yLabel: 'OPEN / epoch',
      lines: [
        { name: 'to workers', values: col(r, 'to_workers') },
        { name: 'to verifiers', values: col(r, 'to_verifiers') },
        { name: 'to contributors', values: col(r, 'to_contributors') },
        { name: 'to treasury', values: col(r, 'to_treasury') },
        { name: 'slashed', values: col(r, 'slashed') }
      ]
    })
  }
}
