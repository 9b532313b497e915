// Base models built here from local corpora: every parameter trainable, seeded, with
// the same trainer (and so the same checkpoints and divergence checks) as adapters.
// The result is a Model whose metadata records how it was made.

import { ShapeMismatchError } from '../errors.ts'
import type { Model } from '../models/artifacts.ts'
import { buildClassifierGraph } from '../models/classifier/graphs.ts'
import { classifierParamSpecs, type ClassifierConfig } from '../models/classifier/config.ts'
import { classifierData, classifierStepFn, type LabelledTexts } from '../models/classifier/train-step.ts'
import { buildLmStepGraph } from '../models/lm/graphs.ts'
import { windowsOf } from '../models/lm/data.ts'
import { lmStepFn } from '../models/lm/train-step.ts'
import { checkLmConfig, type LmConfig } from '../models/lm/config.ts'
import { lmParamSpecs } from '../models/lm/params.ts'
import { initParams } from '../models/param-spec.ts'
import { StepRunner } from '../models/step-runner.ts'
import type { CheckpointStore } from '../train/checkpoint-store.ts'
import { digestBytes, fingerprint } from '../train/fingerprint.ts'
import type { StepProgress } from '../train/trainer.ts'
import { runTraining } from './run-training.ts'
import type { ClassifierHyper } from './train-classifier-adapter.ts'
import type { LmHyper } from './train-lm-adapter.ts'
import type { TextTokenizer } from './text-tokenizer.ts'
import { currentDevice } from '../onnx/devices.ts'

export interface PretrainCommon {
  name: string
  /** What the data was, for the model's provenance (e.g. corpus names and sizes). */
  source: Record<string, unknown>
  threads?: number
  store?: CheckpointStore
  onStep?: (p: StepProgress) => void
  signal?: AbortSignal
}

export async function pretrainLm (opts: PretrainCommon & { cfg: LmConfig, tokenizer: TextTokenizer & { toJSON: () => unknown }, texts: readonly string[], hyper: LmHyper }): Promise<Model> {
  const { cfg, hyper, tokenizer } = opts
  checkLmConfig(cfg)
  if (tokenizer.vocabSize !== cfg.vocab) throw new ShapeMismatchError('tokenizer and model disagree on the vocabulary', { tokenizer: tokenizer.vocabSize, model: cfg.vocab })
  const windows = windowsOf(opts.texts.map(t => tokenizer.encode(t)), { seq: hyper.seq, eot: tokenizer.eot, pad: tokenizer.pad })
  const specs = lmParamSpecs(cfg)
  const job = fingerprint({ kind: 'lm-pretrain', cfg, hyper, tokenizer: tokenizer.toJSON(), data: digestBytes(windows.tokens) })
  const runner = await StepRunner.create(buildLmStepGraph({ cfg, batch: hyper.batch, seq: hyper.seq, mode: { kind: 'base' }, train: true }), { threads: opts.threads })
  try {
    const run = await runTraining({ job, specs, init: initParams(specs, hyper.seed), examples: windows.count, hyper, step: lmStepFn(runner, windows, hyper.batch), store: opts.store, onStep: opts.onStep, signal: opts.signal })
    const tail = run.losses.slice(-20)
    return {
      meta: {
        format: 'openledger/model/1',
        kind: 'lm',
        name: opts.name,
        config: { ...cfg },
        tokenizer: tokenizer.toJSON(),
        provenance: { job, source: opts.source, hyper: { ...hyper }, ...deviceNote(), tokens: windows.tokens.length, finalLoss: tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length) }
      },
      params: run.params
    }
  } finally {
    await runner.release()
  }
}

export async function pretrainClassifier (opts: PretrainCommon & { cfg: ClassifierConfig, labels: readonly string[], data: LabelledTexts, hyper: ClassifierHyper }): Promise<Model> {
  const { cfg, hyper } = opts
  const data = classifierData(opts.data, cfg)
  const specs = classifierParamSpecs(cfg)
  const job = fingerprint({ kind: 'classifier-pretrain', cfg, hyper, data: fingerprint([digestBytes(data.features.ids), digestBytes(data.features.weights), digestBytes(data.labels)]) })
  const runner = await StepRunner.create(buildClassifierGraph({ cfg, batch: hyper.batch, mode: { kind: 'base' }, train: true }), { threads: opts.threads })
  try {
    const run = await runTraining({ job, specs, init: initParams(specs, hyper.seed), examples: data.count, hyper, step: classifierStepFn(runner, data, hyper.batch), store: opts.store, onStep: opts.onStep, signal: opts.signal })
    return {
      meta: { format: 'openledger/model/1', kind: 'classifier', name: opts.name, config: { ...cfg }, labels: [...opts.labels], provenance: { job, source: opts.source, hyper: { ...hyper }, ...deviceNote(), examples: data.count } },
      params: run.params
    }
  } finally {
    await runner.release()
  }
}

/** A base built off the CPU says where (its bytes are reproducible on that device class); CPU builds stay as they were. */
function deviceNote (): { device?: string } {
  const device = currentDevice()
  return device === 'cpu' ? {} : { device }
}
