// How far a ground truth can be trusted, and intervals for the figures measured on it:
// split-half reliability over training seeds (Spearman-Brown corrected), bootstrap
// intervals over contributors, and a one-sided t-test for "this contributor helps".
import { Rng } from '../../compute/random.ts'
import { spearman } from './metrics.ts'

/** The reliability of the whole from the correlation r of its two halves: 2r / (1 + r). */
export function spearmanBrown (r: number): number {
  return (2 * r) / (1 + r)
}

export interface Interval { value: number, lo: number, hi: number }

/**
 * `stat` on all n items, with a 95% percentile interval over `resamples` bootstrap
 * resamples of the items (drawn with replacement, seeded; resamples where the statistic
 * is not a number, e.g. all ranks tied, are left out).
 */
export function bootstrap (n: number, stat: (items: readonly number[]) => number, opts: { resamples?: number, seed?: number } = {}): Interval {
  const all = Array.from({ length: n }, (_, i) => i)
  const rng = new Rng(opts.seed ?? 1)
  const values: number[] = []
  for (let b = 0; b < (opts.resamples ?? 1000); b++) {
    const v = stat(all.map(() => rng.int(n)))
    if (Number.isFinite(v)) values.push(v)
  }
  values.sort((a, b) => a - b)
  const at = (q: number): number => values.length === 0 ? NaN : values[Math.min(values.length - 1, Math.floor(q * values.length))]
  return { value: stat(all), lo: at(0.025), hi: at(0.975) }
}

/** Spearman rho of two per-item vectors with its bootstrap interval over items. */
export function spearmanInterval (a: readonly number[], b: readonly number[], seed = 1): Interval {
  return bootstrap(a.length, items => spearman(items.map(i => a[i]), items.map(i => b[i])), { seed })
}

export const mean = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length

/** Per item, the mean over the given rows (rows = seeds, columns = items). */
export function columnMeans (rows: ReadonlyArray<readonly number[]>): number[] {
  return rows[0].map((_, j) => mean(rows.map(r => r[j])))
}

/** The seeds in two disjoint halves: the first floor(S/2) and the rest. */
export function halves<T> (rows: readonly T[]): [T[], T[]] {
  const h = Math.floor(rows.length / 2)
  return [rows.slice(0, h), rows.slice(h)]
}

/**
 * Split-half reliability of the seed mean: Spearman between the item means of the two
 * halves of the seeds (raw), Spearman-Brown corrected, with the corrected figure's
 * bootstrap interval over items.
 */
export function splitHalf (rows: ReadonlyArray<readonly number[]>, seed = 1): Interval & { raw: number } {
  if (rows.length < 2) return { value: NaN, lo: NaN, hi: NaN, raw: NaN }
  const [a, b] = halves(rows).map(columnMeans)
  const iv = bootstrap(a.length, items => spearmanBrown(spearman(items.map(i => a[i]), items.map(i => b[i]))), { seed })
  return { ...iv, raw: spearman(a, b) }
}

/** One-sided 95% critical values of Student's t by degrees of freedom (then the normal's). */
const T95: ReadonlyArray<readonly [number, number]> = [[1, 6.314], [2, 2.92], [3, 2.353], [4, 2.132], [5, 2.015], [6, 1.943], [7, 1.895], [8, 1.86], [9, 1.833], [10, 1.812], [12, 1.782], [15, 1.753], [20, 1.725], [30, 1.697], [60, 1.671], [120, 1.658]]

/** Is the mean of these samples above 0 at 95% (one-sided t-test)? */
export function significantlyPositive (xs: readonly number[]): boolean {
  const n = xs.length
  if (n < 2) return false
  const m = mean(xs)
  const sd = Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (n - 1))
  if (sd === 0) return m > 0
  let crit = 1.645
  for (const [df, t] of T95) if (n - 1 <= df) { crit = t; break }
  return m / (sd / Math.sqrt(n)) > crit
}
