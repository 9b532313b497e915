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

export interface AttributionCheckpoint {
  step: number
  params: ParamSet
  /** Learning-rate mass of the steps this checkpoint stands for (sum of their lrs). */
  lrMass: number
}

export interface ClassifierAttributionJob {
  base: Model
  lora: LoraConfig
  /** The final adapter. */
  adapter: ParamSet
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
    const perCheckpoint: CheckpointGrads[] = []
    for (const c of job.checkpoints) {
      const train = (await grads.classifier(c.params, job.train)).grads
      const val = meanRow((await grads.classifier(c.params, job.validation)).grads, job.validation.count, d)
      perCheckpoint.push({ lr: c.lrMass, train, val })
    }
    const finalTrain = (await grads.classifier(job.adapter, job.train)).grads
    const finalVal = meanRow((await grads.classifier(job.adapter, job.validation)).grads, job.validation.count, d)
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
