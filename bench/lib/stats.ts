// Order statistics over samples. Pure functions; inputs are never mutated.

/** Sorted copy, ascending. */
export function sorted (xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b)
}

/** Percentile p in [0, 100], linear interpolation between closest ranks. NaN for no samples. */
export function percentile (xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN
  if (p < 0 || p > 100) throw new RangeError(`percentile ${p} outside [0, 100]`)
  const s = sorted(xs)
  const rank = (p / 100) * (s.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  return s[lo] + (s[hi] - s[lo]) * (rank - lo)
}

export function median (xs: readonly number[]): number {
  return percentile(xs, 50)
}

export function min (xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => Math.min(a, b), Infinity)
}

export function max (xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => Math.max(a, b), -Infinity)
}

export function mean (xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length
}

/** Round to `digits` significant digits, for readable JSON (keeps integers as they are). */
export function round (x: number, digits = 4): number {
  if (!Number.isFinite(x) || x === 0 || Number.isInteger(x)) return x
  return Number(x.toPrecision(digits))
}
