// Attribution rewards: measured influence of datanet contributions -> the share of an
// epoch's reward pool each contributor address gets. Pure and deterministic (plain data
// in, plain data out, no clock, no I/O), so the live epoch builder and the simulator run
// the same rules; settlement/policy/README.md gives each rule with its rationale.
//
//   1 negative influence earns nothing and is flagged
//   2 exact duplicates earn nothing; the original keeps only its own influence
//   3 near-duplicates at or above `nearDuplicateAt` earn nothing
//   4 near-duplicates in [sharedFrom, nearDuplicateAt) lose a linearly growing part of
//     whatever value they share with the earlier original; the original keeps all of its own
//   5 positive influence below `minInfluence` is noise: earns nothing, not harmful
//   6 per-address cap `maxShare`, the excess redistributed proportionally until stable
//
// Weights are exact multiples of 2^-53 (computed as integer units), so they add up to
// exactly 1 in any summation order; the result does not depend on input order.
import { InvalidPolicyInputError } from './errors.ts'
import { apportion, compareStrings } from './split-pool.ts'

export interface AttributionContribution {
  /** Unique key, e.g. the file or contribution CID. */
  id: string
  /** Address that is paid (any non-empty string; compared exactly). */
  contributor: string
  /** Estimated effect on validation loss; positive = helpful. Finite. */
  influence: number
  /** Position in the datanet's agreed entry order; earlier = smaller. Finite. */
  order: number
  /** Id of a strictly earlier contribution with the same bytes. */
  duplicateOf?: string
  /** A strictly earlier contribution with near-identical text and its similarity in [0, 1]. */
  nearDuplicateOf?: { id: string, similarity: number }
}

export interface AttributionPolicy {
  /** Largest share of the pool one address may get, in (0, 1]; 1 = no cap. */
  maxShare: number
  /** Similarity at or above which a later near-duplicate earns nothing, in (0, 1]. */
  nearDuplicateAt: number
  /** Similarity from which a later near-duplicate shares its value with the original, in [0, nearDuplicateAt]. */
  sharedFrom: number
  /** Positive influence below this is noise and earns nothing; >= 0, in the estimator's units. */
  minInfluence: number
}

// No per-address cap by default: an address is free to make, so a cap only pays whoever
// splits over several (README: "The cap is the one per-address rule").
export const DEFAULT_ATTRIBUTION_POLICY: Readonly<AttributionPolicy> = Object.freeze({
  maxShare: 1,
  nearDuplicateAt: 0.9,
  sharedFrom: 0.8,
  minInfluence: 0
})

export interface ContributionReward {
  id: string
  contributor: string
  order: number
  /** As measured. */
  influence: number
  /** Value after rules 1-5 (0 when unpaid): what the contributor's weight is divided by. */
  credited: number
  /** Share of the pool; the contributor's weight split over their contributions by credited value. */
  weight: number
}

export interface ContributorReward {
  contributor: string
  /** Sum of the contributor's credited values. */
  credited: number
  /** Share of the pool, in (0, 1] (0 only if rounding to 2^-53 leaves nothing). */
  weight: number
  /** The cap bound: `weight` is the cap (to 2^-53), less than the uncapped share. */
  capped: boolean
}

export type AttributionFlag =
  | { reason: 'duplicate', id: string, contributor: string, original: string }
  | { reason: 'near-duplicate', id: string, contributor: string, original: string, similarity: number }
  | { reason: 'near-duplicate-shared', id: string, contributor: string, original: string, similarity: number, discount: number }
  | { reason: 'negative-influence', id: string, contributor: string, influence: number }
  | { reason: 'noise', id: string, contributor: string, influence: number }
  | { reason: 'capped', contributor: string, uncappedShare: number }
  | { reason: 'cap-infeasible', contributors: number, maxShare: number }
  | { reason: 'nothing-paid' }

export interface AttributionRewards {
  /** Contributors with credited value > 0, by address (plain string order); weights sum to exactly 1. */
  contributors: ContributorReward[]
  /** Every input contribution, by (order, id); weights sum to exactly 1 (or all 0). */
  contributions: ContributionReward[]
  /** Contribution flags in (order, id) order, then cap flags by address, then pool flags. */
  flags: AttributionFlag[]
}

/** Weights are integers out of this many units: 2^53, so units / 2^53 is an exact double. */
export const WEIGHT_UNITS = 2n ** 53n
const UNIT_SCALE = 2 ** 53

/**
 * The reward weights for one pool. `policy` overrides DEFAULT_ATTRIBUTION_POLICY field
 * by field. Throws InvalidPolicyInputError on malformed input (see validatePolicy,
 * validateContributions) or influence so large its sum overflows.
 */
export function attributionRewards (contributions: readonly AttributionContribution[], policy: Partial<AttributionPolicy> = {}): AttributionRewards {
  const p: AttributionPolicy = { ...DEFAULT_ATTRIBUTION_POLICY, ...policy }
  validatePolicy(p)
  const sorted = validateContributions(contributions)
  // Contributions: (order, id). Contributors: address. Every float sum runs in one of these orders.
  const byId = new Map(sorted.map(c => [c.id, c]))

  const flags: AttributionFlag[] = []
  const credited = sorted.map(c => credit(c, byId, p, flags))

  // Per-contributor value, summed in (order, id) order so the float sum is reproducible.
  const totals = new Map<string, number>()
  for (const [i, c] of sorted.entries()) {
    if (credited[i] > 0) totals.set(c.contributor, (totals.get(c.contributor) ?? 0) + credited[i])
  }
  const paid = [...totals.entries()].sort((a, b) => compareStrings(a[0], b[0]))
  const total = paid.reduce((s, e) => s + e[1], 0)
  if (!Number.isFinite(total)) fail('credited influence overflows a double', { total })
  const shares = capShares(paid.map(e => e[1]), p.maxShare)

  const contributorUnits = new Map<string, bigint>()
  const contributors: ContributorReward[] = paid.map(([contributor, value], i) => {
    contributorUnits.set(contributor, shares.units[i])
    return { contributor, credited: value, weight: toWeight(shares.units[i]), capped: shares.capped[i] }
  })

  // Each contributor's units split over their own paid contributions, earlier first on ties.
  const own = new Map<string, Array<{ id: string, value: number }>>()
  for (const [i, c] of sorted.entries()) {
    if (!(credited[i] > 0)) continue
    const list = own.get(c.contributor) ?? []
    list.push({ id: c.id, value: credited[i] })
    own.set(c.contributor, list)
  }
  const contributionUnits = new Map<string, bigint>()
  for (const [contributor, units] of contributorUnits) {
    const mine = own.get(contributor) ?? []
    const split = apportion(units, mine.map(x => x.value))
    for (const [k, x] of mine.entries()) contributionUnits.set(x.id, split[k])
  }

  for (const [i, [contributor, value]] of paid.entries()) {
    if (shares.capped[i]) flags.push({ reason: 'capped', contributor, uncappedShare: value / total })
  }
  if (!shares.feasible) flags.push({ reason: 'cap-infeasible', contributors: paid.length, maxShare: p.maxShare })
  if (paid.length === 0) flags.push({ reason: 'nothing-paid' })

  return {
    contributors,
    contributions: sorted.map((c, i) => ({
      id: c.id,
      contributor: c.contributor,
      order: c.order,
      influence: c.influence,
      credited: credited[i],
      weight: toWeight(contributionUnits.get(c.id) ?? 0n)
    })),
    flags
  }
}

function toWeight (units: bigint): number {
  return Number(units) / UNIT_SCALE
}

/** Rules 1-5 for one contribution: its credited value (0 = unpaid), flags appended. */
function credit (c: AttributionContribution, byId: Map<string, AttributionContribution>, p: AttributionPolicy, flags: AttributionFlag[]): number {
  const { id, contributor, influence } = c
  let excluded = false
  if (c.duplicateOf != null) {
    flags.push({ reason: 'duplicate', id, contributor, original: c.duplicateOf })
    excluded = true
  } else if (c.nearDuplicateOf != null && c.nearDuplicateOf.similarity >= p.nearDuplicateAt) {
    flags.push({ reason: 'near-duplicate', id, contributor, original: c.nearDuplicateOf.id, similarity: c.nearDuplicateOf.similarity })
    excluded = true
  }
  if (influence < 0) {
    flags.push({ reason: 'negative-influence', id, contributor, influence })
    return 0
  }
  if (excluded) return 0
  if (influence === 0 || influence < p.minInfluence) {
    flags.push({ reason: 'noise', id, contributor, influence })
    return 0
  }
  const near = c.nearDuplicateOf
  if (near == null || near.similarity < p.sharedFrom) return influence
  // Rule 4: the part of this value the earlier original already provides (its own
  // measured influence, if helpful) is shared, the overlap growing linearly from 0 at
  // sharedFrom to 1 at nearDuplicateAt, where rule 3 takes over without a jump.
  const original = byId.get(near.id) as AttributionContribution
  const overlap = (near.similarity - p.sharedFrom) / (p.nearDuplicateAt - p.sharedFrom)
  const discount = overlap * Math.min(influence, Math.max(0, original.influence))
  if (!(discount > 0)) return influence
  flags.push({ reason: 'near-duplicate-shared', id, contributor, original: near.id, similarity: near.similarity, discount })
  return Math.max(0, influence - discount)
}

/**
 * Rule 6, in integer units out of WEIGHT_UNITS. values: positive, by address. Water
 * filling: apportion the free units among the uncapped in proportion to value; anyone
 * above the cap is fixed at the cap; repeat until nobody is above it. When even all at
 * the cap cannot absorb the pool (n * cap < 1) the cap is not applied (proportional).
 */
function capShares (values: readonly number[], maxShare: number): { units: bigint[], capped: boolean[], feasible: boolean } {
  const n = values.length
  const capUnits = BigInt(Math.floor(maxShare * UNIT_SCALE))
  const capped = values.map(() => false)
  if (n === 0) return { units: [], capped, feasible: true }
  if (BigInt(n) * capUnits < WEIGHT_UNITS) return { units: apportion(WEIGHT_UNITS, values), capped, feasible: false }
  const units = values.map(() => capUnits)
  // Head start, so the exact loop below runs a couple of passes instead of up to n: in
  // floats, walk down from the largest value capping while the next one is clearly
  // (by a 1e-9 margin, far beyond float error) over the cap at the current level. The
  // loop then settles the boundary exactly; a guess only ever caps someone it would cap.
  const byValue = values.map((_, i) => i).sort((a, b) => values[b] - values[a] || a - b)
  const suffix = new Array<number>(n + 1).fill(0)
  for (let k = n - 1; k >= 0; k--) suffix[k] = suffix[k + 1] + values[byValue[k]]
  for (let k = 0; k < n - 1; k++) {
    const i = byValue[k]
    if (!(values[i] * (1 - k * maxShare) / suffix[k] > maxShare * (1 + 1e-9))) break
    capped[i] = true
  }
  for (;;) {
    const free = values.map((_, i) => i).filter(i => !capped[i])
    // At least one stays free: capping everyone left would need more units than remain.
    const remaining = WEIGHT_UNITS - capUnits * BigInt(n - free.length)
    const alloc = apportion(remaining, free.map(i => values[i]))
    const over = free.filter((_, k) => alloc[k] > capUnits)
    if (over.length === 0) {
      for (const [k, i] of free.entries()) units[i] = alloc[k]
      break
    }
    for (const i of over) capped[i] = true
  }
  return { units, capped, feasible: true }
}

function fail (message: string, details: Record<string, unknown>): never {
  throw new InvalidPolicyInputError(message, details)
}

function validatePolicy (p: AttributionPolicy): void {
  const num = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x)
  if (!num(p.maxShare) || p.maxShare <= 0 || p.maxShare > 1) fail('maxShare must be in (0, 1]', { maxShare: p.maxShare })
  if (!num(p.nearDuplicateAt) || p.nearDuplicateAt <= 0 || p.nearDuplicateAt > 1) fail('nearDuplicateAt must be in (0, 1]', { nearDuplicateAt: p.nearDuplicateAt })
  if (!num(p.sharedFrom) || p.sharedFrom < 0 || p.sharedFrom > p.nearDuplicateAt) {
    fail('sharedFrom must be in [0, nearDuplicateAt]', { sharedFrom: p.sharedFrom, nearDuplicateAt: p.nearDuplicateAt })
  }
  if (!num(p.minInfluence) || p.minInfluence < 0) fail('minInfluence must be finite and >= 0', { minInfluence: p.minInfluence })
}

/** Checks every contribution and returns them sorted by (order, id). */
function validateContributions (contributions: readonly AttributionContribution[]): AttributionContribution[] {
  if (!Array.isArray(contributions)) fail('contributions must be an array', {})
  const byId = new Map<string, AttributionContribution>()
  const spelling = new Map<string, string>()
  for (const [index, c] of contributions.entries()) {
    if (c == null || typeof c !== 'object') fail('contribution must be an object', { index })
    if (typeof c.id !== 'string' || c.id === '') fail('id must be a non-empty string', { index })
    if (byId.has(c.id)) fail('duplicate contribution id', { id: c.id })
    if (typeof c.contributor !== 'string' || c.contributor === '') fail('contributor must be a non-empty string', { id: c.id })
    // One address, one cap: 0xAbC... and 0xabc... are the same account.
    const folded = c.contributor.toLowerCase()
    const other = spelling.get(folded)
    if (other != null && other !== c.contributor) fail('one contributor spelled two ways', { id: c.id, contributor: c.contributor, other })
    spelling.set(folded, c.contributor)
    if (typeof c.influence !== 'number' || !Number.isFinite(c.influence)) fail('influence must be a finite number', { id: c.id, influence: c.influence })
    if (typeof c.order !== 'number' || !Number.isFinite(c.order)) fail('order must be a finite number', { id: c.id, order: c.order })
    if (c.duplicateOf != null && c.nearDuplicateOf != null) fail('a contribution is a duplicate or a near-duplicate, not both', { id: c.id })
    if (c.duplicateOf != null && typeof c.duplicateOf !== 'string') fail('duplicateOf must be an id', { id: c.id })
    if (c.nearDuplicateOf != null) {
      const s = c.nearDuplicateOf.similarity
      if (typeof c.nearDuplicateOf.id !== 'string') fail('nearDuplicateOf.id must be an id', { id: c.id })
      if (typeof s !== 'number' || !Number.isFinite(s) || s < 0 || s > 1) fail('similarity must be in [0, 1]', { id: c.id, similarity: s })
    }
    byId.set(c.id, c)
  }
  for (const c of byId.values()) {
    const ref = c.duplicateOf ?? c.nearDuplicateOf?.id
    if (ref == null) continue
    const field = c.duplicateOf != null ? 'duplicateOf' : 'nearDuplicateOf'
    const original = byId.get(ref)
    if (original == null) fail(`${field} names an unknown contribution`, { id: c.id, [field]: ref })
    if (!(original.order < c.order)) fail(`${field} must name a strictly earlier contribution`, { id: c.id, order: c.order, [field]: ref, originalOrder: original.order })
  }
  return [...byId.values()].sort((a, b) => a.order - b.order || compareStrings(a.id, b.id))
}
