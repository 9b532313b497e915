// The attribution harness's yardsticks: detection AUC (do the scores rank the bad
// contributors below the good ones?) and Spearman's rank correlation with ground truth.

/** P(score of a random good contributor > score of a random bad one); ties count half. */
export function detectionAuc (scores: readonly number[], bad: readonly boolean[]): number {
  const good = scores.filter((_, i) => !bad[i])
  const worse = scores.filter((_, i) => bad[i])
  if (good.length === 0 || worse.length === 0) return NaN
  let wins = 0
  for (const g of good) for (const b of worse) wins += g > b ? 1 : g === b ? 0.5 : 0
  return wins / (good.length * worse.length)
}

/** Ranks 1..n with ties given their average rank. */
export function ranks (xs: readonly number[]): number[] {
  const order = xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0])
  const out = new Array<number>(xs.length)
  for (let i = 0; i < order.length;) {
    let j = i
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++
    for (let k = i; k <= j; k++) out[order[k][1]] = (i + j) / 2 + 1
    i = j + 1
  }
  return out
}

export function spearman (a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length || a.length < 2) return NaN
  const ra = ranks(a)
  const rb = ranks(b)
  const mean = (a.length + 1) / 2
  let num = 0
  let da = 0
  let db = 0
  for (let i = 0; i < a.length; i++) {
    num += (ra[i] - mean) * (rb[i] - mean)
    da += (ra[i] - mean) ** 2
    db += (rb[i] - mean) ** 2
  }
  return num / Math.sqrt(da * db)
}
