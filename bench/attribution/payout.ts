// From scores to money, as the peer's attribute command does it: one unit per
// contributor holding the summed influence of its mails, paid by the shared policy
// (settlement/policy: negative earns nothing, 25% cap). Mails that repeat earlier mail,
// exactly or nearly (MinHash over normalised text at the datanet view's threshold, 0.8),
// add nothing to their contributor's sum: the first copy is the one that counts; a
// contributor the fit gate failed (settlement/policy/fit-gate.ts) earns nothing.
import { createHash } from 'node:crypto'
import { attributionRewards } from '../../settlement/policy/index.ts'
import { LshIndex, sketchSignature } from '../../storage/dedupe/minhash.ts'
import type { ScenarioContributor } from './scenario.ts'

export const NEAR_DUPLICATE = 0.8

export function payoutWeights (people: readonly ScenarioContributor[], perText: ArrayLike<number>, unfit: ReadonlySet<string> = new Set()): { weights: Map<string, number>, flagged: Record<string, number> } {
  const seen = new Set<string>()
  const lsh = new LshIndex()
  const flagged: Record<string, number> = { duplicate: 0, 'near-duplicate': 0 }
  const influence = new Map<string, number>()
  // Scores come in contributor order as given; duplicates are judged in datanet order.
  const offsets = new Map<string, number>()
  let k = 0
  for (const p of people) { offsets.set(p.id, k); k += p.texts.length }
  if (k !== perText.length) throw new RangeError('one score per text')
  for (const p of [...people].sort((a, b) => a.order - b.order)) {
    let sum = 0
    p.texts.forEach((text, j) => {
      const hash = createHash('sha256').update(text).digest('hex')
      if (seen.has(hash)) { flagged.duplicate++; return }
      seen.add(hash)
      const sig = sketchSignature(text)
      const near = lsh.query(sig, NEAR_DUPLICATE).length > 0
      lsh.add(`${p.id}/${j}`, sig)
      if (near) { flagged['near-duplicate']++; return }
      sum += perText[(offsets.get(p.id) as number) + j]
    })
    influence.set(p.id, unfit.has(p.id) ? 0 : sum)
  }
  flagged.unfit = unfit.size
  const rewards = attributionRewards(people.map(p => ({ id: p.id, contributor: p.id, influence: influence.get(p.id) ?? 0, order: p.order })))
  for (const f of rewards.flags) flagged[f.reason] = (flagged[f.reason] ?? 0) + 1
  return { weights: new Map(rewards.contributors.map(c => [c.contributor, c.weight])), flagged }
}
