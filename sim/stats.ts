// Summary statistics of a run's distributions, computed the same way in every report.

/** Gini coefficient of non-negative values (0 = equal, toward 1 = one takes all); sorts `xs` in place. 0 for none or all zero. */
export function gini (xs: Float64Array): number {
  const n = xs.length
  if (n === 0) return 0
  xs.sort()
  let weighted = 0
  let sum = 0
  for (let i = 0; i < n; i++) {
    const x = Math.max(0, xs[i])
    weighted += (i + 1) * x
    sum += x
  }
  return sum === 0 ? 0 : (2 * weighted) / (n * sum) - (n + 1) / n
}
