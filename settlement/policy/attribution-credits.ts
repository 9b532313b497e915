// Attribution credits: per-example scores of one attribution -> each file's credit and
// each address's share of the pool. The one path from scores to money: the peer's
// `openledger attribute`, the market's attribution jobs and their verification, and the
// attribution bench all call it, so a policy change happens here once.
//
// Everything is decided per file, the unit the datanet dedupes and flags at, and summed
// per address only at the end: a rule applied to a group (a contribution, an address)
// would pay whoever regroups their files (split the harmful ones off to a throwaway
// address and the rest is paid in full). So:
//   1 a file's influence is the sum of its examples' scores (in example order)
//   2 fit gate: a file whose examples the adapter fits worse than held-out data (mean
//     loss above the kind's margin x validation loss) earns nothing
//   3 near-duplicates of earlier text (the datanet view's MinHash similarity) go to the
//     reward policy's duplicate rules: >= nearDuplicateAt earn nothing, the band below
//     shares its value with the original; a copy of text outside the scored files (held
//     out, say) is judged by its similarity alone
//   4 attributionRewards per file, each paid to its contribution's address: negative
//     earns nothing (per file), weights exact, no per-address cap by default
import { attributionRewards, DEFAULT_ATTRIBUTION_POLICY, type AttributionContribution, type AttributionFlag, type AttributionPolicy, type ContributorReward } from './attribution-rewards.ts'
import { InvalidPolicyInputError } from './errors.ts'
import { compareStrings } from './split-pool.ts'
import { FIT_GATES, fitGate, type FitGatePolicy } from './fit-gate.ts'

export interface CreditExample {
  /** The file the example comes from (an LM window: the document it lies in). */
  file: string
  /** Estimated effect on validation loss; positive = helpful. Finite. */
  tracin: number
  /** The example's loss under the final adapter, summed over its `tokens`. Finite, >= 0. */
  loss: number
  /** What its loss is summed over (an LM window's targets; default 1). Finite, > 0. */
  tokens?: number
}

export interface CreditFile {
  file: string
  /** The contribution entry that added it. */
  contribution: string
  /** The address paid for it. */
  contributor: string
  /** Position in the datanet version's file order (entries in order, files in entry order). */
  order: number
  /** The earlier file whose text this one nearly repeats, as the datanet view flags it. */
  nearDuplicateOf?: { file: string, similarity: number }
}

export interface CreditInput {
  examples: readonly CreditExample[]
  /** Every file an example names (more may be listed: they earn nothing). */
  files: readonly CreditFile[]
  /** Mean loss per token of the held-out examples under the final adapter. */
  validationLoss: number
  kind: 'classifier' | 'lm'
  policy?: Partial<AttributionPolicy>
  fitGate?: Partial<FitGatePolicy>
}

export interface FileCredit {
  file: string
  contribution: string
  contributor: string
  order: number
  examples: number
  /** Summed score of its examples. */
  influence: number
  /** Loss per token of its examples (0 without examples): what the fit gate reads, so a short file is not easier to pass. */
  meanLoss: number
  /** Failed the fit gate. */
  unfit: boolean
  /** Copies earlier text at or above the policy's nearDuplicateAt. */
  copy: boolean
  /** Value after the gate and the duplicate rules, before negative values are floored at 0: what ranks files. */
  credit: number
  /** What the policy paid it for (>= 0). */
  paid: number
  /** Share of the pool. */
  weight: number
}

export interface AttributionCredits {
  /** In (order, file) order. */
  files: FileCredit[]
  /** Paid addresses, by address; weights sum to exactly 1 (or none is paid). */
  contributors: ContributorReward[]
  /** The reward policy's flags (file ids as `id`). */
  flags: AttributionFlag[]
  /** Files that failed the fit gate, in (order, file) order. */
  unfit: string[]
}

export function attributionCredits (input: CreditInput): AttributionCredits {
  const policy: AttributionPolicy = { ...DEFAULT_ATTRIBUTION_POLICY, ...input.policy }
  const files = checkFiles(input.files)
  const sums = new Map<string, { tracin: number, loss: number, tokens: number, n: number }>()
  for (const [i, e] of input.examples.entries()) {
    if (!files.has(e?.file)) throw new InvalidPolicyInputError('an example names a file not listed', { example: i, file: e?.file })
    if (!Number.isFinite(e.tracin)) throw new InvalidPolicyInputError('a score must be finite', { example: i, tracin: e.tracin })
    if (!Number.isFinite(e.loss) || e.loss < 0) throw new InvalidPolicyInputError('a loss must be finite and >= 0', { example: i, loss: e.loss })
    const tokens = e.tokens ?? 1
    if (!Number.isFinite(tokens) || tokens <= 0) throw new InvalidPolicyInputError('an example\'s tokens must be finite and > 0', { example: i, tokens: e.tokens })
    const s = sums.get(e.file) ?? { tracin: 0, loss: 0, tokens: 0, n: 0 }
    s.tracin += e.tracin
    s.loss += e.loss
    s.tokens += tokens
    s.n++
    sums.set(e.file, s)
  }
  const scored = [...files.values()].sort((a, b) => a.order - b.order || compareStrings(a.file, b.file))
  const meanLoss = (f: CreditFile): number => { const s = sums.get(f.file); return s === undefined ? 0 : s.loss / s.tokens }
  const gate = { ...FIT_GATES[input.kind], ...input.fitGate }
  const unfit = new Set(fitGate(scored.filter(f => sums.has(f.file)).map(f => ({ id: f.file, meanLoss: meanLoss(f) })), input.validationLoss, gate).unfit.map(u => u.id))

  // A near-copy of text the scores do not cover keeps its similarity but has no original
  // to share with: a copy earns nothing, the band pays in full (rule 4 with a = 0).
  const orphanCopy = (f: CreditFile): boolean => f.nearDuplicateOf != null && !files.has(f.nearDuplicateOf.file) && f.nearDuplicateOf.similarity >= policy.nearDuplicateAt
  const units: AttributionContribution[] = scored.map(f => {
    const influence = unfit.has(f.file) || orphanCopy(f) ? 0 : sums.get(f.file)?.tracin ?? 0
    const near = f.nearDuplicateOf
    return { id: f.file, contributor: f.contributor, influence, order: f.order, ...(near != null && files.has(near.file) ? { nearDuplicateOf: { id: near.file, similarity: near.similarity } } : {}) }
  })
  const rewards = attributionRewards(units, policy)
  const byId = new Map(rewards.contributions.map(c => [c.id, c]))
  const discount = new Map<string, number>()
  for (const f of rewards.flags) if (f.reason === 'near-duplicate-shared') discount.set(f.id, f.discount)

  const out: FileCredit[] = scored.map((f, i) => {
    const r = byId.get(f.file) as { credited: number, weight: number }
    const sim = f.nearDuplicateOf?.similarity ?? 0
    const copy = f.nearDuplicateOf != null && sim >= policy.nearDuplicateAt
    const influence = sums.get(f.file)?.tracin ?? 0
    // Negative values stay negative here (they rank the file); the pool pays r.credited.
    const credit = unfit.has(f.file) || copy ? 0 : influence < 0 ? influence : Math.max(0, units[i].influence - (discount.get(f.file) ?? 0))
    return { file: f.file, contribution: f.contribution, contributor: f.contributor, order: f.order, examples: sums.get(f.file)?.n ?? 0, influence, meanLoss: meanLoss(f), unfit: unfit.has(f.file), copy, credit, paid: r.credited, weight: r.weight }
  })
  return { files: out, contributors: rewards.contributors, flags: rewards.flags, unfit: out.filter(f => f.unfit).map(f => f.file) }
}

function checkFiles (files: readonly CreditFile[]): Map<string, CreditFile> {
  if (!Array.isArray(files)) throw new InvalidPolicyInputError('files must be an array', {})
  const out = new Map<string, CreditFile>()
  for (const [i, f] of files.entries()) {
    if (f == null || typeof f.file !== 'string' || f.file === '') throw new InvalidPolicyInputError('a file needs a non-empty id', { index: i })
    if (out.has(f.file)) throw new InvalidPolicyInputError('a file is listed twice', { file: f.file })
    if (typeof f.contribution !== 'string' || f.contribution === '') throw new InvalidPolicyInputError('a file needs its contribution', { file: f.file })
    out.set(f.file, f)
  }
  return out
}
