// Checking a worker's training run without redoing it: the receipt is the hash chain of
// its checkpoints, and a verifier replays only sampled segments (checkpoint i to i+1)
// from the worker's own checkpoint bytes, so the work is k segments instead of the run.
// Every byte handed over is checked against the receipt before any compute is spent.
// On the same kernels and thread count a replay is bit-identical (bench "determinism"),
// so hashes must match exactly; a verifier on other kernels compares the parameters
// within the measured tolerance instead, which needs the worker's end-of-segment bytes too.

import { performance } from 'node:perf_hooks'
import type { ParamSpec } from '../models/param-spec.ts'
import type { NamedTensor as Tensor, ParamSet } from '../tensors/param-set.ts'
import { checkpointHash, decodeCheckpoint, type Checkpoint } from '../train/checkpoint.ts'
import { replaySegment, type TrainTask } from '../train/trainer.ts'
import { BadReceiptError, CheckpointRefusedError } from './errors.ts'
import type { TrainingReceipt } from './sample.ts'

/** Relative tolerance on replayed weights across kernels (30x the drift measured; bench/RESULTS.md "determinism"). */
export const WEIGHT_TOLERANCE = 1e-5
/** Relative tolerance on each replayed step's loss across kernels. */
export const LOSS_TOLERANCE = 1e-6

export type VerifyMode = 'exact' | { tolerance: number, lossTolerance?: number }

/** Segment i runs from step `from` (0, or checkpoint i-1) to checkpoint i at step `to`. */
export interface Segment { index: number, from: number, to: number }

export interface SegmentMismatch {
  segment: number
  /** Step of the checkpoint that does not replay. */
  step: number
  claimed: string
  recomputed: string
  /** Tolerance mode: the largest relative difference found (Infinity when the metadata differs). */
  relative?: number
}

export interface TrainingVerdict {
  ok: boolean
  /** Segments replayed, ascending. */
  checked: number[]
  mismatches: SegmentMismatch[]
  /** Wall time spent replaying. */
  computeMs: number
  /** Tolerance mode: the largest relative difference over the segments replayed (0 when every one was bit-identical). */
  worstRelative?: number
}

export function segmentsOf (task: Pick<TrainTask, 'steps' | 'checkpointEvery'>): Segment[] {
  const out: Segment[] = []
  for (let from = 0, i = 0; from < task.steps; from += task.checkpointEvery, i++) {
    out.push({ index: i, from, to: Math.min(task.steps, from + task.checkpointEvery) })
  }
  return out
}

/** Refuses a receipt that cannot be a run of this task: other job, wrong steps, repeated entries. */
export function checkReceipt (task: TrainTask, receipt: TrainingReceipt): void {
  if (receipt.job !== task.job) throw new BadReceiptError('receipt is for another job', { job: receipt.job, expected: task.job })
  const segments = segmentsOf(task)
  if (receipt.chain.length !== segments.length) throw new BadReceiptError('receipt has the wrong number of checkpoints', { length: receipt.chain.length, expected: segments.length })
  const seen = new Set<string>()
  receipt.chain.forEach((c, i) => {
    if (c.step !== segments[i].to) throw new BadReceiptError('receipt checkpoint at the wrong step', { index: i, step: c.step, expected: segments[i].to })
    if (!/^[0-9a-f]{64}$/.test(c.hash)) throw new BadReceiptError('receipt hash is not 64 hex digits', { index: i })
    // Two checkpoints of one run never hash alike (their steps differ): a copied one is stale.
    if (seen.has(c.hash)) throw new BadReceiptError('receipt repeats a checkpoint', { index: i, hash: c.hash })
    seen.add(c.hash)
  })
}

/**
 * Steps whose checkpoint bytes the worker must hand over for these segments: each one's
 * start (segment 0 starts from the task's initial state), and in tolerance mode its end.
 */
export function checkpointsNeeded (task: Pick<TrainTask, 'steps' | 'checkpointEvery'>, segments: readonly number[], mode: VerifyMode = 'exact'): number[] {
  const all = segmentsOf(task)
  const steps = new Set<number>()
  for (const i of segments) {
    const s = all[i]
    if (s === undefined) throw new RangeError(`no segment ${i}`)
    if (s.from > 0) steps.add(s.from)
    if (mode !== 'exact') steps.add(s.to)
  }
  return [...steps].sort((a, b) => a - b)
}

/**
 * Replays the sampled segments and compares each result with the receipt. Throws
 * BadReceiptError / CheckpointRefusedError (before replaying anything) when the receipt
 * or the bytes handed over do not hold together; returns mismatches for replays that
 * disagree, which is evidence the worker did not do the work it claims.
 */
export async function verifyTraining (opts: {
  task: TrainTask
  receipt: TrainingReceipt
  segments: readonly number[]
  /** Checkpoint bytes by step, as `checkpointsNeeded` lists them. */
  checkpoints: ReadonlyMap<number, Uint8Array>
  mode?: VerifyMode
}): Promise<TrainingVerdict> {
  const { task, receipt } = opts
  const mode = opts.mode ?? 'exact'
  checkReceipt(task, receipt)
  const segments = [...new Set(opts.segments)].sort((a, b) => a - b)
  const index = new Map(receipt.chain.map((c, i) => [c.step, i]))
  const decoded = new Map<number, Checkpoint>()
  for (const step of checkpointsNeeded(task, segments, mode)) {
    decoded.set(step, checkHandedOver(task, receipt, index.get(step) as number, opts.checkpoints.get(step)))
  }
  const all = segmentsOf(task)
  const mismatches: SegmentMismatch[] = []
  let worst = 0
  const started = performance.now()
  for (const i of segments) {
    const s = all[i]
    const claimed = receipt.chain[i].hash
    const replay = await replaySegment(task, s.from === 0 ? null : opts.checkpoints.get(s.from) as Uint8Array)
    if (replay.hash === claimed) continue
    if (mode === 'exact') {
      mismatches.push({ segment: i, step: s.to, claimed, recomputed: replay.hash })
      continue
    }
    const cmp = compareCheckpoints(decodeCheckpoint(replay.bytes, task.specs), decoded.get(s.to) as Checkpoint, task.specs, mode.tolerance, mode.lossTolerance ?? LOSS_TOLERANCE)
    worst = Math.max(worst, cmp.relative)
    if (!cmp.ok) mismatches.push({ segment: i, step: s.to, claimed, recomputed: replay.hash, relative: cmp.relative })
  }
  return { ok: mismatches.length === 0, checked: segments, mismatches, computeMs: performance.now() - started, ...(mode !== 'exact' ? { worstRelative: worst } : {}) }
}

/** Bytes at receipt entry `i` must hash to it, belong to the job and step, and link to entry i-1. */
function checkHandedOver (task: TrainTask, receipt: TrainingReceipt, i: number, bytes: Uint8Array | undefined): Checkpoint {
  const entry = receipt.chain[i]
  if (bytes === undefined) throw new CheckpointRefusedError('checkpoint not handed over', { step: entry.step })
  const hash = checkpointHash(bytes)
  if (hash !== entry.hash) throw new CheckpointRefusedError('checkpoint bytes do not hash to the receipt entry', { step: entry.step, expected: entry.hash, actual: hash })
  let c: Checkpoint
  try {
    c = decodeCheckpoint(bytes, task.specs)
  } catch (err) {
    throw new CheckpointRefusedError('checkpoint does not decode', { step: entry.step, cause: (err as Error).message })
  }
  const prev = i === 0 ? null : receipt.chain[i - 1].hash
  if (c.meta.job !== task.job || c.meta.step !== entry.step || c.meta.prev !== prev) {
    throw new CheckpointRefusedError('checkpoint does not link into the receipt', { step: entry.step, job: c.meta.job, metaStep: c.meta.step, prev: c.meta.prev, expectedPrev: prev })
  }
  return c
}

/**
 * Two states of the same run within tolerance: same step, link and optimizer count;
 * parameters, first and second Adam moments each within `tolerance` of the largest
 * magnitude in that group (as bench "determinism" measures it: an early LoRA B matrix is
 * near zero, so a per-tensor scale would magnify noise); every loss within `lossTolerance`.
 */
export function compareCheckpoints (a: Checkpoint, b: Checkpoint, specs: readonly ParamSpec[], tolerance = WEIGHT_TOLERANCE, lossTolerance = LOSS_TOLERANCE): { ok: boolean, relative: number } {
  const d = checkpointDrift(a, b, specs)
  if (!(d.loss <= lossTolerance)) return { ok: false, relative: d.loss }
  let worst = 0
  for (const rel of [d.params, d.m, d.v]) {
    worst = Math.max(worst, rel)
    if (!(rel <= tolerance)) return { ok: false, relative: rel }
  }
  return { ok: true, relative: worst }
}

/**
 * How far two states of the same run are apart, per group: parameters, first and second
 * Adam moments (each as compareCheckpoints scales it), and the worst step loss. Infinity
 * everywhere when they are not states of the same step of the same run.
 */
export function checkpointDrift (a: Checkpoint, b: Checkpoint, specs: readonly ParamSpec[]): { params: number, m: number, v: number, loss: number } {
  if (a.meta.job !== b.meta.job || a.meta.step !== b.meta.step || a.meta.prev !== b.meta.prev || a.optimizer.t !== b.optimizer.t || a.meta.losses.length !== b.meta.losses.length) return { params: Infinity, m: Infinity, v: Infinity, loss: Infinity }
  let loss = 0
  for (let i = 0; i < a.meta.losses.length; i++) {
    const x = a.meta.losses[i]
    const y = b.meta.losses[i]
    const rel = x === y ? 0 : Math.abs(x - y) / Math.max(Math.abs(x), Math.abs(y))
    loss = Number.isNaN(rel) ? Infinity : Math.max(loss, rel)
  }
  const group = (x: ParamSet, y: ParamSet): number => relativeDiff(specs.map(spec => [x.get(spec.name) as Tensor, y.get(spec.name) as Tensor]))
  return { params: group(a.params, b.params), m: group(a.optimizer.m, b.optimizer.m), v: group(a.optimizer.v, b.optimizer.v), loss }
}

/** Largest |x - y| over the largest magnitude in either group (0 when both are all zero). */
function relativeDiff (pairs: ReadonlyArray<readonly [Tensor, Tensor]>): number {
  let diff = 0
  let scale = 0
  for (const [x, y] of pairs) {
    if (x.data.length !== y.data.length) return Infinity
    for (let i = 0; i < x.data.length; i++) {
      diff = Math.max(diff, Math.abs(x.data[i] - y.data[i]))
      scale = Math.max(scale, Math.abs(x.data[i]), Math.abs(y.data[i]))
    }
  }
  if (Number.isNaN(diff)) return Infinity
  return diff === 0 ? 0 : diff / scale
}

/** The delivered adapter is the run's last checkpoint: its parameters, bit for bit. */
export function adapterMatchesCheckpoint (params: ParamSet, lastCheckpoint: Uint8Array, specs: readonly ParamSpec[]): boolean {
  const c = decodeCheckpoint(lastCheckpoint, specs)
  for (const spec of specs) {
    const a = params.get(spec.name)
    const b = c.params.get(spec.name) as Tensor
    if (a === undefined || a.data.length !== b.data.length) return false
    const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength)
    const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength)
    if (!Buffer.from(x).equals(y)) return false
  }
  return params.size === specs.length
}
