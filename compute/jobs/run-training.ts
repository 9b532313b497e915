// The one way a job turns its hyper-parameters into a training run: cosine schedule with
// warm-up, AdamW with the job's weight decay, checkpoints every `checkpointEvery` steps.
// Pretraining and adapter jobs differ only in what they train and on which data.

import type { ParamSpec } from '../models/param-spec.ts'
import type { StepResult } from '../models/step-runner.ts'
import type { ParamSet } from '../tensors/param-set.ts'
import { DEFAULT_ADAMW } from '../train/adamw.ts'
import type { CheckpointStore } from '../train/checkpoint-store.ts'
import { train, type StepProgress, type TrainResult } from '../train/trainer.ts'

export interface TrainingHyper {
  steps: number
  batch: number
  lr: number
  warmup: number
  weightDecay: number
  checkpointEvery: number
  seed: number
}

export interface RunHooks {
  store?: CheckpointStore
  onStep?: (p: StepProgress) => void
  signal?: AbortSignal
}

export async function runTraining (opts: {
  job: string
  specs: readonly ParamSpec[]
  init: ParamSet
  examples: number
  hyper: TrainingHyper
  step: (params: ParamSet, indices: readonly number[]) => Promise<StepResult>
} & RunHooks): Promise<TrainResult> {
  const { hyper } = opts
  return await train({
    job: opts.job,
    specs: opts.specs,
    init: opts.init,
    examples: opts.examples,
    batch: hyper.batch,
    steps: hyper.steps,
    seed: hyper.seed,
    schedule: { peak: hyper.lr, warmup: hyper.warmup, total: hyper.steps, kind: 'cosine', floor: 0.1 },
    adamw: { ...DEFAULT_ADAMW, weightDecay: hyper.weightDecay },
    checkpointEvery: hyper.checkpointEvery,
    step: opts.step,
    store: opts.store,
    onStep: opts.onStep,
    signal: opts.signal
  })
}
