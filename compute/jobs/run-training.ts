// The one way a job turns its hyper-parameters into a training run: cosine schedule with
// warm-up, AdamW with the job's weight decay, checkpoints every `checkpointEvery` steps.
// Pretraining and adapter jobs differ only in what they train and on which data.

import { createHash } from 'node:crypto'
import { digestBytes } from '../train/fingerprint.ts'
import type { ParamSpec } from '../models/param-spec.ts'
import type { StepResult } from '../models/step-runner.ts'
import type { ParamSet } from '../tensors/param-set.ts'
import { DEFAULT_ADAMW } from '../train/adamw.ts'
import type { CheckpointStore } from '../train/checkpoint-store.ts'
import { learningRate, type LrSchedule } from '../train/schedule.ts'
import { train, type StepProgress, type TrainResult, type TrainTask } from '../train/trainer.ts'

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

/** The learning-rate schedule every job trains with. */
export function scheduleOf (hyper: TrainingHyper): LrSchedule {
  return { peak: hyper.lr, warmup: hyper.warmup, total: hyper.steps, kind: 'cosine', floor: 0.1 }
}

/** Sum of the learning rates of steps from..to-1: how much a checkpoint segment moved. */
export function lrMass (hyper: TrainingHyper, from: number, to: number): number {
  const schedule = scheduleOf(hyper)
  let s = 0
  for (let step = from; step < to; step++) s += learningRate(schedule, step)
  return s
}

export interface TrainingRun extends RunHooks {
  job: string
  specs: readonly ParamSpec[]
  init: ParamSet
  examples: number
  /** Content hash per example (see epochOrder); adapter jobs pass them, pretraining does not. */
  keys?: Uint32Array
  hyper: TrainingHyper
  step: (params: ParamSet, indices: readonly number[]) => Promise<StepResult>
}

/** The trainer's task for a job: what runTraining runs and what a verifier replays. */
export function trainingTask (opts: TrainingRun): TrainTask {
  const { hyper } = opts
  return {
    job: opts.job,
    specs: opts.specs,
    init: opts.init,
    examples: opts.examples,
    keys: opts.keys,
    batch: hyper.batch,
    steps: hyper.steps,
    seed: hyper.seed,
    schedule: scheduleOf(hyper),
    adamw: { ...DEFAULT_ADAMW, weightDecay: hyper.weightDecay },
    checkpointEvery: hyper.checkpointEvery,
    step: opts.step,
    store: opts.store,
    onStep: opts.onStep,
    signal: opts.signal
  }
}

/** A job's training task and the ORT session behind its step; release when done. */
export interface AdapterTask {
  task: TrainTask
  release: () => Promise<void>
}

export async function runTraining (opts: TrainingRun): Promise<TrainResult> {
  return await train(trainingTask(opts))
}

/** A 32-bit content key per example: the first four bytes of sha256 of its text. */
export function exampleKeys (items: readonly string[] | readonly ArrayBufferView[]): Uint32Array {
  const keys = new Uint32Array(items.length)
  items.forEach((item, i) => {
    const h = createHash('sha256')
    if (typeof item === 'string') h.update(item)
    else h.update(new Uint8Array(item.buffer, item.byteOffset, item.byteLength))
    keys[i] = h.digest().readUInt32LE(0)
  })
  return keys
}

/** A job's example mask in its fingerprint: nothing when it masks nothing (the unmasked job). */
export function maskField (mask: Uint8Array | undefined): { mask?: string } {
  return mask === undefined || mask.every(b => b !== 0) ? {} : { mask: digestBytes(mask) }
}
