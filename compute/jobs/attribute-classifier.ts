// Proof of Attribution for a classifier adapter: per-example gradients at the run's
// checkpoints (TracIn) and at the final adapter (DataInf), summed per contribution.
// The inputs are exactly what the training job used (same data, same checkpoints), so
// anyone holding the datanet version and the checkpoint chain can recompute any score.

import { buildClassifierExampleGrads, ExampleGradients } from '../attribution/example-grads.ts'
import { datainf, meanRow, sumByGroup, tracin, type Block, type CheckpointGrads } from '../attribution/influence.ts'
import type { Model } from '../models/artifacts.ts'
import type { ClassifierConfig } from '../models/classifier/config.ts'
import type { ClassifierData } from '../models/classifier/train-step.ts'
import type { LoraConfig } from '../models/lora.ts'
import { sizeOf, type ParamSet } from '../tensors/param-set.ts'
import { ShapeMismatchError } from '../errors.ts'
import type { ParamSpec } from '../models/param-spec.ts'
import { decodeCheckpoint } from '../train/checkpoint.ts'
import type { CheckpointStore } from '../train/checkpoint-store.ts'
import { lrMass, type TrainingHyper } from './run-training.ts'

export interface AttributionCheckpoint {
  step: number
  params: ParamSet
  /** Learning-rate mass of the steps this checkpoint stands for (sum of their lrs). */
  lrMass: number
}

export interface ClassifierAttributionJob {
  base: Model
  lora: LoraConfig
  /** The adapter before the first step (the job's seeded initialisation). */
  initial: ParamSet
  /** The run's checkpoints in order; the last one is the final adapter. */
  checkpoints: readonly AttributionCheckpoint[]
  train: ClassifierData
  /** Which contribution each training example came from. */
  groups: readonly string[]
  validation: ClassifierData
  batch?: number
  threads?: number
}

export interface AttributionScores {
  /** Per training example. */
  tracin: Float64Array
  datainf: Float64Array
  /** Summed per contribution (positive: lowers validation loss). */
  byGroup: Array<{ group: string, examples: number, tracin: number, datainf: number }>
  ms: { gradients: number, scores: number }
  dims: number
}

export async function attributeClassifier (job: ClassifierAttributionJob): Promise<AttributionScores> {
  if (job.base.meta.kind !== 'classifier') throw new ShapeMismatchError('base model is not a classifier')
  if (job.groups.length !== job.train.count) throw new ShapeMismatchError('one group per training example', { groups: job.groups.length, examples: job.train.count })
  const cfg = job.base.meta.config as ClassifierConfig
  const graph = buildClassifierExampleGrads(cfg, job.base.params, job.lora, job.batch ?? 64)
  const grads = await ExampleGradients.create(graph, job.threads)
  const started = performance.now()
  try {
    const n = job.train.count
    const d = graph.dims
    // Each segment between checkpoints is scored at both its ends, half its lr mass at
    // each (the trapezoid rule): with a handful of checkpoints, scoring only at the end
    // would miss the early steps, where an adapter learns most.
    const points = [{ params: job.initial, lrMass: 0 }, ...job.checkpoints]
    const perCheckpoint: CheckpointGrads[] = []
    let finalTrain: Float32Array<ArrayBufferLike> = new Float32Array(0)
    let finalVal: Float64Array<ArrayBufferLike> = new Float64Array(0)
    for (const [i, c] of points.entries()) {
      const weight = ((points[i]?.lrMass ?? 0) + (points[i + 1]?.lrMass ?? 0)) / 2
      const train = (await grads.classifier(c.params, job.train)).grads
      const val = meanRow((await grads.classifier(c.params, job.validation)).grads, job.validation.count, d)
      if (weight > 0) perCheckpoint.push({ lr: weight, train, val })
      if (i === points.length - 1) { finalTrain = train; finalVal = val }
    }
    const gradientMs = performance.now() - started
    const t0 = performance.now()
    const blocks: Block[] = []
    let offset = 0
    // One block per LoRA target: both factors of one layer's update share a Hessian block.
    for (let i = 0; i < graph.bank.length; i += 2) {
      const size = sizeOf(graph.bank[i].shape) + sizeOf(graph.bank[i + 1].shape)
      blocks.push({ offset, size })
      offset += size
    }
    const t = tracin(perCheckpoint, n, d)
    const di = datainf(finalTrain, n, d, finalVal, blocks)
    const tg = sumByGroup(t, job.groups)
    const dg = sumByGroup(di, job.groups)
    const counts = new Map<string, number>()
    for (const gname of job.groups) counts.set(gname, (counts.get(gname) ?? 0) + 1)
    const byGroup = [...tg.keys()].sort().map(group => ({ group, examples: counts.get(group) ?? 0, tracin: tg.get(group) ?? 0, datainf: dg.get(group) ?? 0 }))
    return { tracin: t, datainf: di, byGroup, ms: { gradients: gradientMs, scores: performance.now() - t0 }, dims: d }
  } finally {
    await grads.release()
  }
}

/** The run's checkpoints as TracIn needs them: adapter values and the lr mass of each segment. */
export async function attributionCheckpoints (store: CheckpointStore, specs: readonly ParamSpec[], hyper: TrainingHyper): Promise<AttributionCheckpoint[]> {
  const out: AttributionCheckpoint[] = []
  let prev = 0
  for (const step of await store.steps()) {
    const c = decodeCheckpoint(await store.load(step), specs)
    out.push({ step, params: c.params, lrMass: lrMass(hyper, prev, step) })
    prev = step
  }
  return out
}
