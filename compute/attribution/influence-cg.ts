// The influence function at the final adapter without DataInf's shortcut: score_k =
// v^T (F + lambda I)^-1 g_k, F = (1/n) sum_i g_i g_i^T the empirical Fisher over EVERY
// factor of the adapter (the classifier's embedding adapter included, through
// embedding-grads.ts), solved by conjugate gradients on the stored per-example gradients.
// DataInf inverts each layer's block separately and swaps the inverse and the sum
// (exact only for one example); this is the exact damped inverse, at the price of a few
// dozen passes over gradients already in memory (no model runs). Measured beside the
// paid estimators; positive = training on the example lowers the validation loss.

import { ShapeMismatchError } from '../errors.ts'
import type { EmbeddingAdapterGrads, EmbeddingGradient, ExampleFeatures } from './embedding-grads.ts'

export interface FullGradients {
  n: number
  d: number
  /** The banked factors' per-example gradients, n x d. */
  dense: Float32Array
  /** The embedding adapter's, as dLoss/dbag rows (n x embed) and each example's features. */
  emb?: { grads: EmbeddingAdapterGrads, bag: Float32Array, embed: number, features: (k: number) => ExampleFeatures }
}

export interface FullVector { dense: Float64Array, emb?: EmbeddingGradient }

export interface InfluenceCgResult {
  scores: Float64Array
  lambda: number
  /** |r| / |v| after the last iteration. */
  residual: number
  iterations: number
}

/** lambda = damping x the mean of diag(F) over the coordinates some training gradient touches (the reference DataInf's rule, over the whole adapter). */
export function influenceCg (G: FullGradients, v: FullVector, opts: { damping: number, iterations: number, tolerance?: number }): InfluenceCgResult {
  const { n, d, dense, emb } = G
  if (dense.length !== n * d || v.dense.length !== d) throw new ShapeMismatchError('gradients do not have n x d entries', { dense: dense.length, n, d })
  if ((emb === undefined) !== (v.emb === undefined)) throw new ShapeMismatchError('the embedding part must be in both the gradients and the vector')
  const zero = (): FullVector => ({ dense: new Float64Array(d), emb: emb?.grads.zero() })
  // g_k . x
  const gDot = (k: number, x: FullVector): number => {
    let s = 0
    for (let j = 0; j < d; j++) s += dense[k * d + j] * x.dense[j]
    if (emb !== undefined) s += emb.grads.dot(x.emb!, emb.bag, k * emb.embed, emb.features(k))
    return s
  }
  // out += c g_k
  const gAdd = (k: number, c: number, out: FullVector): void => {
    for (let j = 0; j < d; j++) out.dense[j] += c * dense[k * d + j]
    if (emb !== undefined) emb.grads.accumulate(out.emb!, emb.bag, k * emb.embed, emb.features(k), c)
  }
  const dot = (x: FullVector, y: FullVector): number => {
    let s = 0
    for (let j = 0; j < d; j++) s += x.dense[j] * y.dense[j]
    if (x.emb !== undefined && y.emb !== undefined) {
      for (let j = 0; j < x.emb.a.length; j++) s += x.emb.a[j] * y.emb.a[j]
      for (let j = 0; j < x.emb.b.length; j++) s += x.emb.b[j] * y.emb.b[j]
    }
    return s
  }
  const axpy = (a: number, x: FullVector, y: FullVector): void => {
    for (let j = 0; j < d; j++) y.dense[j] += a * x.dense[j]
    if (x.emb !== undefined && y.emb !== undefined) {
      for (let j = 0; j < x.emb.a.length; j++) y.emb.a[j] += a * x.emb.a[j]
      for (let j = 0; j < x.emb.b.length; j++) y.emb.b[j] += a * x.emb.b[j]
    }
  }

  // diag(F): its trace and the coordinates in use (table rows no mail touches are out)
  // set lambda; with lambda it is CG's (Jacobi) preconditioner: the embedding table's rows
  // are touched by one mail or by thousands, scales too far apart for plain CG.
  const diag = zero()
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < d; j++) diag.dense[j] += dense[k * d + j] ** 2 / n
    if (emb !== undefined) emb.grads.accumulateSquares(diag.emb!, emb.bag, k * emb.embed, emb.features(k), 1 / n)
  }
  let trace = 0
  let used = 0
  const each = (x: FullVector, fn: (value: number) => void): void => {
    x.dense.forEach(fn)
    if (x.emb !== undefined) { x.emb.a.forEach(fn); x.emb.b.forEach(fn) }
  }
  each(diag, (q) => { trace += q; if (q > 0) used++ })
  const lambda = Math.max(opts.damping * trace / Math.max(1, used), 1e-20)
  const precondition = (x: FullVector): FullVector => {
    const out = zero()
    for (let j = 0; j < d; j++) out.dense[j] = x.dense[j] / (diag.dense[j] + lambda)
    if (x.emb !== undefined && out.emb !== undefined && diag.emb !== undefined) {
      for (let j = 0; j < x.emb.a.length; j++) out.emb.a[j] = x.emb.a[j] / (diag.emb.a[j] + lambda)
      for (let j = 0; j < x.emb.b.length; j++) out.emb.b[j] = x.emb.b[j] / (diag.emb.b[j] + lambda)
    }
    return out
  }

  // (F + lambda I) x
  const apply = (x: FullVector): FullVector => {
    const out = zero()
    axpy(lambda, x, out)
    for (let k = 0; k < n; k++) {
      const s = gDot(k, x)
      if (s !== 0) gAdd(k, s / n, out)
    }
    return out
  }

  // Preconditioned conjugate gradients from x = 0.
  const x = zero()
  const r = zero()
  axpy(1, v, r)
  let z = precondition(r)
  const p = zero()
  axpy(1, z, p)
  let rz = dot(r, z)
  const vv = Math.max(dot(v, v), 1e-300)
  let rr = vv
  let it = 0
  const tol2 = (opts.tolerance ?? 1e-10) ** 2
  for (; it < opts.iterations && rr / vv > tol2; it++) {
    const ap = apply(p)
    const alpha = rz / dot(p, ap)
    axpy(alpha, p, x)
    axpy(-alpha, ap, r)
    rr = dot(r, r)
    z = precondition(r)
    const next = dot(r, z)
    const beta = next / rz
    rz = next
    // p = z + beta p
    for (let j = 0; j < d; j++) p.dense[j] = z.dense[j] + beta * p.dense[j]
    if (p.emb !== undefined && z.emb !== undefined) {
      for (let j = 0; j < p.emb.a.length; j++) p.emb.a[j] = z.emb.a[j] + beta * p.emb.a[j]
      for (let j = 0; j < p.emb.b.length; j++) p.emb.b[j] = z.emb.b[j] + beta * p.emb.b[j]
    }
  }
  const scores = new Float64Array(n)
  for (let k = 0; k < n; k++) scores[k] = gDot(k, x)
  return { scores, lambda, residual: Math.sqrt(rr / vv), iterations: it }
}
