// The training loop every model shares: seeded mini-batch order, AdamW, a learning-rate
// schedule, divergence detection, and hash-chained checkpoints that make a run
// resumable after a kill and replayable by a verifier. The model enters only through
// `step` (one forward+backward on a batch of example indices), so the classifier, the
// language model and LoRA adapters all train here.

import { DivergenceError, MalformedArtifactError } from '../errors.ts'
import type { StepResult } from '../models/step-runner.ts'
import type { ParamSpec } from '../models/param-spec.ts'
import { fmix32, Rng } from '../random.ts'
import { cloneParams, type ParamSet } from '../tensors/param-set.ts'
import { adamwStep, initAdamW, type AdamWConfig, type AdamWState } from './adamw.ts'
import { checkpointHash, decodeCheckpoint, encodeCheckpoint, type Checkpoint } from './checkpoint.ts'
import type { CheckpointStore } from './checkpoint-store.ts'
import { learningRate, type LrSchedule } from './schedule.ts'

export interface TrainTask {
  /** Fingerprint (64 hex) of everything that determines the run; checkpoints carry it. */
  job: string
  /** The trainable parameters (their decay flags decide weight decay). */
  specs: readonly ParamSpec[]
  /** Their starting values (copied, never modified). */
  init: ParamSet
  /** Number of training examples; batches are drawn from 0..examples-1. */
  examples: number
  batch: number
  /** Optional content hash per example: makes the batch order stable under removals (see epochOrder). */
  keys?: Uint32Array
  /** Optimizer steps in all. */
  steps: number
  seed: number
  schedule: LrSchedule
  adamw: AdamWConfig
  /** Write a checkpoint every this many steps (and after the last). */
  checkpointEvery: number
  step: (params: ParamSet, indices: readonly number[]) => Promise<StepResult>
  store?: CheckpointStore
  /**
   * The loss "ran away" when its smoothed value (EMA 0.9) exceeds `factor` times the
   * best smoothed loss seen so far and 1 more than it, after warm-up. Non-finite losses
   * and gradients always count.
   */
  divergenceFactor?: number
  onStep?: (p: StepProgress) => void
  signal?: AbortSignal
}

export interface StepProgress {
  step: number
  steps: number
  loss: number
  lr: number
  gradNorm: number
  /** The step resumed from a checkpoint (0 for a fresh run). */
  resumedFrom: number
}

export interface TrainResult {
  params: ParamSet
  steps: number
  /** Loss of every step this call ran (not those before a resume). */
  losses: number[]
  /** Hash of every checkpoint, in order: the run's receipt. */
  chain: Array<{ step: number, hash: string }>
  resumedFrom: number
}

/**
 * Example indices of epoch `epoch` in training order. Without keys: a Fisher-Yates shuffle
 * seeded by (seed, epoch). With keys (one 32-bit content hash per example): the examples
 * sorted by a seeded mix of their keys, so removing some examples leaves the others in
 * the same relative order: a leave-one-out retraining then differs only by what was left
 * out, not by a reshuffle of everything.
 */
export function epochOrder (seed: number, epoch: number, examples: number, keys?: Uint32Array): number[] {
  const mix = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca77)) >>> 0
  if (keys === undefined) return new Rng(mix).shuffle(Array.from({ length: examples }, (_, i) => i))
  const ranked = Array.from({ length: examples }, (_, i) => [fmix32(keys[i] ^ mix), keys[i], i] as const)
  ranked.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2])
  return ranked.map(r => r[2])
}

/** The example indices of global step `step`. The last batch of an epoch may be short. */
export function batchIndices (task: Pick<TrainTask, 'seed' | 'examples' | 'batch' | 'keys'>, step: number, cache?: { epoch: number, order: number[] }): number[] {
  const perEpoch = Math.ceil(task.examples / task.batch)
  const epoch = Math.floor(step / perEpoch)
  let order: number[]
  if (cache !== undefined && cache.epoch === epoch) order = cache.order
  else {
    order = epochOrder(task.seed, epoch, task.examples, task.keys)
    if (cache !== undefined) { cache.epoch = epoch; cache.order = order }
  }
  const at = (step % perEpoch) * task.batch
  return order.slice(at, at + task.batch)
}

interface RunState {
  step: number
  params: ParamSet
  optimizer: AdamWState
  prev: string | null
  chain: Array<{ step: number, hash: string }>
  /** Losses since the last checkpoint boundary (non-empty only when started mid-segment). */
  pending?: number[]
}

export async function train (task: TrainTask): Promise<TrainResult> {
  checkTask(task)
  let state: RunState = { step: 0, params: cloneParams(task.init), optimizer: initAdamW(task.specs), prev: null, chain: [] }
  if (task.store !== undefined) state = (await resume(task, task.store)) ?? state
  const resumedFrom = state.step
  const losses = await runUntil(task, state, task.steps, resumedFrom)
  return { params: state.params, steps: state.step, losses, chain: state.chain, resumedFrom }
}

/**
 * A verifier's replay: from one checkpoint of the run, train to the next checkpoint
 * boundary and return the checkpoint bytes and hash that an honest worker produced.
 */
export async function replaySegment (task: TrainTask, from: Uint8Array | null): Promise<{ step: number, hash: string, bytes: Uint8Array }> {
  checkTask(task)
  let state: RunState = { step: 0, params: cloneParams(task.init), optimizer: initAdamW(task.specs), prev: null, chain: [] }
  if (from !== null) state = fromCheckpoint(task, decodeCheckpoint(from, task.specs), checkpointHash(from))
  const until = Math.min(task.steps, (Math.floor(state.step / task.checkpointEvery) + 1) * task.checkpointEvery)
  const replayTask = { ...task, store: undefined }
  let last: Uint8Array | undefined
  const store = { save: async (_: number, bytes: Uint8Array) => { last = bytes }, steps: async () => [], load: async () => new Uint8Array() }
  await runUntil({ ...replayTask, store }, state, until, state.step)
  if (last === undefined) throw new MalformedArtifactError('nothing to replay after this checkpoint', { step: state.step })
  return { step: state.step, hash: checkpointHash(last), bytes: last }
}

/**
 * Replays from any state of the run (a checkpoint, or a state between two checkpoints as
 * `visit` hands them out) up to step `until`, calling `visit` with the state after each
 * step in checkpoint form: `prev` names the segment's start checkpoint and `losses` holds
 * the losses since it, so the state at a boundary is exactly the checkpoint the trainer
 * writes there. This is what bisection narrows a disputed segment with. Writes nothing;
 * the tensors handed to `visit` are live (the next step updates them): encode or copy.
 */
export async function replaySteps (task: TrainTask, from: Uint8Array | null, until: number, visit: (state: Checkpoint) => void | Promise<void>): Promise<void> {
  checkTask(task)
  let state: RunState = { step: 0, params: cloneParams(task.init), optimizer: initAdamW(task.specs), prev: null, chain: [] }
  if (from !== null) state = fromCheckpoint(task, decodeCheckpoint(from, task.specs), checkpointHash(from))
  if (!Number.isSafeInteger(until) || until < state.step || until > task.steps) throw new RangeError(`cannot replay from step ${state.step} to ${until}`)
  await runUntil({ ...task, store: undefined }, state, until, state.step, visit)
}

async function runUntil (task: TrainTask, state: RunState, until: number, resumedFrom: number, visit?: (state: Checkpoint) => void | Promise<void>): Promise<number[]> {
  const losses: number[] = []
  let sinceCheckpoint: number[] = state.pending ?? []
  let smoothed: number | undefined
  let best = Infinity
  const order = { epoch: -1, order: [] as number[] }
  while (state.step < until) {
    task.signal?.throwIfAborted()
    const indices = batchIndices(task, state.step, order)
    const result = await task.step(state.params, indices)
    const lr = learningRate(task.schedule, state.step)
    if (!Number.isFinite(result.loss)) throw new DivergenceError('training loss is not finite', { step: state.step, loss: result.loss })
    const norm = adamwStep(task.specs, state.params, result.grads, state.optimizer, lr, task.adamw)
    if (!Number.isFinite(norm)) throw new DivergenceError('a gradient is not finite', { step: state.step, loss: result.loss })
    smoothed = smoothed === undefined ? result.loss : 0.9 * smoothed + 0.1 * result.loss
    best = Math.min(best, smoothed)
    const factor = task.divergenceFactor ?? 4
    // On the smoothed loss, not one batch's: a classifier near zero loss meets a hard batch
    // now and then (one in twenty devnet jobs stopped on a single batch of loss ~1.2).
    if (state.step >= task.schedule.warmup && smoothed > factor * best && smoothed > best + 1) {
      throw new DivergenceError('training loss ran away', { step: state.step, loss: result.loss, best })
    }
    losses.push(result.loss)
    sinceCheckpoint.push(result.loss)
    state.step += 1
    task.onStep?.({ step: state.step, steps: task.steps, loss: result.loss, lr, gradNorm: norm, resumedFrom })
    if (visit !== undefined) await visit({ meta: { format: 'openledger/checkpoint/1', job: task.job, step: state.step, prev: state.prev, losses: [...sinceCheckpoint] }, params: state.params, optimizer: state.optimizer })
    if (task.store !== undefined && (state.step % task.checkpointEvery === 0 || state.step === task.steps)) {
      const bytes = encodeCheckpoint({ meta: { format: 'openledger/checkpoint/1', job: task.job, step: state.step, prev: state.prev, losses: sinceCheckpoint }, params: state.params, optimizer: state.optimizer })
      await task.store.save(state.step, bytes)
      state.prev = checkpointHash(bytes)
      state.chain.push({ step: state.step, hash: state.prev })
      sinceCheckpoint = []
    }
  }
  return losses
}

/** The newest checkpoint of this job, with the chain before it checked link by link. */
async function resume (task: TrainTask, store: CheckpointStore): Promise<RunState | undefined> {
  const steps = await store.steps()
  if (steps.length === 0) return undefined
  const chain: Array<{ step: number, hash: string }> = []
  let prev: string | null = null
  let last: Checkpoint | undefined
  for (const step of steps) {
    const bytes = await store.load(step)
    const c = decodeCheckpoint(bytes, task.specs)
    if (c.meta.job !== task.job) throw new MalformedArtifactError('checkpoint belongs to another job', { step, job: c.meta.job, expected: task.job })
    if (c.meta.step !== step || c.meta.prev !== prev) throw new MalformedArtifactError('checkpoint chain is broken', { step, prev: c.meta.prev, expected: prev })
    prev = checkpointHash(bytes)
    chain.push({ step, hash: prev })
    last = c
  }
  const state = fromCheckpoint(task, last as Checkpoint, prev as string)
  state.chain = chain
  return state
}

function fromCheckpoint (task: TrainTask, c: Checkpoint, hash: string): RunState {
  if (c.meta.job !== task.job) throw new MalformedArtifactError('checkpoint belongs to another job', { job: c.meta.job, expected: task.job })
  if (c.meta.step > task.steps) throw new MalformedArtifactError('checkpoint is past the end of the run', { step: c.meta.step, steps: task.steps })
  // A state between two checkpoints (see replaySteps) carries its segment's start and losses so far.
  if (c.meta.step % task.checkpointEvery !== 0 && c.meta.step !== task.steps) {
    return { step: c.meta.step, params: c.params, optimizer: c.optimizer, prev: c.meta.prev, chain: [], pending: [...c.meta.losses] }
  }
  return { step: c.meta.step, params: c.params, optimizer: c.optimizer, prev: hash, chain: [{ step: c.meta.step, hash }] }
}

function checkTask (task: TrainTask): void {
  if (!/^[0-9a-f]{64}$/.test(task.job)) throw new RangeError('job fingerprint must be 64 hex digits')
  for (const key of ['examples', 'batch', 'steps', 'checkpointEvery'] as const) {
    if (!Number.isSafeInteger(task[key]) || task[key] < 1) throw new RangeError(`${key} must be a positive integer`)
  }
  if (task.keys !== undefined && task.keys.length !== task.examples) throw new RangeError('one key per example')
}
