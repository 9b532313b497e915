// Turning real-valued weights into whole units that add up exactly: the pool of an
// epoch in wei, or the fixed-point units the attribution policy computes its weights
// in. Every double is a dyadic rational (m / 2^e), so the split is done in exact bigint
// arithmetic: floor of each exact quota, then the units left over go one each to the
// largest remainders (Hamilton's method), ties to the earlier entry. No float rounding
// decides who gets a unit, so every peer and the simulator get the same amounts.
import { InvalidPolicyInputError } from './errors.ts'

export interface PoolWeight {
  contributor: string
  /** Finite and >= 0; weights need not sum to 1 (amounts are proportional to weight / sum). */
  weight: number
}

export interface PoolShare {
  contributor: string
  amount: bigint
}

/** Plain code-unit order: the same on every machine, unlike localeCompare. */
export function compareStrings (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

const bits = new Float64Array(1)
const words = new Uint32Array(bits.buffer)
const LOW = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1 // index of the low word

/** Trailing zero bits of a non-zero uint32. */
function ctz (x: number): number {
  return 31 - Math.clz32(x & -x)
}

/**
 * x = m / 2^e exactly with the smallest e, for a finite x >= 0: what doubling x until it
 * is an integer gives, read straight from the bits (mantissa without its trailing
 * zeros), since weights of 2^-53 units would take 53 doublings each.
 */
function dyadic (x: number): { m: bigint, e: number } {
  if (!Number.isFinite(x) || x < 0) throw new RangeError(`apportion needs finite weights >= 0, got ${x}`)
  if (Number.isInteger(x)) return { m: BigInt(x), e: 0 }
  bits[0] = x
  const lo = words[LOW]
  const hi = words[1 - LOW]
  const biased = (hi >>> 20) & 0x7ff
  const top = (hi & 0xfffff) + (biased === 0 ? 0 : 0x100000) // the implicit 1 of a normal number
  // x = (top * 2^32 + lo) * 2^(max(biased, 1) - 1075); not an integer, so the exponent is negative.
  const tz = lo !== 0 ? ctz(lo) : 32 + ctz(top)
  const m = ((BigInt(top) << 32n) | BigInt(lo)) >> BigInt(tz)
  return { m, e: 1075 - Math.max(biased, 1) - tz }
}

/**
 * Splits `total` units in proportion to `weights` (finite, >= 0, not all zero unless
 * total is 0): amounts sum to exactly `total`, each is the floor of its exact quota or
 * one more. The units left after flooring go to the largest exact remainders; equal
 * remainders favour the lower index, so callers list entries in their tie-break order.
 * A zero weight never receives a unit. Internal: callers validate first.
 */
export function apportion (total: bigint, weights: readonly number[]): bigint[] {
  const parts = weights.map(dyadic)
  let exp = 0
  for (const p of parts) if (p.e > exp) exp = p.e
  const scaled = parts.map(p => p.m << BigInt(exp - p.e))
  const sum = scaled.reduce((s, x) => s + x, 0n)
  if (sum === 0n) {
    if (total === 0n) return weights.map(() => 0n)
    throw new InvalidPolicyInputError('nothing to apportion among: every weight is zero', { total: total.toString(), entries: weights.length })
  }
  const amounts = scaled.map(x => (total * x) / sum)
  const remainders = scaled.map(x => (total * x) % sum)
  let left = total - amounts.reduce((s, x) => s + x, 0n)
  const byRemainder = weights.map((_, i) => i).sort((a, b) => {
    const ra = remainders[a]
    const rb = remainders[b]
    return ra > rb ? -1 : ra < rb ? 1 : a - b
  })
  for (let k = 0; left > 0n; k++, left--) amounts[byRemainder[k]] += 1n
  return amounts
}

/**
 * Splits a pool of integer token units (wei) among contributors in proportion to their
 * weights (e.g. the `contributors` of attributionRewards). Amounts sum to exactly
 * `pool`; rounding is largest remainder, equal remainders go to the lower address (plain
 * string order). Result sorted by address, one entry per input entry, zero weights
 * included with 0n. Throws InvalidPolicyInputError on a negative pool, a non-finite or
 * negative weight, a contributor listed twice, or a non-zero pool with no positive weight.
 */
export function splitPool (pool: bigint, weights: readonly PoolWeight[]): PoolShare[] {
  if (typeof pool !== 'bigint' || pool < 0n) throw new InvalidPolicyInputError('pool must be a bigint >= 0', { pool: String(pool) })
  if (!Array.isArray(weights)) throw new InvalidPolicyInputError('weights must be an array', {})
  const seen = new Set<string>()
  for (const [i, w] of weights.entries()) {
    if (w == null || typeof w.contributor !== 'string' || w.contributor === '') {
      throw new InvalidPolicyInputError('each weight needs a contributor', { index: i })
    }
    if (typeof w.weight !== 'number' || !Number.isFinite(w.weight) || w.weight < 0) {
      throw new InvalidPolicyInputError('weight must be finite and >= 0', { index: i, contributor: w.contributor, weight: w.weight })
    }
    if (seen.has(w.contributor)) throw new InvalidPolicyInputError('contributor listed twice', { contributor: w.contributor })
    seen.add(w.contributor)
  }
  const sorted = [...weights].sort((a, b) => compareStrings(a.contributor, b.contributor))
  if (pool > 0n && !sorted.some(w => w.weight > 0)) {
    throw new InvalidPolicyInputError('a non-zero pool needs at least one positive weight', { pool: pool.toString(), entries: sorted.length })
  }
  const amounts = apportion(pool, sorted.map(w => w.weight))
  return sorted.map((w, i) => ({ contributor: w.contributor, amount: amounts[i] }))
}
