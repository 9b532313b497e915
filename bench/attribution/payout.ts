// From scores to money, as settlement will do it: every mail is one unit paid to its
// contributor, with its own influence score; exact and near duplicates of earlier mail
// (MinHash over normalised text, as the datanet view flags them) are marked; the shared
// policy (settlement/policy) turns the units into per-contributor payout weights.
import { createHash } from 'node:crypto'
import { attributionRewards, type AttributionContribution } from '../../settlement/policy/index.ts'
import { LshIndex, textSignature } from '../../storage/dedupe/minhash.ts'
import type { ScenarioContributor } from './scenario.ts'

export function payoutWeights (people: readonly ScenarioContributor[], perExample: ArrayLike<number>): { weights: Map<string, number>, flagged: Record<string, number> } {
  const units: AttributionContribution[] = []
  const firstByText = new Map<string, string>()
  const lsh = new LshIndex()
  let k = 0
  for (const p of [...people].sort((a, b) => a.order - b.order)) {
    p.texts.forEach((text, j) => {
      const id = `${p.id}/${j}`
      const unit: AttributionContribution = { id, contributor: p.id, influence: perExample[k++], order: p.order * 1e6 + j }
      const hash = createHash('sha256').update(text).digest('hex')
      const original = firstByText.get(hash)
      if (original !== undefined) unit.duplicateOf = original
      else {
        firstByText.set(hash, id)
        const sig = textSignature(text)
        const best = lsh.query(sig).sort((a, b) => b.similarity - a.similarity)[0]
        if (best !== undefined && best.similarity >= 0.8) unit.nearDuplicateOf = { id: best.id, similarity: best.similarity }
        lsh.add(id, sig)
      }
      units.push(unit)
    })
  }
  if (k !== perExample.length) throw new RangeError('one score per mail')
  const rewards = attributionRewards(units)
  const flagged: Record<string, number> = {}
  for (const f of rewards.flags) flagged[f.reason] = (flagged[f.reason] ?? 0) + 1
  return { weights: new Map(rewards.contributors.map(c => [c.contributor, c.weight])), flagged }
}
