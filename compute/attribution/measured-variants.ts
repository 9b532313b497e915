// Estimators and breakdowns the attribution bench measures beside the paid TracIn and
// DataInf, computed in the same passes over the checkpoints (the network never runs
// them: a job pays for TracIn and DataInf only). Per training example:
//  - 'tracin-adam': each training gradient preconditioned as Adam stepped it (LESS, Xia
//    et al. 2024, without momentum): lr x (g / (sqrt(v^) + eps)) . v_val, from the
//    second moments the checkpoints store;
//  - 'tracin-balanced' (classifiers): TracIn against the class-balanced validation
//    gradient, each class's mean weighing the same;
//  - 'tracin-emb' (classifiers with an embedding adapter): TracIn over every factor of
//    the adapter, the embedding table's included (embedding-grads.ts); 'tracin-emb-balanced'
//    the same against the class-balanced validation gradient;
//  - 'self-influence': lr x |g_k|^2 over the checkpoints (not an estimate of value: how
//    far the run bent to fit the example, to find junk by), over the banked factors;
//    'self-influence-emb' with the embedding adapter's part added;
//  - 'datainf-layer': DataInf damped by 0.1 x the layer's mean squared gradient norm;
//  - 'if-cg' (damping 0.1): the influence function at the
//    final adapter with the exact damped empirical-Fisher inverse over every factor
//    (influence-cg.ts); 'if-cg-layers' the same without the embedding adapter;
//  - breakdowns of the paid TracIn, each summing to it: '@checkpoint:<step>' (one per
//    point, the trapezoid's weight included), '@layer:<target>' (one per LoRA target),
//    '@val-class:<c>' (against validation examples of class c only); and '@layer:emb',
//    the embedding adapter's part of 'tracin-emb'.

import { ShapeMismatchError } from '../errors.ts'
import type { ParamSpec } from '../models/param-spec.ts'
import { sizeOf, type ParamSet } from '../tensors/param-set.ts'
import { DEFAULT_ADAMW } from '../train/adamw.ts'
import { EmbeddingAdapterGrads, type EmbeddingAdapter, type EmbeddingGradient, type ExampleFeatures } from './embedding-grads.ts'
import { datainf, type Block } from './influence.ts'
import { influenceCg } from './influence-cg.ts'

export interface VariantSources {
  n: number
  d: number
  bank: readonly ParamSpec[]
  /** Adam's state per scoring point (the initial point takes the first checkpoint's), when every checkpoint has one. */
  adam?: ReadonlyArray<{ t: number, v: ParamSet }>
  /** Step of each scoring point (0 = the initial adapter). */
  steps: readonly number[]
  /** Classifiers: the validation labels, for the per-class breakdown and the balanced gradient. */
  valLabels?: Int32Array
  /** Classifiers with an embedding adapter: its factors at a point, and each example's features. */
  embedding?: { at: (params: ParamSet) => EmbeddingAdapter, features: (set: 'train' | 'val', example: number) => ExampleFeatures }
}

export class MeasuredVariants {
  private readonly s: VariantSources
  private readonly blocks: Array<{ name: string, offset: number, size: number }>
  private readonly classes: number[]
  private readonly out = new Map<string, Float64Array>()
  // The point being scored.
  private point = 0
  private weight = 0
  private valSums: { byClass: Float64Array[], emb?: EmbeddingGradient, embByClass: EmbeddingGradient[], embGrads?: EmbeddingAdapterGrads } = { byClass: [], embByClass: [] }
  private vPre?: Float64Array
  private vBalanced?: Float64Array
  private embBalanced?: EmbeddingGradient
  // The final point's dLoss/dbag rows, for the influence function over the whole adapter.
  private finalBag?: Float32Array
  readonly notes: string[] = []

  constructor (s: VariantSources) {
    this.s = s
    this.blocks = []
    let offset = 0
    for (let i = 0; i < s.bank.length; i += 2) {
      const size = sizeOf(s.bank[i].shape) + sizeOf(s.bank[i + 1].shape)
      this.blocks.push({ name: s.bank[i].name.replace(/\.lora_[ab]$/, ''), offset, size })
      offset += size
    }
    if (offset !== s.d) throw new ShapeMismatchError('banked factors do not fill the gradient', { offset, d: s.d })
    this.classes = s.valLabels !== undefined ? [...new Set(s.valLabels)].sort((a, b) => a - b) : []
  }

  /** Starts a scoring point: its index, the trapezoid's lr weight and the adapter there. */
  begin (point: number, weight: number, params: ParamSet): void {
    this.point = point
    this.weight = weight
    const embGrads = this.s.embedding !== undefined ? new EmbeddingAdapterGrads(this.s.embedding.at(params)) : undefined
    this.valSums = { byClass: this.classes.map(() => new Float64Array(this.s.d)), emb: embGrads?.zero(), embByClass: embGrads !== undefined ? this.classes.map(() => embGrads.zero()) : [], embGrads }
    this.vPre = undefined
    this.vBalanced = undefined
    this.embBalanced = undefined
  }

  /** A batch of validation gradients (rows from `start`), with dLoss/dbag where the graph gives it. */
  valBatch (g: Float32Array, rows: number, start: number, bag?: Float32Array): void {
    const { d, valLabels, embedding } = this.s
    for (let r = 0; r < rows; r++) {
      if (valLabels !== undefined) {
        const acc = this.valSums.byClass[this.classes.indexOf(valLabels[start + r])]
        for (let j = 0; j < d; j++) acc[j] += g[r * d + j]
      }
      if (bag !== undefined && embedding !== undefined && this.valSums.emb !== undefined) {
        const embed = bag.length / rows
        const f = embedding.features('val', start + r)
        this.valSums.embGrads!.accumulate(this.valSums.emb, bag, r * embed, f, 1)
        if (valLabels !== undefined) this.valSums.embGrads!.accumulate(this.valSums.embByClass[this.classes.indexOf(valLabels[start + r])], bag, r * embed, f, 1)
      }
    }
  }

  /** The validation pass is done: `v` is the mean validation gradient over `count` examples. */
  endVal (v: Float64Array, count: number): void {
    const m = Math.max(1, count)
    for (const acc of this.valSums.byClass) for (let j = 0; j < acc.length; j++) acc[j] /= m
    if (this.valSums.emb !== undefined) {
      for (let j = 0; j < this.valSums.emb.a.length; j++) this.valSums.emb.a[j] /= m
      for (let j = 0; j < this.valSums.emb.b.length; j++) this.valSums.emb.b[j] /= m
    }
    const adam = this.s.adam?.[this.point]
    // g/(sqrt(v^)+eps) . v_val = g . (v_val/(sqrt(v^)+eps)): precondition the one validation gradient.
    if (adam !== undefined) { const pre = adamPreconditioner(adam, this.s.bank, this.s.d); this.vPre = v.map((x, j) => x * pre[j]) }
    if (this.valSums.byClass.length > 0 && this.s.valLabels !== undefined) {
      // Each class's mean weighs the same: sum_c (count/count_c) / classes x class sum.
      const balanced = new Float64Array(this.s.d)
      const embBalanced = this.valSums.embGrads?.zero()
      this.classes.forEach((c, i) => {
        const nc = this.s.valLabels!.filter(l => l === c).length
        const f = m / (nc * this.classes.length)
        for (let j = 0; j < balanced.length; j++) balanced[j] += f * this.valSums.byClass[i][j]
        if (embBalanced !== undefined) {
          const e = this.valSums.embByClass[i]
          for (let j = 0; j < e.a.length; j++) embBalanced.a[j] += f * e.a[j] / m
          for (let j = 0; j < e.b.length; j++) embBalanced.b[j] += f * e.b[j] / m
        }
      })
      this.vBalanced = balanced
      this.embBalanced = embBalanced
    }
  }

  /** A batch of training gradients at this point (rows from `start`). */
  trainBatch (g: Float32Array, rows: number, start: number, v: Float64Array, bag?: Float32Array): void {
    const { d, embedding } = this.s
    const w = this.weight
    if (bag !== undefined && this.point === this.s.steps.length - 1) {
      const embed = bag.length / rows
      this.finalBag ??= new Float32Array(this.s.n * embed)
      this.finalBag.set(bag, start * embed)
    }
    if (w === 0) return
    const add = (name: string, k: number, x: number): void => {
      let a = this.out.get(name)
      if (a === undefined) this.out.set(name, a = new Float64Array(this.s.n))
      a[k] += x
    }
    for (let r = 0; r < rows; r++) {
      const k = start + r
      const o = r * d
      let self = 0
      let all = 0
      for (const b of this.blocks) {
        let q = 0
        for (let j = b.offset; j < b.offset + b.size; j++) { q += g[o + j] * v[j]; self += g[o + j] * g[o + j] }
        add(`@layer:${b.name}`, k, w * q)
        all += q
      }
      add(`@checkpoint:${this.s.steps[this.point]}`, k, w * all)
      this.classes.forEach((c, i) => add(`@val-class:${c}`, k, w * dotAt(g, o, this.valSums.byClass[i], d)))
      if (this.vBalanced !== undefined) add('tracin-balanced', k, w * dotAt(g, o, this.vBalanced, d))
      if (this.vPre !== undefined) add('tracin-adam', k, w * dotAt(g, o, this.vPre, d))
      if (bag !== undefined && embedding !== undefined && this.valSums.emb !== undefined) {
        const embed = bag.length / rows
        const f = embedding.features('train', k)
        const embDot = this.valSums.embGrads!.dot(this.valSums.emb, bag, r * embed, f)
        add('@layer:emb', k, w * embDot)
        add('tracin-emb', k, w * (all + embDot))
        if (this.embBalanced !== undefined && this.vBalanced !== undefined) add('tracin-emb-balanced', k, w * (dotAt(g, o, this.vBalanced, d) + this.valSums.embGrads!.dot(this.embBalanced, bag, r * embed, f)))
        add('self-influence-emb', k, w * (self + this.valSums.embGrads!.normSq(bag, r * embed, f)))
      }
      add('self-influence', k, w * self)
    }
  }

  /** Every variant, plus the DataInf damped per layer (from the final point's gradients). */
  result (finalTrain: Float32Array, finalVal: Float64Array, blocks: readonly Block[]): Record<string, Float64Array> {
    const out: Record<string, Float64Array> = { 'datainf-layer': datainf(finalTrain, this.s.n, this.s.d, finalVal, blocks, { perCoordinate: false }) }
    const { n, d, embedding } = this.s
    const emb = this.finalBag !== undefined && embedding !== undefined && this.valSums.embGrads !== undefined && this.valSums.emb !== undefined
      ? { grads: this.valSums.embGrads, bag: this.finalBag, embed: this.finalBag.length / n, features: (k: number) => embedding.features('train', k) }
      : undefined
    const cg = (name: string, withEmb: boolean): void => {
      const r = influenceCg({ n, d, dense: finalTrain, emb: withEmb ? emb : undefined }, { dense: finalVal as Float64Array, emb: withEmb ? this.valSums.emb : undefined }, { damping: 0.1, iterations: 200, tolerance: 1e-8 })
      out[name] = r.scores
      this.notes.push(`${name}: lambda ${r.lambda.toExponential(3)}, ${r.iterations} CG iterations, residual ${r.residual.toExponential(2)}`)
    }
    cg('if-cg-layers', false)
    // 'if-cg' over the whole adapter does not converge in 200 iterations here (residual
    // 0.5-0.7: a table row one mail touches has a rank-one block); its note says so.
    // Without an embedding adapter it is the same solve as 'if-cg-layers'.
    if (emb !== undefined) cg('if-cg', true)
    else out['if-cg'] = out['if-cg-layers']
    for (const [name, x] of this.out) out[name] = x
    return out
  }
}

function dotAt (g: Float32Array, o: number, v: Float64Array, d: number): number {
  let q = 0
  for (let j = 0; j < d; j++) q += g[o + j] * v[j]
  return q
}

/** 1 / (sqrt(v / (1 - beta2^t)) + eps) per banked coordinate, in the gradient rows' layout. */
function adamPreconditioner (adam: { t: number, v: ParamSet }, bank: readonly ParamSpec[], d: number): Float64Array {
  const out = new Float64Array(d)
  const bc2 = 1 - DEFAULT_ADAMW.beta2 ** Math.max(1, adam.t)
  let offset = 0
  for (const spec of bank) {
    const v = adam.v.get(spec.name)
    const size = sizeOf(spec.shape)
    if (v === undefined || v.data.length !== size) throw new ShapeMismatchError('checkpoint has no second moment for a banked factor', { name: spec.name })
    for (let j = 0; j < size; j++) out[offset + j] = 1 / (Math.sqrt(v.data[j] / bc2) + DEFAULT_ADAMW.eps)
    offset += size
  }
  if (offset !== d) throw new ShapeMismatchError('banked factors do not fill the gradient', { offset, d })
  return out
}
