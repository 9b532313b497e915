// The headline outcomes of a run, read off its series and its agents: what the report
// states, what a sweep tabulates, and what the tests assert. Kept apart from the engine so
// every reader derives them the same way.
import type { SimResult } from './engine.ts'
import type { AgentKind } from './scenario.ts'

export interface Outcomes {
  /** Cumulative gain of cheating over honest work (OPEN), per cheating kind and for all cheating workers together. */
  cheatGain: Record<'lazy-worker' | 'malicious-worker' | 'colluder-worker' | 'lazy-verifier', number>
  workerCheatGain: number
  /** What the policy's expectedCheatProfit predicted for the same jobs, summed. */
  workerExpectedGain: number
  cheats: number
  caught: number
  /** Caught / cheats over the run (worker cheats). */
  detectionRate: number
  collusionCheats: number
  collusionCaught: number
  lazyApprovalsCaught: number
  /** Final Gini of cumulative earnings among active agents (requesters left out). */
  gini: number
  /** Contributors' earnings over the run (OPEN): good, spam (duplicates, low quality, adversarial), Sybil identities. */
  contributorEarnings: { good: number, spam: number, sybil: number }
  /** Spam's share of everything paid to contributors. */
  spamShare: number
  /** Mean earnings per identity that was ever active. */
  perIdentity: { good: number, spam: number, sybil: number }
  active: { start: Record<AgentKind, number>, end: Record<AgentKind, number> }
  fees: number
  requesterValue: number
  auditRate: number
  breakEven: number
}

/** One run of a parameter sweep (sweep.ts): the value it ran with and its outcomes. */
export interface SweepRun {
  param: string
  value: number
  scenario: string
  /** Directory of the run's own report, relative to the sweep's. */
  dir: string
  outcomes: Outcomes
}

export function outcomes (r: SimResult): Outcomes {
  const k = Object.fromEntries(r.kinds.map(x => [x.kind, x])) as Record<AgentKind, SimResult['kinds'][number]>
  const sum = (kinds: AgentKind[], f: (x: SimResult['kinds'][number]) => number): number => kinds.reduce((a, n) => a + f(k[n]), 0)
  const workerCheaters: AgentKind[] = ['lazy-worker', 'malicious-worker', 'colluder-worker']
  const spam: AgentKind[] = ['duplicator', 'low-quality', 'adversarial']
  const total = (key: string): number => r.series.reduce((a, row) => a + (row[key] ?? 0), 0)
  const cheats = total('cheats')
  const caught = total('cheats_caught')
  const good = k.contributor.earned
  const spamEarned = sum(spam, x => x.earned)
  const sybil = k.sybil.earned
  const per = (v: number, n: number): number => n > 0 ? v / n : 0
  const last = r.series[r.series.length - 1]
  const counts = (row: Record<string, number> | undefined, initial: boolean): Record<AgentKind, number> =>
    Object.fromEntries(r.kinds.map(x => [x.kind, initial ? x.initial : row?.[`active_${x.kind}`] ?? 0])) as Record<AgentKind, number>
  return {
    cheatGain: {
      'lazy-worker': k['lazy-worker'].cheatGain,
      'malicious-worker': k['malicious-worker'].cheatGain,
      'colluder-worker': k['colluder-worker'].cheatGain,
      'lazy-verifier': k['lazy-verifier'].cheatGain
    },
    workerCheatGain: sum(workerCheaters, x => x.cheatGain),
    workerExpectedGain: sum(workerCheaters, x => x.expectedGain),
    cheats,
    caught,
    detectionRate: cheats > 0 ? caught / cheats : 0,
    collusionCheats: total('collusion_cheats'),
    collusionCaught: total('collusion_caught'),
    lazyApprovalsCaught: total('lazy_approvals_caught'),
    gini: last?.gini ?? 0,
    contributorEarnings: { good, spam: spamEarned, sybil },
    spamShare: good + spamEarned + sybil > 0 ? spamEarned / (good + spamEarned + sybil) : 0,
    perIdentity: { good: per(good, k.contributor.everActive), spam: per(spamEarned, sum(spam, x => x.everActive)), sybil: per(sybil, k.sybil.everActive) },
    active: { start: counts(undefined, true), end: counts(last, false) },
    fees: r.totals.fees,
    requesterValue: total('requester_value'),
    auditRate: r.rates.auditRate,
    breakEven: r.rates.audit.breakEven
  }
}
