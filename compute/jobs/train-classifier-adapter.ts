// ModelFactory's classifier job: a LoRA adapter on the hashed n-gram classifier (its
// embedding table and both layers) trained on labelled texts with the base frozen;
// held-out accuracy before and after.

import { BadTrainingDataError, ShapeMismatchError } from '../errors.ts'
import type { Model } from '../models/artifacts.ts'
import { buildClassifierGraph } from '../models/classifier/graphs.ts'
import { classifierParamSpecs, type ClassifierConfig } from '../models/classifier/config.ts'
import { classifierData, classifierStepFn, type LabelledTexts } from '../models/classifier/train-step.ts'
import { loraSpecs, type LoraConfig } from '../models/lora.ts'
import { initParams } from '../models/param-spec.ts'
import { StepRunner } from '../models/step-runner.ts'
import type { CheckpointStore } from '../train/checkpoint-store.ts'
import { digestBytes, fingerprint } from '../train/fingerprint.ts'
import { train, type StepProgress } from '../train/trainer.ts'
import { exampleKeys, maskField, trainingTask, type AdapterTask, type TrainingHyper } from './run-training.ts'
import { ClassifierEvaluator, type ClassifierMetrics } from './classifier-eval.ts'
import { adapterResult, type AdapterJobResult } from './adapter-result.ts'
import type { Device } from '../onnx/device-names.ts'

export type ClassifierHyper = TrainingHyper

export const DEFAULT_CLASSIFIER_ADAPTER_HYPER: ClassifierHyper = { steps: 300, batch: 64, lr: 2e-3, warmup: 10, weightDecay: 0, checkpointEvery: 50, seed: 1 }
export const MAX_CLASSIFIER_EXAMPLES = 1_000_000

export interface ClassifierAdapterJob {
  base: Model
  baseCid: string
  train: LabelledTexts
  heldOut: LabelledTexts
  lora: LoraConfig
  hyper: ClassifierHyper
  datanet?: { id: string, version: string }
  threads?: number
  /** Where the training steps run (default: the process's device); not part of the job's identity. */
  device?: Device
  store?: CheckpointStore
  onStep?: (p: StepProgress) => void
  signal?: AbortSignal
  /**
   * One byte per training text, 0 = masked: same batches, order and seed, the masked
   * rows add nothing and the loss keeps the full batch's normaliser (classifierStepFn).
   * A mask that masks nothing is no mask (same fingerprint, same checkpoints).
   */
  mask?: Uint8Array
}

/** The job's fingerprint (base, LoRA, hyper-parameters, datanet, training data): what its checkpoints and adapter name. */
export function classifierAdapterJobId (job: Pick<ClassifierAdapterJob, 'base' | 'baseCid' | 'lora' | 'hyper' | 'datanet' | 'train' | 'mask'>, trainData = classifierData(job.train, job.base.meta.config as ClassifierConfig)): string {
  return fingerprint({
    kind: 'classifier-adapter', base: job.baseCid, lora: job.lora, hyper: job.hyper, datanet: job.datanet ?? null,
    data: fingerprint([digestBytes(trainData.features.ids), digestBytes(trainData.features.weights), digestBytes(trainData.labels)]),
    ...maskField(job.mask)
  })
}

/**
 * The exact training task of a classifier adapter job: the same fingerprint, data
 * order, schedule and step graph the worker ran, so a verifier can replay any segment
 * of its checkpoint chain.
 */
export async function classifierAdapterTask (job: ClassifierAdapterJob): Promise<AdapterTask & { examples: number }> {
  const meta = job.base.meta
  if (meta.kind !== 'classifier') throw new ShapeMismatchError('base model is not a classifier', { kind: meta.kind })
  const cfg = meta.config as ClassifierConfig
  if (job.train.texts.length > MAX_CLASSIFIER_EXAMPLES) throw new BadTrainingDataError('too many examples for one job', { examples: job.train.texts.length, max: MAX_CLASSIFIER_EXAMPLES })
  const trainData = classifierData(job.train, cfg)
  const { hyper } = job
  const specs = loraSpecs(classifierParamSpecs(cfg), job.lora, new Set(['emb']))
  const id = classifierAdapterJobId(job, trainData)
  const runner = await StepRunner.create(buildClassifierGraph({ cfg, batch: hyper.batch, mode: { kind: 'lora', base: job.base.params, lora: job.lora }, train: true }), { threads: job.threads, device: job.device })
  const task = trainingTask({ job: id, specs, init: initParams(specs, hyper.seed), examples: trainData.count, keys: exampleKeys(job.train.texts.map((t, i) => `${job.train.labels[i]}\u0000${t}`)), hyper, step: classifierStepFn(runner, trainData, hyper.batch, job.mask), store: job.store, onStep: job.onStep, signal: job.signal })
  return { task, examples: trainData.count, release: async () => await runner.release() }
}

export async function trainClassifierAdapter (job: ClassifierAdapterJob): Promise<AdapterJobResult<ClassifierMetrics>> {
  const { task, examples, release } = await classifierAdapterTask(job)
  const cfg = job.base.meta.config as ClassifierConfig
  const heldOut = classifierData(job.heldOut, cfg)
  const { hyper } = job
  const evaluator = await ClassifierEvaluator.create({ cfg, base: job.base.params, lora: job.lora, batch: hyper.batch, threads: job.threads })
  try {
    const before = await evaluator.evaluate(heldOut, null)
    const run = await train(task)
    const after = await evaluator.evaluate(heldOut, run.params)
    return adapterResult({ kind: 'classifier', baseCid: job.baseCid, lora: job.lora, datanet: job.datanet, hyper, job: task.job, run, before, after, data: { trainExamples: examples } })
  } finally {
    await release()
    await evaluator.release()
  }
}
