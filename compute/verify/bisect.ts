// Narrowing a disputed segment to one step. The trainer checkpoints only every
// `checkpointEvery` steps, so a party produces the state after any step inside a segment
// by replaying it (`stepHashes`); that state is encoded as the checkpoint the trainer
// would write there (prev = the segment's start, losses since it), so the state at the
// segment's end is exactly the receipt's checkpoint. `Bisection` is a pure game over
// [lo, hi] where the parties agree at lo and differ at hi: each round asks both for their
// hash at the midpoint, until hi = lo + 1; a referee then recomputes that single step
// from the agreed state and says whose hash at lo + 1 is right. The ruling becomes
// evidence whose keccak256 is the bytes32 the staking contract's `slash` takes.

import { keccak_256 } from '@noble/hashes/sha3.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { cloneParams } from '../tensors/param-set.ts'
import { initAdamW } from '../train/adamw.ts'
import { checkpointHash, CHECKPOINT_FORMAT, decodeCheckpoint, encodeCheckpoint } from '../train/checkpoint.ts'
import { canonicalJson } from '../train/fingerprint.ts'
import { replaySteps, type TrainTask } from '../train/trainer.ts'
import { BadDisputeError } from './errors.ts'
import { compareCheckpoints, LOSS_TOLERANCE, type SegmentMismatch } from './training.ts'
import { receiptHash, type TrainingReceipt } from './sample.ts'

/** The task's starting state in checkpoint form: both parties derive it, so it is always agreed. */
export function initialState (task: TrainTask): Uint8Array {
  return encodeCheckpoint({ meta: { format: CHECKPOINT_FORMAT, job: task.job, step: 0, prev: null, losses: [] }, params: cloneParams(task.init), optimizer: initAdamW(task.specs) })
}

export function initialStateHash (task: TrainTask): string {
  return checkpointHash(initialState(task))
}

/**
 * Replays from `from` (null: the initial state) to `until` (default: the next checkpoint)
 * and returns the hash of the state after every step; `keep` lists steps whose state
 * bytes to return as well (what a party hands the referee).
 */
export async function stepHashes (task: TrainTask, from: Uint8Array | null, opts: { until?: number, keep?: readonly number[] } = {}): Promise<{ hashes: Array<{ step: number, hash: string }>, states: Map<number, Uint8Array> }> {
  const start = from === null ? 0 : decodeCheckpoint(from, task.specs).meta.step
  const until = opts.until ?? Math.min(task.steps, (Math.floor(start / task.checkpointEvery) + 1) * task.checkpointEvery)
  const keep = new Set(opts.keep ?? [])
  const hashes: Array<{ step: number, hash: string }> = []
  const states = new Map<number, Uint8Array>()
  await replaySteps(task, from, until, c => {
    const bytes = encodeCheckpoint(c)
    hashes.push({ step: c.meta.step, hash: checkpointHash(bytes) })
    if (keep.has(c.meta.step)) states.set(c.meta.step, bytes)
  })
  return { hashes, states }
}

export interface BisectionOutcome {
  /** The disputed step runs from state `lo` to state `lo + 1`. */
  lo: number
  /** Hash of the state at lo, which both parties gave. */
  agreed: string
  /** Each party's hash of the state at lo + 1. */
  worker: string
  challenger: string
  rounds: number
}

/**
 * The bisection game, pure: feed it both parties' hashes at `query()` until `done`. A
 * party that will not answer loses by timeout, which is the network's business.
 */
export class Bisection {
  lo: number
  hi: number
  agreed: string
  worker: string
  challenger: string
  rounds = 0

  constructor (opts: { lo: number, hi: number, agreed: string, worker: string, challenger: string }) {
    if (!Number.isSafeInteger(opts.lo) || !Number.isSafeInteger(opts.hi) || opts.lo < 0 || opts.hi <= opts.lo) throw new BadDisputeError('bisection needs lo < hi', { lo: opts.lo, hi: opts.hi })
    if (opts.worker === opts.challenger) throw new BadDisputeError('the parties agree at hi: nothing to dispute', { hi: opts.hi })
    this.lo = opts.lo
    this.hi = opts.hi
    this.agreed = opts.agreed
    this.worker = opts.worker
    this.challenger = opts.challenger
  }

  /** The dispute over a mismatching segment of a verdict: agreed at its start, differing at its checkpoint. */
  static forSegment (task: TrainTask, receipt: TrainingReceipt, m: SegmentMismatch): Bisection {
    const i = m.segment
    const agreed = i === 0 ? initialStateHash(task) : receipt.chain[i - 1].hash
    const lo = i === 0 ? 0 : receipt.chain[i - 1].step
    return new Bisection({ lo, hi: receipt.chain[i].step, agreed, worker: receipt.chain[i].hash, challenger: m.recomputed })
  }

  get done (): boolean { return this.hi - this.lo === 1 }

  /** The step both parties must give their state hash at next; null once narrowed. */
  query (): number | null {
    return this.done ? null : this.lo + Math.floor((this.hi - this.lo) / 2)
  }

  answer (worker: string, challenger: string): void {
    const mid = this.query()
    if (mid === null) throw new BadDisputeError('bisection is already narrowed to one step', { lo: this.lo })
    this.rounds += 1
    if (worker === challenger) {
      this.lo = mid
      this.agreed = worker
    } else {
      this.hi = mid
      this.worker = worker
      this.challenger = challenger
    }
  }

  outcome (): BisectionOutcome {
    if (!this.done) throw new BadDisputeError('bisection is not narrowed yet', { lo: this.lo, hi: this.hi })
    return { lo: this.lo, agreed: this.agreed, worker: this.worker, challenger: this.challenger, rounds: this.rounds }
  }
}

/** Plays the game to the end, asking both parties through `ask` (a network round each). */
export async function bisect (game: Bisection, ask: (step: number) => Promise<{ worker: string, challenger: string }>): Promise<BisectionOutcome> {
  for (let mid = game.query(); mid !== null; mid = game.query()) {
    const a = await ask(mid)
    game.answer(a.worker, a.challenger)
  }
  return game.outcome()
}

export interface RefereeRuling {
  step: number
  recomputed: string
  /** Whose hash at lo + 1 the recomputation confirms; 'neither' when both are wrong. */
  right: 'worker' | 'challenger' | 'neither'
}

/**
 * Recomputes the one disputed step from the agreed state at lo (its bytes, from either
 * party; null when lo is 0) and rules. On other kernels than the parties', pass their
 * state bytes at lo + 1 and a tolerance: the party whose state hashes to its claim and
 * lies within tolerance of the recomputation is right.
 */
export async function refereeStep (task: TrainTask, stateAtLo: Uint8Array | null, dispute: BisectionOutcome, opts: { tolerance?: number, states?: { worker?: Uint8Array, challenger?: Uint8Array } } = {}): Promise<RefereeRuling> {
  const lo = dispute.lo
  if (dispute.worker === dispute.challenger) throw new BadDisputeError('the parties agree at lo + 1', { lo })
  if (lo === 0 || stateAtLo === null) {
    if (lo !== 0 || dispute.agreed !== initialStateHash(task)) throw new BadDisputeError('the state at lo is missing or is not the task\'s initial state', { lo })
  } else {
    if (checkpointHash(stateAtLo) !== dispute.agreed) throw new BadDisputeError('state bytes are not the agreed state', { lo, agreed: dispute.agreed })
    if (decodeCheckpoint(stateAtLo, task.specs).meta.step !== lo) throw new BadDisputeError('agreed state is not at step lo', { lo })
  }
  const { hashes, states } = await stepHashes(task, lo === 0 ? null : stateAtLo, { until: lo + 1, keep: [lo + 1] })
  const recomputed = hashes[0].hash
  let right: RefereeRuling['right'] = recomputed === dispute.worker ? 'worker' : recomputed === dispute.challenger ? 'challenger' : 'neither'
  if (right === 'neither' && opts.tolerance !== undefined) {
    const mine = decodeCheckpoint(states.get(lo + 1) as Uint8Array, task.specs)
    const within = (bytes: Uint8Array | undefined, claim: string): boolean =>
      bytes !== undefined && checkpointHash(bytes) === claim && compareCheckpoints(mine, decodeCheckpoint(bytes, task.specs), task.specs, opts.tolerance, LOSS_TOLERANCE).ok
    const w = within(opts.states?.worker, dispute.worker)
    const c = within(opts.states?.challenger, dispute.challenger)
    if (w !== c) right = w ? 'worker' : 'challenger'
  }
  return { step: lo, recomputed, right }
}

export const EVIDENCE_FORMAT = 'openledger/training-fault/1'

/** What proves a training fault: enough for anyone to rerun the one step and check. */
export interface FaultEvidence {
  format: typeof EVIDENCE_FORMAT
  job: string
  /** Hash of the receipt the worker committed to. */
  receipt: string
  segment: number
  /** The step from state `step` to `step + 1`. */
  step: number
  agreed: string
  worker: string
  challenger: string
  recomputed: string
  /** Whose claim the recomputation refutes. */
  faulty: 'worker' | 'challenger' | 'both'
}

export function faultEvidence (receipt: TrainingReceipt, segment: number, dispute: BisectionOutcome, ruling: RefereeRuling): FaultEvidence {
  const faulty = ruling.right === 'worker' ? 'challenger' : ruling.right === 'challenger' ? 'worker' : 'both'
  return { format: EVIDENCE_FORMAT, job: receipt.job, receipt: receiptHash(receipt), segment, step: dispute.lo, agreed: dispute.agreed, worker: dispute.worker, challenger: dispute.challenger, recomputed: ruling.recomputed, faulty }
}

/** keccak256 of the evidence's canonical JSON (keys sorted), as the contract's bytes32. */
export function evidenceHash (e: FaultEvidence): `0x${string}` {
  return `0x${bytesToHex(keccak_256(new TextEncoder().encode(canonicalJson(e))))}`
}
