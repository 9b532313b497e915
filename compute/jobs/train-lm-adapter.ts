// ModelFactory's language-model job: fine-tune a LoRA adapter on a set of documents
// with the base frozen, measure held-out perplexity before and after, and return the
// adapter with everything a verifier needs to name and replay the run (job
// fingerprint, checkpoint chain, hyper-parameters).

import { BadTrainingDataError, ShapeMismatchError } from '../errors.ts'
import type { Model } from '../models/artifacts.ts'
import { buildLmStepGraph } from '../models/lm/graphs.ts'
import { documentWindows, windowTokens } from '../models/lm/data.ts'
import { lmStepFn } from '../models/lm/train-step.ts'
import type { LmConfig } from '../models/lm/config.ts'
import { lmParamSpecs } from '../models/lm/params.ts'
import { loraSpecs, type LoraConfig } from '../models/lora.ts'
import { initParams } from '../models/param-spec.ts'
import { StepRunner } from '../models/step-runner.ts'
import type { CheckpointStore } from '../train/checkpoint-store.ts'
import { digestBytes, fingerprint } from '../train/fingerprint.ts'
import { train, type StepProgress } from '../train/trainer.ts'
import { exampleKeys, maskField, trainingTask, type AdapterTask, type TrainingHyper } from './run-training.ts'
import { adapterResult, type AdapterJobResult } from './adapter-result.ts'
import { LmEvaluator, type LmMetrics } from './lm-eval.ts'
import type { TextTokenizer } from './text-tokenizer.ts'
import type { Device } from '../onnx/device-names.ts'

export interface LmHyper extends TrainingHyper {
  /** Tokens per training window. */
  seq: number
}

export const DEFAULT_LM_ADAPTER_HYPER: LmHyper = { steps: 200, batch: 16, seq: 64, lr: 2e-3, warmup: 10, weightDecay: 0, checkpointEvery: 50, seed: 1 }
/** Most tokens one adapter job reads (a datanet version can be far larger: sample it). */
export const MAX_JOB_TOKENS = 20_000_000

export interface LmAdapterJob {
  base: Model
  baseCid: string
  tokenizer: TextTokenizer
  train: readonly string[]
  heldOut: readonly string[]
  lora: LoraConfig
  hyper: LmHyper
  datanet?: { id: string, version: string }
  threads?: number
  /** Where the training steps run (default: the process's device); not part of the job's identity. */
  device?: Device
  store?: CheckpointStore
  onStep?: (p: StepProgress) => void
  signal?: AbortSignal
  /** One byte per training window, 0 = masked (see ClassifierAdapterJob.mask and lmStepFn). */
  mask?: Uint8Array
}

/** The job's training windows (what `mask` indexes). */
export function lmTrainingWindows (job: Pick<LmAdapterJob, 'train' | 'tokenizer' | 'hyper'>) {
  return documentWindows(job.train.map(t => job.tokenizer.encode(t)), { seq: job.hyper.seq, eot: job.tokenizer.eot, pad: job.tokenizer.pad, maxTokens: MAX_JOB_TOKENS })
}

/** The job's fingerprint (base, LoRA, hyper-parameters, datanet, training tokens): what its checkpoints and adapter name. */
export function lmAdapterJobId (job: Pick<LmAdapterJob, 'baseCid' | 'lora' | 'hyper' | 'datanet' | 'train' | 'tokenizer' | 'mask'>, windows = lmTrainingWindows(job)): string {
  return fingerprint({ kind: 'lm-adapter', base: job.baseCid, lora: job.lora, hyper: job.hyper, datanet: job.datanet ?? null, data: digestBytes(windows.tokens), ...maskField(job.mask) })
}

/** The exact training task of a language-model adapter job (see classifierAdapterTask). */
export async function lmAdapterTask (job: LmAdapterJob): Promise<AdapterTask & { tokens: number }> {
  const meta = job.base.meta
  if (meta.kind !== 'lm') throw new ShapeMismatchError('base model is not a language model', { kind: meta.kind })
  const cfg = meta.config as LmConfig
  if (job.tokenizer.vocabSize !== cfg.vocab) throw new ShapeMismatchError('tokenizer and model disagree on the vocabulary', { tokenizer: job.tokenizer.vocabSize, model: cfg.vocab })
  const { hyper } = job
  if (hyper.seq > cfg.context) throw new BadTrainingDataError('sequence length exceeds the model context', { seq: hyper.seq, context: cfg.context })
  if (job.train.length === 0 || job.heldOut.length === 0) throw new BadTrainingDataError('an adapter job needs training and held-out documents', { train: job.train.length, heldOut: job.heldOut.length })
  const windows = lmTrainingWindows(job)
  const specs = loraSpecs(lmParamSpecs(cfg), job.lora)
  const id = lmAdapterJobId(job, windows)
  const runner = await StepRunner.create(buildLmStepGraph({ cfg, batch: hyper.batch, seq: hyper.seq, mode: { kind: 'lora', base: job.base.params, lora: job.lora }, train: true }), { threads: job.threads, device: job.device })
  const task = trainingTask({ job: id, specs, init: initParams(specs, hyper.seed), examples: windows.count, keys: exampleKeys(Array.from({ length: windows.count }, (_, w) => windowTokens(windows, w))), hyper, step: lmStepFn(runner, windows, hyper.batch, job.mask), store: job.store, onStep: job.onStep, signal: job.signal })
  return { task, tokens: windows.tokens.length, release: async () => await runner.release() }
}

export async function trainLmAdapter (job: LmAdapterJob): Promise<AdapterJobResult<LmMetrics>> {
  const { task, tokens, release } = await lmAdapterTask(job)
  const cfg = job.base.meta.config as LmConfig
  const { hyper } = job
  const evaluator = await LmEvaluator.create({ cfg, base: job.base.params, lora: job.lora, batch: hyper.batch, seq: hyper.seq, threads: job.threads })
  try {
    const before = await evaluator.evaluate(job.heldOut, job.tokenizer, null)
    const run = await train(task)
    const after = await evaluator.evaluate(job.heldOut, job.tokenizer, run.params)
    return adapterResult({ kind: 'lm', baseCid: job.baseCid, lora: job.lora, datanet: job.datanet, hyper, job: task.job, run, before, after, data: { trainTokens: tokens } })
  } finally {
    await release()
    await evaluator.release()
  }
}
