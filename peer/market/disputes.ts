// Disputes over a training verdict, both sides of /openledger/dispute/1.0.0. When a
// verifier's replay of a segment disagrees with the worker's receipt, the job's referee
// bisects between the two: each round it asks both for their state hash at the midpoint
// (signed claims), until one step is left; then it recomputes that single step from the
// agreed state and rules. `PartyReplays` is how a party answers (its own replay of the
// segment, computed once); `playDispute` is the referee's game (the pure Bisection of
// compute/verify/bisect.ts, played over the network). A party that does not answer loses.
import { bytesToHex } from '@noble/hashes/utils.js'
import { Bisection, faultEvidence, initialStateHash, refereeStep, stepHashes, type BisectionOutcome, type FaultEvidence } from '../../compute/verify/bisect.ts'
import type { TrainingReceipt } from '../../compute/verify/sample.ts'
import { checkpointHash } from '../../compute/train/checkpoint.ts'
import type { TrainTask } from '../../compute/train/trainer.ts'

/** One party's view of a disputed segment: where it starts, and what it claims at the end. */
export interface PartySegment {
  task: TrainTask
  receipt: TrainingReceipt
  segment: number
  /** The state at the segment's start (null for segment 0: the task's initial state). */
  start: Uint8Array | null
  /** What this party signed for the segment's last step: the receipt's hash (worker) or its verdict's (challenger). */
  claimAtEnd: string
}

export function segmentBounds (receipt: TrainingReceipt, segment: number): { from: number, to: number } {
  if (!Number.isSafeInteger(segment) || segment < 0 || segment >= receipt.chain.length) throw new RangeError(`no segment ${segment} in a receipt of ${receipt.chain.length}`)
  return { from: segment === 0 ? 0 : receipt.chain[segment - 1].step, to: receipt.chain[segment].step }
}

/**
 * A party's answers for the segments it is questioned on: the whole segment is replayed
 * once (from the agreed start) and every step's hash kept, so each round of a bisection
 * is a lookup. The segment's last step answers with what the party signed before.
 */
export class PartyReplays {
  private readonly hashes = new Map<string, Promise<Map<number, string>>>()
  private readonly max: number

  constructor (opts: { max?: number } = {}) {
    this.max = opts.max ?? 8
  }

  async hashAt (key: string, step: number, load: () => Promise<PartySegment & { release: () => Promise<void> }>): Promise<string> {
    let entry = this.hashes.get(key)
    if (entry === undefined) {
      entry = (async () => {
        const s = await load()
        try {
          const { from, to } = segmentBounds(s.receipt, s.segment)
          const out = new Map<number, string>()
          out.set(from, s.start === null ? initialStateHash(s.task) : checkpointHash(s.start))
          const { hashes } = await stepHashes(s.task, s.start, { until: to })
          for (const h of hashes) out.set(h.step, h.hash)
          out.set(to, s.claimAtEnd)
          return out
        } finally {
          await s.release()
        }
      })()
      this.hashes.set(key, entry)
      entry.catch(() => this.hashes.delete(key))
      while (this.hashes.size > this.max) this.hashes.delete(this.hashes.keys().next().value as string)
    }
    const hash = (await entry).get(step)
    if (hash === undefined) throw new RangeError(`step ${step} is outside the disputed segment`)
    return hash
  }

  /** The state bytes after `step` (inside the segment), replayed from its start. */
  static async stateAt (s: PartySegment, step: number): Promise<Uint8Array> {
    const { from, to } = segmentBounds(s.receipt, s.segment)
    if (step < from || step >= to) throw new RangeError(`step ${step} is outside [${from}, ${to})`)
    if (step === from) {
      if (s.start === null) throw new RangeError('the initial state is the task\'s own: nobody sends it')
      return s.start
    }
    const { states } = await stepHashes(s.task, s.start, { until: step, keep: [step] })
    return states.get(step) as Uint8Array
  }
}

export type Party = 'worker' | 'challenger'

/** How the referee reaches the parties: a signed claim (hash and the claim's envelope bytes) or a state's bytes. Throws when the party does not answer. */
export interface DisputeAsk {
  hash: (party: Party, step: number) => Promise<{ hash: string, claim: Uint8Array }>
  state: (party: Party, step: number) => Promise<Uint8Array>
}

export interface DisputeRuling {
  /** Whose claim is refuted: the loser. */
  faulty: 'worker' | 'challenger' | 'both'
  step: number
  rounds: number
  /** What the slash commits to: the bisection, the recomputation, and every signed claim. */
  evidence: DisputeEvidence
}

export interface DisputeEvidence {
  format: 'openledger/dispute/1'
  fault?: FaultEvidence
  /** A party that did not answer a query loses by default: which, and at what step. */
  unanswered?: { party: Party, step: number, error: string }
  /** The signed claims (dispute-claim/1 envelopes, hex) the game was played on. */
  claims: string[]
}

/**
 * The referee's game for one mismatching segment: agreed at its start, the worker's
 * receipt and the challenger's claim differing at its end. Returns who is refuted.
 * The agreed state at the final step comes from a party (checked against the agreed
 * hash) or, if neither sends a valid one, from the referee's own replay of the segment.
 */
export async function playDispute (opts: {
  task: TrainTask
  receipt: TrainingReceipt
  segment: number
  /** The challenger's signed claim at the segment's end (its verdict's dispute hash). */
  challengerClaim: string
  /** The state at the segment's start, for the fallback replay (null for segment 0). */
  start: () => Promise<Uint8Array | null>
  ask: DisputeAsk
  log?: (msg: string, fields?: Record<string, unknown>) => void
}): Promise<DisputeRuling> {
  const { task, receipt, segment } = opts
  const claims: string[] = []
  const mismatch = { segment, step: receipt.chain[segment].step, claimed: receipt.chain[segment].hash, recomputed: opts.challengerClaim }
  const game = Bisection.forSegment(task, receipt, mismatch)
  const lose = (party: Party, step: number, err: unknown): DisputeRuling => ({
    faulty: party, step, rounds: game.rounds,
    evidence: { format: 'openledger/dispute/1', unanswered: { party, step, error: (err as Error).name ?? 'Error' }, claims }
  })
  for (let mid = game.query(); mid !== null; mid = game.query()) {
    const [w, c] = await Promise.allSettled([opts.ask.hash('worker', mid), opts.ask.hash('challenger', mid)])
    if (w.status === 'rejected') return lose('worker', mid, w.reason)
    if (c.status === 'rejected') return lose('challenger', mid, c.reason)
    claims.push(bytesToHex(w.value.claim), bytesToHex(c.value.claim))
    game.answer(w.value.hash, c.value.hash)
    opts.log?.('dispute round', { step: mid, agree: w.value.hash === c.value.hash })
  }
  const outcome: BisectionOutcome = game.outcome()
  let stateAtLo: Uint8Array | null = null
  const { from } = segmentBounds(receipt, segment)
  if (outcome.lo !== 0) {
    for (const party of ['worker', 'challenger'] as const) {
      const bytes = await opts.ask.state(party, outcome.lo).catch(() => undefined)
      if (bytes !== undefined && checkpointHash(bytes) === outcome.agreed) { stateAtLo = bytes; break }
    }
    if (stateAtLo === null) {
      // Neither sent the state both agreed on: the referee replays to it itself.
      const start = await opts.start()
      if (outcome.lo === from && start !== null) stateAtLo = start
      else stateAtLo = (await stepHashes(task, start, { until: outcome.lo, keep: [outcome.lo] })).states.get(outcome.lo) ?? null
    }
  }
  const ruling = await refereeStep(task, stateAtLo, outcome)
  const fault = faultEvidence(receipt, segment, outcome, ruling)
  return { faulty: fault.faulty, step: outcome.lo, rounds: outcome.rounds, evidence: { format: 'openledger/dispute/1', fault, claims } }
}
