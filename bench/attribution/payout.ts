// From scores to money, as the network does it: each text is one datanet file, paid to
// its contributor through the shared policy (settlement/policy/attribution-credits.ts:
// fit gate, near-duplicate rules and the zero floor per file, summed per address). The
// near-duplicate flags are the datanet view's: MinHash over normalised text at its
// threshold (0.8), the best earlier match; an exact repeat is similarity 1 (the
// datanet would not train on it twice; here it is trained on and earns nothing).
import { createHash } from 'node:crypto'
import { attributionCredits, type AttributionPolicy, type CreditFile } from '../../settlement/policy/index.ts'
import { LshIndex, sketchSignature } from '../../storage/dedupe/minhash.ts'
import type { ScenarioContributor } from './scenario.ts'

export const NEAR_DUPLICATE = 0.8

// Sketches by text: the robustness properties pay the same texts many times over.
const sketches = new Map<string, Uint32Array>()
function sketchOf (text: string): Uint32Array {
  let sig = sketches.get(text)
  if (sig === undefined) {
    if (sketches.size > 200_000) sketches.clear()
    sketches.set(text, sig = sketchSignature(text))
  }
  return sig
}

export interface TextScores {
  /** Per text of each contributor, in `people` order: the summed TracIn of its examples. */
  tracin: ArrayLike<number>
  /** Its examples' loss under the final adapter per token (per mail for a classifier), as is the validation loss passed. */
  loss: ArrayLike<number>
}

export interface Payout {
  /** Share of the pool per contributor id (0 when unpaid). */
  weights: Map<string, number>
  /** Per contributor id: the credit after the fit gate and the duplicate rules, before negative files are floored at 0. */
  credit: Map<string, number>
  flagged: Record<string, number>
}

export function payoutWeights (people: readonly ScenarioContributor[], scores: TextScores, validationLoss: number, kind: 'classifier' | 'lm', policy?: Partial<AttributionPolicy>): Payout {
  const texts = people.reduce((n, p) => n + p.texts.length, 0)
  if (scores.tracin.length !== texts || scores.loss.length !== texts) throw new RangeError('one score and one loss per text')
  const fileId = (p: ScenarioContributor, j: number): string => `${p.id}/${j}`
  const offsets = new Map<string, number>()
  let k = 0
  for (const p of people) { offsets.set(p.id, k); k += p.texts.length }

  // The view's flags, in datanet order: the first copy of a text is the original.
  const seen = new Map<string, string>()
  const lsh = new LshIndex()
  const files: CreditFile[] = []
  let order = 0
  for (const p of [...people].sort((a, b) => a.order - b.order)) {
    p.texts.forEach((text, j) => {
      const id = fileId(p, j)
      const file: CreditFile = { file: id, contribution: p.id, contributor: p.id, order: order++ }
      const hash = createHash('sha256').update(text).digest('hex')
      const exact = seen.get(hash)
      if (exact !== undefined) file.nearDuplicateOf = { file: exact, similarity: 1 }
      else {
        seen.set(hash, id)
        const sig = sketchOf(text)
        const best = lsh.query(sig, NEAR_DUPLICATE)[0]
        if (best !== undefined) file.nearDuplicateOf = { file: best.id, similarity: best.similarity }
        lsh.add(id, sig)
      }
      files.push(file)
    })
  }
  const examples = people.flatMap(p => p.texts.map((_, j) => {
    const i = (offsets.get(p.id) as number) + j
    return { file: fileId(p, j), tracin: scores.tracin[i], loss: scores.loss[i] }
  }))
  const r = attributionCredits({ examples, files, validationLoss, kind, policy })
  const credit = new Map<string, number>(people.map(p => [p.id, 0]))
  const flagged: Record<string, number> = { unfit: 0, copy: 0 }
  for (const f of r.files) {
    credit.set(f.contributor, (credit.get(f.contributor) ?? 0) + f.credit)
    if (f.unfit) flagged.unfit++
    if (f.copy) flagged.copy++
  }
  for (const f of r.flags) flagged[f.reason] = (flagged[f.reason] ?? 0) + 1
  const weights = new Map<string, number>(people.map(p => [p.id, 0]))
  for (const c of r.contributors) weights.set(c.contributor, c.weight)
  return { weights, credit, flagged }
}
