// Issue 20's robustness properties on a bench case's real scores, through the same
// payout path (payout.ts -> settlement/policy): what an attacker could do with the
// case's data without retraining. Identities and copies do not change training (an
// exact copy is not trained twice: the datanet keeps the first), so the scores stand.
//  - sybilSplit: every paid contributor's texts split round-robin over 2 and 4 new
//    identities; value = the worst (split payout / unsplit payout); threshold 1.05
//  - copyEarnsNothing: the best-paid contributor's texts copied exactly by a late new
//    identity; value = the copy's payout, threshold 0.001; the original's credit must
//    not change
//  - gatePadding: the contributor with the most texts that fail the fit gate keeps only
//    those and pads them with 10x as many copies of the best-paid contributor's texts;
//    value = its payout, threshold 0.001
//  - reorder: the contributors handed over in reverse (and shuffled) order; value = the
//    largest change of any payout weight, threshold 1e-9 (training does not see the
//    order: adapter jobs order examples by content, LM windows never cross documents,
//    test/attribution-credits.test.ts retrains to check it)
import { Rng } from '../../compute/random.ts'
import { FIT_GATES } from '../../settlement/policy/index.ts'
import { payoutWeights, type TextScores } from './payout.ts'
import type { Property } from './properties.ts'
import type { ScenarioContributor } from './scenario.ts'

interface Case { people: readonly ScenarioContributor[], scores: TextScores, validationLoss: number, kind: 'classifier' | 'lm' }

/** Per contributor id: its texts' scores and losses. */
function perPerson (c: Case): Map<string, { tracin: number[], loss: number[] }> {
  const out = new Map<string, { tracin: number[], loss: number[] }>()
  let k = 0
  for (const p of c.people) {
    const x = { tracin: [] as number[], loss: [] as number[] }
    for (let j = 0; j < p.texts.length; j++, k++) { x.tracin.push(c.scores.tracin[k]); x.loss.push(c.scores.loss[k]) }
    out.set(p.id, x)
  }
  return out
}

/** payoutWeights over people that carry their own per-text scores. */
function pay (people: Array<ScenarioContributor & { s: { tracin: number[], loss: number[] } }>, c: Case): ReturnType<typeof payoutWeights> {
  return payoutWeights(people, { tracin: people.flatMap(p => p.s.tracin), loss: people.flatMap(p => p.s.loss) }, c.validationLoss, c.kind)
}

function prop (value: number, threshold: number, note?: string): Property {
  return { pass: Number.isFinite(value) ? value <= threshold : null, value, threshold, direction: '<=', ...(note !== undefined ? { note } : {}) }
}

export function robustness (c: Case, seed: number): Record<string, Property> {
  const scores = perPerson(c)
  const people = c.people.map(p => ({ ...p, s: scores.get(p.id)! }))
  const base = pay(people, c)
  const weight = (r: ReturnType<typeof payoutWeights>, ids: readonly string[]): number => ids.reduce((s, id) => s + (r.weights.get(id) ?? 0), 0)
  const out: Record<string, Property> = {}

  // sybilSplit
  let worst = 0
  let worstWho = ''
  for (const p of people) {
    const before = weight(base, [p.id])
    for (const k of [2, 4]) {
      if (p.texts.length < 2) continue
      const parts = Array.from({ length: k }, (_, i) => {
        const idx = p.texts.map((_, j) => j).filter(j => j % k === i)
        return { ...p, id: `${p.id}#${i}`, order: p.order + i / (2 * k), texts: idx.map(j => p.texts[j]), labels: idx.map(j => p.labels[j]), s: { tracin: idx.map(j => p.s.tracin[j]), loss: idx.map(j => p.s.loss[j]) } }
      }).filter(x => x.texts.length > 0)
      const r = pay([...people.filter(x => x.id !== p.id), ...parts], c)
      const after = weight(r, parts.map(x => x.id))
      const ratio = before > 0 ? after / before : after > 0 ? Infinity : 1
      if (ratio > worst) { worst = ratio; worstWho = `${p.id} over ${k}` }
    }
  }
  out.sybilSplit = prop(worst, 1.05, `worst: ${worstWho}`)

  // copyEarnsNothing
  const best = [...people].sort((a, b) => (base.weights.get(b.id) ?? 0) - (base.weights.get(a.id) ?? 0))[0]
  const late = Math.max(...people.map(p => p.order)) + 1
  const copy = { ...best, id: 'copier', order: late, bad: true }
  const withCopy = pay([...people, copy], c)
  const kept = Math.abs((withCopy.credit.get(best.id) ?? 0) - (base.credit.get(best.id) ?? 0))
  out.copyEarnsNothing = prop(weight(withCopy, ['copier']), 0.001, kept === 0 ? 'the original keeps its credit' : `the original's credit moved by ${kept}`)
  if (kept !== 0) out.copyEarnsNothing.pass = false

  // gatePadding: the contributor with the most texts that fail the gate keeps only those
  // (the originals: copies of them would be flagged as copies, not gated) and pads them.
  const bar = FIT_GATES[c.kind].margin * c.validationLoss
  const failing = (p: typeof people[number]): number[] => p.texts.map((_, j) => j).filter(j => p.s.loss[j] > bar)
  const worstFit = [...people].sort((a, b) => failing(b).length - failing(a).length)[0]
  const junk = failing(worstFit)
  if (junk.length === 0 || worstFit.id === best.id) out.gatePadding = { pass: null, value: NaN, threshold: 0.001, direction: '<=', note: 'no text of this case fails the gate on its own' }
  else {
    const pad = Array.from({ length: 10 * junk.length }, (_, i) => i % best.texts.length)
    // Late: the copies come after their originals, as a datanet orders later entries.
    const padder = {
      ...worstFit,
      order: late + 1,
      texts: [...junk.map(j => worstFit.texts[j]), ...pad.map(i => best.texts[i])],
      labels: [...junk.map(j => worstFit.labels[j]), ...pad.map(i => best.labels[i])],
      s: { tracin: [...junk.map(j => worstFit.s.tracin[j]), ...pad.map(i => best.s.tracin[i])], loss: [...junk.map(j => worstFit.s.loss[j]), ...pad.map(i => best.s.loss[i])] }
    }
    out.gatePadding = prop(weight(pay([...people.filter(p => p.id !== worstFit.id), padder], c), [worstFit.id]), 0.001, `${worstFit.id}: ${junk.length} texts that fail the gate, padded with ${pad.length} copies of ${best.id}'s`)
  }

  // reorder
  let moved = 0
  for (const order of [[...people].reverse(), new Rng(seed).shuffle([...people])]) {
    const r = pay(order, c)
    for (const p of people) moved = Math.max(moved, Math.abs((r.weights.get(p.id) ?? 0) - (base.weights.get(p.id) ?? 0)))
  }
  out.reorder = prop(moved, 1e-9, 'contributors handed over reversed and shuffled; training is order-free (test/attribution-credits.test.ts retrains)')
  return out
}
