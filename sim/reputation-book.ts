// Each agent's reputation, as the live network computes it: reputation() over the
// agent's settled outcomes at the virtual clock. The book is read at the start of each
// epoch: outcomes recorded during an epoch count from the next one (the sim's time step),
// so a score is computed at most once per epoch per agent, and
// a long history is folded so the call stays short: the oldest outcomes of each kind
// become one outcome dated at the newest of them, whose weight is what reputation()
// itself says they are worth at that date. Since every outcome decays by the same
// 2^(-age / halfLife), the folded history scores the same up to float rounding.
import { DEFAULT_REPUTATION_POLICY, reputation, type Outcome, type OutcomeKind } from '../settlement/policy/index.ts'
import type { Population } from './population.ts'

const FOLD_AT = 12
const FOLD = 8
const BAD: readonly Exclude<OutcomeKind, 'verified'>[] = ['failed', 'timeout', 'slashed']

/** Records one outcome for agent i at time `at` (ms); same kind at the same time adds weight. */
export function record (pop: Population, i: number, kind: OutcomeKind, at: number): void {
  let h = pop.history[i]
  if (h === undefined) { h = []; pop.history[i] = h }
  const last = h[h.length - 1]
  if (last !== undefined && last.kind === kind && last.at === at) last.weight = (last.weight ?? 1) + 1
  else h.push({ kind, weight: 1, at })
  if (h.length > FOLD_AT) fold(h)
}

function fold (h: Outcome[]): void {
  const old = h.splice(0, FOLD)
  const at = old[old.length - 1].at
  const folded: Outcome[] = []
  const p = DEFAULT_REPUTATION_POLICY
  const good = old.filter(o => o.kind === 'verified')
  if (good.length > 0) folded.push({ kind: 'verified', weight: reputation(good, at).alpha - p.priorAlpha, at })
  for (const kind of BAD) {
    const bad = old.filter(o => o.kind === kind)
    if (bad.length > 0 && p.penalty[kind] > 0) folded.push({ kind, weight: (reputation(bad, at).beta - p.priorBeta) / p.penalty[kind], at })
  }
  h.unshift(...folded)
}

/** Agent i's score at epoch e (time now, ms): cached for the epoch. */
export function scoreOf (pop: Population, i: number, e: number, now: number): number {
  if (pop.repEpoch[i] === e) return pop.repScore[i]
  const h = pop.history[i]
  const score = reputation(h ?? [], now).score
  pop.repScore[i] = score
  pop.repEpoch[i] = e
  return score
}
