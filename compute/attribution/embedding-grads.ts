// The classifier's embedding adapter in the per-example gradient, without a per-example
// copy of its table (a bank of a 32k-row table per example would not fit). A mail
// reaches the table only through its bag, bag = sum_k w_k (emb[id_k] + s A[id_k] B), so
// from g = dLoss/dbag ([embed], one row per example, given by the example-gradient
// graph) the adapter's gradient is, exactly:
//   dLoss/dA[id_k] += s w_k (B g)          rank r, only the mail's own rows (sparse)
//   dLoss/dB        = s u g^T, u = sum_k w_k A[id_k]        r x embed (dense)
// TracIn needs only dot products with the mean validation gradient, which is kept dense.
// All sums run in float64 in a fixed order.

import { ShapeMismatchError } from '../errors.ts'

export interface EmbeddingAdapter {
  /** emb.lora_a, [rows, rank]. */
  a: Float32Array
  /** emb.lora_b, [rank, embed]. */
  b: Float32Array
  rank: number
  embed: number
  /** alpha / rank. */
  scale: number
}

/** One example's features: `k` bucket ids and their weights starting at `offset`. */
export interface ExampleFeatures { ids: BigInt64Array, weights: Float32Array, offset: number, k: number }

/** A dense gradient of the embedding adapter (the validation mean): A's rows and B. */
export interface EmbeddingGradient { a: Float64Array, b: Float64Array }

export class EmbeddingAdapterGrads {
  private readonly ad: EmbeddingAdapter
  private readonly rows: number
  // Scratch: B g (rank) and u (rank) of the example at hand.
  private readonly bg: Float64Array
  private readonly u: Float64Array

  constructor (adapter: EmbeddingAdapter) {
    const { a, b, rank, embed } = adapter
    if (b.length !== rank * embed || a.length % rank !== 0) throw new ShapeMismatchError('embedding adapter factors do not match rank and embed', { a: a.length, b: b.length, rank, embed })
    this.ad = adapter
    this.rows = a.length / rank
    this.bg = new Float64Array(rank)
    this.u = new Float64Array(rank)
  }

  zero (): EmbeddingGradient {
    return { a: new Float64Array(this.rows * this.ad.rank), b: new Float64Array(this.ad.rank * this.ad.embed) }
  }

  /** acc += factor x this example's gradient. */
  accumulate (acc: EmbeddingGradient, g: Float32Array, gOffset: number, f: ExampleFeatures, factor: number): void {
    const { rank, embed, scale } = this.ad
    this.prepare(g, gOffset, f)
    for (let k = 0; k < f.k; k++) {
      const w = f.weights[f.offset + k]
      if (w === 0) continue
      const row = this.row(f, k) * rank
      const c = factor * scale * w
      for (let j = 0; j < rank; j++) acc.a[row + j] += c * this.bg[j]
    }
    for (let i = 0; i < rank; i++) {
      const c = factor * scale * this.u[i]
      for (let j = 0; j < embed; j++) acc.b[i * embed + j] += c * g[gOffset + j]
    }
  }

  /** This example's gradient . v. */
  dot (v: EmbeddingGradient, g: Float32Array, gOffset: number, f: ExampleFeatures): number {
    const { rank, embed, scale } = this.ad
    this.prepare(g, gOffset, f)
    let sa = 0
    for (let k = 0; k < f.k; k++) {
      const w = f.weights[f.offset + k]
      if (w === 0) continue
      const row = this.row(f, k) * rank
      let q = 0
      for (let j = 0; j < rank; j++) q += this.bg[j] * v.a[row + j]
      sa += scale * w * q
    }
    let sb = 0
    for (let i = 0; i < rank; i++) {
      let q = 0
      for (let j = 0; j < embed; j++) q += g[gOffset + j] * v.b[i * embed + j]
      sb += scale * this.u[i] * q
    }
    return sa + sb
  }

  /** acc += factor x this example's gradient squared, coordinate by coordinate (a diagonal). */
  accumulateSquares (acc: EmbeddingGradient, g: Float32Array, gOffset: number, f: ExampleFeatures, factor: number): void {
    const { rank, embed, scale } = this.ad
    this.prepare(g, gOffset, f)
    for (const [row, w] of this.rowWeights(f)) {
      for (let j = 0; j < rank; j++) acc.a[row * rank + j] += factor * (scale * w * this.bg[j]) ** 2
    }
    for (let i = 0; i < rank; i++) {
      for (let j = 0; j < embed; j++) acc.b[i * embed + j] += factor * (scale * this.u[i] * g[gOffset + j]) ** 2
    }
  }

  /** |gradient|^2 (repeated bucket ids in one mail add up before squaring). */
  normSq (g: Float32Array, gOffset: number, f: ExampleFeatures): number {
    const { rank, embed, scale } = this.ad
    this.prepare(g, gOffset, f)
    const perRow = this.rowWeights(f)
    let bgSq = 0
    for (let j = 0; j < rank; j++) bgSq += this.bg[j] * this.bg[j]
    let s = 0
    for (const w of perRow.values()) s += scale * scale * w * w * bgSq
    let gSq = 0
    for (let j = 0; j < embed; j++) gSq += g[gOffset + j] * g[gOffset + j]
    let uSq = 0
    for (let i = 0; i < rank; i++) uSq += this.u[i] * this.u[i]
    return s + scale * scale * uSq * gSq
  }

  /** Each table row this mail touches, with its summed weight. */
  private rowWeights (f: ExampleFeatures): Map<number, number> {
    const perRow = new Map<number, number>()
    for (let k = 0; k < f.k; k++) {
      const w = f.weights[f.offset + k]
      if (w !== 0) perRow.set(this.row(f, k), (perRow.get(this.row(f, k)) ?? 0) + w)
    }
    return perRow
  }

  private row (f: ExampleFeatures, k: number): number {
    const id = Number(f.ids[f.offset + k])
    if (!Number.isInteger(id) || id < 0 || id >= this.rows) throw new ShapeMismatchError('feature id outside the embedding table', { id, rows: this.rows })
    return id
  }

  /** B g and u = sum_k w_k A[id_k] for this example. */
  private prepare (g: Float32Array, gOffset: number, f: ExampleFeatures): void {
    const { a, b, rank, embed } = this.ad
    for (let i = 0; i < rank; i++) {
      let q = 0
      for (let j = 0; j < embed; j++) q += b[i * embed + j] * g[gOffset + j]
      this.bg[i] = q
    }
    this.u.fill(0)
    for (let k = 0; k < f.k; k++) {
      const w = f.weights[f.offset + k]
      if (w === 0) continue
      const row = this.row(f, k) * rank
      for (let i = 0; i < rank; i++) this.u[i] += w * a[row + i]
    }
  }
}
