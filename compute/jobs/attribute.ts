// Proof of Attribution for an adapter: per-example gradients at the run's checkpoints
// (TracIn-CP) and at the final adapter (DataInf), summed per contribution. The inputs
// are exactly what the training job used (same examples, same checkpoints, same seed),
// so anyone holding the datanet version and the checkpoint chain can recompute any
// score. Gradients are streamed a batch at a time: only one dot product per example
// and checkpoint is kept, plus the final point's gradients for DataInf.

import { buildClassifierExampleGrads, buildLmExampleGrads, ExampleGradients, type ExampleGradGraph } from '../attribution/example-grads.ts'
import { datainf, sumByGroup, tracin, type Block } from '../attribution/influence.ts'
import { MeasuredVariants, type VariantSources } from '../attribution/measured-variants.ts'
import { CountSketch, SKETCH_DIMS } from '../attribution/sketch.ts'
import { ShapeMismatchError } from '../errors.ts'
import type { Model } from '../models/artifacts.ts'
import type { ClassifierConfig } from '../models/classifier/config.ts'
import { classifierBatch, type ClassifierData } from '../models/classifier/train-step.ts'
import type { LmConfig } from '../models/lm/config.ts'
import { lmBatch, type LmWindows } from '../models/lm/data.ts'
import { loraA, loraB, type LoraConfig } from '../models/lora.ts'
import type { ParamSpec } from '../models/param-spec.ts'
import { sizeOf, type ParamSet } from '../tensors/param-set.ts'
import { decodeCheckpoint } from '../train/checkpoint.ts'
import type { CheckpointStore } from '../train/checkpoint-store.ts'
import { lrMass, type TrainingHyper } from './run-training.ts'
import { buildLmStepGraph } from '../models/lm/graphs.ts'
import { StepRunner } from '../models/step-runner.ts'

/** The seed of the sketch every attribution uses, so sketches of one adapter compare. */
export const SKETCH_SEED = 0x5eed

export interface AttributionCheckpoint {
  step: number
  params: ParamSet
  /** Learning-rate mass of the steps this checkpoint stands for (sum of their lrs). */
  lrMass: number
  /** Adam's second moment at the checkpoint and the updates it has seen (for the preconditioned TracIn). */
  adam?: { t: number, v: ParamSet }
}

export interface AttributionInputs {
  base: Model
  lora: LoraConfig
  /** The adapter before the first step (the job's seeded initialisation). */
  initial: ParamSet
  /** The run's checkpoints in order; the last one is the final adapter. */
  checkpoints: readonly AttributionCheckpoint[]
  /** Which contribution each training example came from. */
  groups: readonly string[]
  batch?: number
  threads?: number
  /** false: ORT graph optimisations off (other kernels; how the attribution tolerance was measured). */
  optimize?: boolean
  /** Also the estimators measured beside the paid ones (AttributionScores.variants): the bench asks, jobs do not pay for them. */
  variants?: boolean
}

export interface AttributionScores {
  /** Per training example. */
  tracin: Float64Array
  datainf: Float64Array
  /** Estimators and breakdowns measured beside the paid ones (measured-variants.ts), per training example; empty unless AttributionInputs.variants. */
  variants: Record<string, Float64Array>
  /** How the measured variants were computed (damping, iterations), for the bench's notes. */
  variantNotes: string[]
  /** Summed per contribution (positive: lowers validation loss). */
  byGroup: Array<{ group: string, examples: number, tracin: number, datainf: number, meanLoss: number }>
  ms: { gradients: number, scores: number }
  dims: number
  /** Each training example's loss under the final adapter (per mail, or summed over a window's tokens). */
  finalLoss: Float64Array
  /** The validation examples' mean loss under the final adapter, in the same units. */
  validationLoss: number
  /** Per contribution: a CountSketch of its examples' summed gradient at the final adapter. */
  sketches: Map<string, Float32Array>
  sketch: { k: number, seed: number }
}

/** How one model kind streams per-example gradients over its training and validation sets. */
interface GradientSource {
  graph: ExampleGradGraph
  trainCount: number
  valCount: number
  /** Calls fn per batch; `start` counts rows of `indices` (default: every example, in order). `bag`: dLoss/dbag, where the graph gives it. */
  each: (grads: ExampleGradients, params: ParamSet, set: 'train' | 'val', fn: (g: Float32Array, rows: number, start: number, losses: Float32Array, bag?: Float32Array) => void, indices?: readonly number[]) => Promise<void>
  /** The mean validation gradient and loss without per-example gradients, where cheaper. */
  meanVal?: (params: ParamSet) => Promise<{ v: Float64Array, loss: number }>
  release?: () => Promise<void>
  /** What the measured variants need of this model kind (classifiers: labels, the embedding adapter). */
  variants?: Pick<VariantSources, 'valLabels' | 'embedding'>
}

type ClassifierAttribution = AttributionInputs & { train: ClassifierData, validation: ClassifierData }
type LmAttribution = AttributionInputs & { train: LmWindows, validation: LmWindows }

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

function classifierSource (job: ClassifierAttribution): GradientSource {
  if (job.base.meta.kind !== 'classifier') throw new ShapeMismatchError('base model is not a classifier')
  const cfg = job.base.meta.config as ClassifierConfig
  // dLoss/dbag only for the measured variants: the paid path's graph stays as it was.
  const graph = buildClassifierExampleGrads(cfg, job.base.params, job.lora, job.batch ?? 64, { bagGrad: job.variants === true })
  const emb = graph.shared.length > 0 && graph.bagGrad !== undefined
  const rank = job.lora.rank
  return {
    graph,
    trainCount: job.train.count,
    valCount: job.validation.count,
    each: async (grads, params, set, fn, indices) => {
      const data = set === 'train' ? job.train : job.validation
      const rows = indices ?? range(data.count)
      for (let start = 0; start < rows.length; start += graph.batch) {
        const batch = rows.slice(start, start + graph.batch)
        const r = await grads.run(params, classifierBatch(data, batch, graph.batch), batch.length)
        fn(r.grads, batch.length, start, r.losses, r.bag)
      }
    },
    variants: {
      valLabels: job.validation.labels,
      embedding: emb
        ? {
            at: (params) => ({ a: factor(params, loraA('emb')), b: factor(params, loraB('emb')), rank, embed: cfg.embed, scale: job.lora.alpha / rank }),
            features: (set, example) => { const d = set === 'train' ? job.train : job.validation; return { ids: d.features.ids, weights: d.features.weights, offset: example * d.k, k: d.k } }
          }
        : undefined
    }
  }
}

function factor (params: ParamSet, name: string): Float32Array {
  const t = params.get(name)
  if (t === undefined) throw new ShapeMismatchError(`adapter has no ${name}`, { name })
  return t.data
}

/** Examples are the training windows; each window counts for the document it starts in. */
function lmSource (job: LmAttribution): GradientSource {
  if (job.base.meta.kind !== 'lm') throw new ShapeMismatchError('base model is not a language model')
  const cfg = job.base.meta.config as LmConfig
  const graph = buildLmExampleGrads(cfg, job.base.params, job.lora, job.batch ?? 16, job.train.seq)
  let step: Promise<StepRunner> | undefined
  return {
    graph,
    trainCount: job.train.count,
    valCount: job.validation.count,
    each: async (grads, params, set, fn, indices) => {
      const w = set === 'train' ? job.train : job.validation
      await grads.lmWindows(params, w, indices ?? range(w.count), fn)
    },
    // Validation needs only the mean gradient: the training step graph (one shared
    // adapter, no per-window bank) gives each batch's token-mean gradient, and
    // tokens x that is the batch's sum of per-window gradients, in the same layout.
    meanVal: async (params) => {
      const batch = VAL_BATCH
      step ??= StepRunner.create(buildLmStepGraph({ cfg, batch, seq: job.validation.seq, mode: { kind: 'lora', base: job.base.params, lora: job.lora }, train: true }), { threads: job.threads, optimize: job.optimize, device: 'cpu' /* as ExampleGradients: attribution runs on the CPU */ })
      const runner = await step
      const v = new Float64Array(graph.dims)
      let loss = 0
      const all = range(job.validation.count)
      for (let start = 0; start < all.length; start += batch) {
        const b = lmBatch(job.validation, all.slice(start, start + batch), batch)
        const tokens = b.count
        const r = await runner.run(params, { tokens: { data: b.tokens, dims: [batch, job.validation.seq] }, targets: { data: b.targets, dims: [batch, job.validation.seq] }, mask: { data: b.mask, dims: [batch, job.validation.seq] } }, b.count)
        loss += r.loss * tokens
        let offset = 0
        for (const s of graph.bank) {
          const t = r.grads.get(s.name)
          if (t === undefined) throw new ShapeMismatchError(`step graph has no gradient for ${s.name}`)
          for (let j = 0; j < t.data.length; j++) v[offset + j] += t.data[j] * tokens
          offset += t.data.length
        }
      }
      const n = Math.max(1, job.validation.count)
      for (let j = 0; j < v.length; j++) v[j] /= n
      return { v, loss: loss / n }
    },
    release: async () => { if (step !== undefined) await (await step).release() }
  }
}

/** Validation windows per step-graph run: only the mean gradient is kept, so batches can be wide. */
const VAL_BATCH = 32

export async function attributeClassifier (job: ClassifierAttribution): Promise<AttributionScores> {
  return await attribute(job, classifierSource(job))
}

export async function attributeLm (job: LmAttribution): Promise<AttributionScores> {
  return await attribute(job, lmSource(job))
}

/**
 * A verifier's recomputation: the TracIn scores of just these training examples, from
 * the same checkpoints. Costs one validation pass per checkpoint plus the sample, not
 * a pass over all the training data.
 */
export async function recomputeTracin (job: ClassifierAttribution | LmAttribution, indices: readonly number[]): Promise<Float64Array> {
  return (await recomputeSample(job, indices)).tracin
}

/** What a verifier recomputes of a sample: each example's TracIn score and final loss, and the validation loss. */
export interface SampleScores {
  tracin: Float64Array
  /** Under the final adapter, in the units of AttributionScores.finalLoss. */
  finalLoss: Float64Array
  validationLoss: number
}

/**
 * The scores the payout depends on, for just these training examples: TracIn over the
 * checkpoints, and at the final adapter each example's loss (the fit gate) and the
 * validation loss. DataInf is not recomputed: it needs every training example's
 * gradient at the final adapter (its Hessian term sums over all of them).
 */
export async function recomputeSample (job: ClassifierAttribution | LmAttribution, indices: readonly number[]): Promise<SampleScores> {
  const source = job.base.meta.kind === 'classifier' ? classifierSource(job as ClassifierAttribution) : lmSource(job as LmAttribution)
  for (const k of indices) if (!Number.isInteger(k) || k < 0 || k >= source.trainCount) throw new ShapeMismatchError('sample index out of range', { index: k, examples: source.trainCount })
  const d = source.graph.dims
  const grads = await ExampleGradients.create(source.graph, job.threads, job.optimize)
  try {
    const out = new Float64Array(indices.length)
    const finalLoss = new Float64Array(indices.length)
    let validationLoss = 0
    const points = [{ params: job.initial, lrMass: 0 }, ...job.checkpoints]
    for (const [i, c] of points.entries()) {
      const weight = (points[i].lrMass + (points[i + 1]?.lrMass ?? 0)) / 2
      const last = i === points.length - 1
      if (weight === 0 && !last) continue
      const v = await meanValGradient(source, grads, c.params, d, last ? (l) => { validationLoss = l } : undefined)
      await source.each(grads, c.params, 'train', (g, rows, start, losses) => {
        if (last) for (let r = 0; r < rows; r++) finalLoss[start + r] = losses[r]
        if (weight === 0) return
        const part = tracin([{ lr: weight, train: g.subarray(0, rows * d), val: v }], rows, d)
        for (let r = 0; r < rows; r++) out[start + r] += part[r]
      }, indices)
    }
    return { tracin: out, finalLoss, validationLoss }
  } finally {
    await grads.release()
    await source.release?.()
  }
}

/** Claimed per-example scores that a recomputation does not reproduce within tolerance. */
export function sampleMismatches (claimed: ReadonlyArray<{ example: number, tracin: number }>, recomputed: ArrayLike<number>, relative: number): Array<{ example: number, claimed: number, recomputed: number }> {
  return claimed.flatMap((c, i) => {
    const r = recomputed[i]
    const scale = Math.max(Math.abs(c.tracin), Math.abs(r), 1e-12)
    return Math.abs(c.tracin - r) <= relative * scale ? [] : [{ example: c.example, claimed: c.tracin, recomputed: r }]
  })
}

async function meanValGradient (source: GradientSource, grads: ExampleGradients, params: ParamSet, d: number, onLoss?: (mean: number) => void, onBatch?: (g: Float32Array, rows: number, start: number, bag?: Float32Array) => void): Promise<Float64Array> {
  // (onBatch wants every validation example's gradient: the classifier's measured variants.)
  if (source.meanVal !== undefined && onBatch === undefined) {
    const r = await source.meanVal(params)
    onLoss?.(r.loss)
    return r.v
  }
  const v = new Float64Array(d)
  let loss = 0
  await source.each(grads, params, 'val', (g, rows, start, losses, bag) => {
    for (let r = 0; r < rows; r++) {
      loss += losses[r]
      for (let j = 0; j < d; j++) v[j] += g[r * d + j]
    }
    onBatch?.(g, rows, start, bag)
  })
  for (let j = 0; j < d; j++) v[j] /= Math.max(1, source.valCount)
  onLoss?.(loss / Math.max(1, source.valCount))
  return v
}

async function attribute (job: AttributionInputs, source: GradientSource): Promise<AttributionScores> {
  const { graph } = source
  const n = source.trainCount
  const d = graph.dims
  if (job.groups.length !== n) throw new ShapeMismatchError('one group per training example', { groups: job.groups.length, examples: n })
  const grads = await ExampleGradients.create(graph, job.threads, job.optimize)
  const started = performance.now()
  try {
    // Each segment between checkpoints is scored at both its ends, half its lr mass at
    // each (the trapezoid rule): with a handful of checkpoints, scoring only at the end
    // would miss the early steps, where an adapter learns most.
    const points = [{ params: job.initial, lrMass: 0 }, ...job.checkpoints]
    const t = new Float64Array(n)
    const measured = job.variants === true
      ? new MeasuredVariants({
        n,
        d,
        bank: graph.bank,
        steps: points.map((p, i) => i === 0 ? 0 : job.checkpoints[i - 1].step),
        // The initial point has no moments yet and takes the first checkpoint's.
        adam: job.checkpoints.length > 0 && job.checkpoints.every(c => c.adam !== undefined) ? points.map((_, i) => job.checkpoints[Math.max(0, i - 1)].adam!) : undefined,
        ...source.variants
      })
      : undefined
    let finalTrain = new Float32Array(0)
    let finalVal: Float64Array<ArrayBufferLike> = new Float64Array(0)
    const finalLoss = new Float64Array(n)
    let validationLoss = 0
    for (const [i, c] of points.entries()) {
      const weight = (points[i].lrMass + (points[i + 1]?.lrMass ?? 0)) / 2
      const last = i === points.length - 1
      measured?.begin(i, weight, c.params)
      const v = await meanValGradient(source, grads, c.params, d, last ? (l) => { validationLoss = l } : undefined, measured !== undefined && source.variants !== undefined ? (g, rows, start, bag) => measured.valBatch(g, rows, start, bag) : undefined)
      measured?.endVal(v, source.valCount)
      if (last) { finalTrain = new Float32Array(n * d); finalVal = v }
      await source.each(grads, c.params, 'train', (g, rows, start, losses, bag) => {
        if (last) {
          finalTrain.set(g.subarray(0, rows * d), start * d)
          for (let r = 0; r < rows; r++) finalLoss[start + r] = losses[r]
        }
        if (weight === 0) return
        const part = tracin([{ lr: weight, train: g.subarray(0, rows * d), val: v }], rows, d)
        for (let r = 0; r < rows; r++) t[start + r] += part[r]
        measured?.trainBatch(g, rows, start, v, bag)
      })
    }
    const gradientMs = performance.now() - started
    const t0 = performance.now()
    // One block per LoRA target: both factors of one layer's update share a Hessian block.
    const blocks: Block[] = []
    let offset = 0
    for (let i = 0; i < graph.bank.length; i += 2) {
      const size = sizeOf(graph.bank[i].shape) + sizeOf(graph.bank[i + 1].shape)
      blocks.push({ offset, size })
      offset += size
    }
    const di = datainf(finalTrain, n, d, finalVal, blocks)
    const tg = sumByGroup(t, job.groups)
    const dg = sumByGroup(di, job.groups)
    const counts = new Map<string, number>()
    for (const g of job.groups) counts.set(g, (counts.get(g) ?? 0) + 1)
    const lg = sumByGroup(finalLoss, job.groups)
    const byGroup = [...tg.keys()].sort().map(group => ({ group, examples: counts.get(group) ?? 0, tracin: tg.get(group) ?? 0, datainf: dg.get(group) ?? 0, meanLoss: (lg.get(group) ?? 0) / Math.max(1, counts.get(group) ?? 0) }))
    const cs = new CountSketch(d, SKETCH_DIMS, SKETCH_SEED)
    const sketches = new Map<string, Float32Array>()
    for (let k = 0; k < n; k++) {
      const group = job.groups[k]
      let acc = sketches.get(group)
      if (acc === undefined) sketches.set(group, acc = new Float32Array(cs.k))
      cs.apply(finalTrain, k * d, acc)
    }
    const variants = measured?.result(finalTrain, finalVal, blocks) ?? {}
    return { tracin: t, datainf: di, variants, variantNotes: measured?.notes ?? [], byGroup, finalLoss, validationLoss, ms: { gradients: gradientMs, scores: performance.now() - t0 }, dims: d, sketches, sketch: { k: cs.k, seed: SKETCH_SEED } }
  } finally {
    await grads.release()
    await source.release?.()
  }
}

/**
 * Steps between the checkpoints TracIn is taken at, per model kind (measured in the
 * attribution bench): for the language model every 100 steps halves the passes over
 * the data (cost 2.5 -> 1.7 training runs) for a small loss of rank agreement with
 * leave-one-out (Spearman 0.58 -> 0.55) and the same detection AUC.
 */
export const TRACIN_STRIDE: Readonly<Record<'classifier' | 'lm', number>> = Object.freeze({ classifier: 50, lm: 100 })

/**
 * The run's checkpoints as TracIn needs them: adapter values and the lr mass of each
 * segment. With `stride`, only checkpoints at multiples of it (and the last) are kept,
 * each standing for every step since the previous one kept; with `only`, just those steps
 * (and the last).
 */
export async function attributionCheckpoints (store: CheckpointStore, specs: readonly ParamSpec[], hyper: TrainingHyper, stride = 1, only?: ReadonlySet<number>): Promise<AttributionCheckpoint[]> {
  const out: AttributionCheckpoint[] = []
  let prev = 0
  const steps = await store.steps()
  for (const [i, step] of steps.entries()) {
    if (i !== steps.length - 1 && (only !== undefined ? !only.has(step) : step % stride !== 0)) continue
    const c = decodeCheckpoint(await store.load(step), specs)
    out.push({ step, params: c.params, lrMass: lrMass(hyper, prev, step), adam: { t: c.optimizer.t, v: c.optimizer.v } })
    prev = step
  }
  return out
}
