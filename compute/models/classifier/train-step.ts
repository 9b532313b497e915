// The classifier as the trainer sees it: labelled texts featurised once, then each step
// feeds a batch of example indices to the step graph (short batches are padded and
// masked, so one graph of fixed batch size serves every step).

import { BadTrainingDataError } from '../../errors.ts'
import type { ParamSet } from '../../tensors/param-set.ts'
import { scaleStep, type StepResult, type StepRunner } from '../step-runner.ts'
import type { ClassifierConfig } from './config.ts'
import { featurize, type Features } from './features.ts'

export interface LabelledTexts {
  texts: readonly string[]
  /** Class index of each text. */
  labels: readonly number[]
}

export interface ClassifierData {
  features: Features
  labels: Int32Array
  count: number
  k: number
}

export function classifierData (data: LabelledTexts, cfg: ClassifierConfig): ClassifierData {
  if (data.texts.length === 0) throw new BadTrainingDataError('no labelled texts to train on')
  if (data.texts.length !== data.labels.length) throw new BadTrainingDataError('every text needs one label', { texts: data.texts.length, labels: data.labels.length })
  for (const l of data.labels) if (!Number.isInteger(l) || l < 0 || l >= cfg.classes) throw new BadTrainingDataError('label out of range', { label: l, classes: cfg.classes })
  return { features: featurize(data.texts, cfg), labels: Int32Array.from(data.labels), count: data.texts.length, k: cfg.maxFeatures }
}

/** Feeds for the examples at `indices`, padded to `batch` rows. */
export function classifierBatch (d: ClassifierData, indices: readonly number[], batch: number) {
  const { k } = d
  const ids = new BigInt64Array(batch * k)
  const weights = new Float32Array(batch * k)
  const labels = new BigInt64Array(batch)
  const mask = new Float32Array(batch)
  indices.forEach((idx, row) => {
    ids.set(d.features.ids.subarray(idx * k, (idx + 1) * k), row * k)
    weights.set(d.features.weights.subarray(idx * k, (idx + 1) * k), row * k)
    labels[row] = BigInt(d.labels[idx])
    mask[row] = 1
  })
  return {
    ids: { data: ids, dims: [batch, k] },
    weights: { data: weights, dims: [batch, k] },
    labels: { data: labels, dims: [batch] },
    mask: { data: mask, dims: [batch] }
  }
}

/**
 * The step function over `d`. With `keep` (one byte per example, 0 = masked), a step
 * whose batch holds masked examples zeroes their rows' mask and scales the loss and
 * gradients by kept/full rows: the loss stays normalised by the FULL batch, so a masked
 * example adds nothing and the others weigh as they did (mask-LOO keeps every batch and
 * seed of the full run). Without masked examples the step is the unmasked one, bit for bit.
 */
export function classifierStepFn (runner: StepRunner, d: ClassifierData, batch: number, keep?: Uint8Array): (params: ParamSet, indices: readonly number[]) => Promise<StepResult> {
  if (keep !== undefined && keep.length !== d.count) throw new BadTrainingDataError('one mask entry per example', { mask: keep.length, examples: d.count })
  return async (params, indices) => {
    const feeds = classifierBatch(d, indices, batch)
    if (keep === undefined || indices.every(i => keep[i] !== 0)) return await runner.run(params, feeds, indices.length)
    let kept = 0
    indices.forEach((idx, row) => { if (keep[idx] === 0) feeds.mask.data[row] = 0; else kept++ })
    return scaleStep(await runner.run(params, feeds, kept), kept / indices.length)
  }
}
