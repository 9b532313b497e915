// The referee's part: on a verdict whose replay disagreed, bisect between worker and
// verifier over the segment (./disputes.ts plays the game over /openledger/dispute),
// recompute the one step left, publish the ruling, and slash whoever it refutes by the
// shared verdict rule (a refuted verifier for a false accusation, with the worker as
// prover; a refuted worker for skipped steps, with the verifier as prover). A forced-
// error reveal first ends the matter. A ruling for the worker counts as the referee's
// approval (its Completion signature rides with it).
import { decodeTrainingReceipt } from '../../compute/jobs/training-receipt-file.ts'
import { BadReceiptError, CheckpointRefusedError } from '../../compute/verify/errors.ts'
import type { TrainingReceipt } from '../../compute/verify/sample.ts'
import { checkReceipt } from '../../compute/verify/training.ts'
import { bitExact } from '../../compute/verify/device-tolerance.ts'
import { deviceStamp } from '../../compute/onnx/device-class.ts'
import type { TrainTask } from '../../compute/train/trainer.ts'
import { NotADisputeError } from '../../protocols/dispute/dispute.ts'
import { DisputeQueryMessage, JobRulingMessage, type DisputeQuery, type JobRuling, type JobVerdict } from '../../protocols/messages/index.ts'
import { classifyFault, jobVerdict, type WorkerFault } from '../../settlement/policy/index.ts'
import { HONEST } from './adversaries/behaviour.ts'
import { beaconHolds, findingsOf, runCheck } from './check-run.ts'
import { sleep } from './context.ts'
import type { ModelFactory } from '../models/model-factory.ts'
import type { MarketContext } from './context.ts'
import { BeaconMismatchError } from './errors.ts'
import { playDispute, type DisputeAsk, type Party } from './disputes.ts'
import type { ForcedErrors } from './forced-reveals.ts'
import { trainRequestOf } from './job-spec.ts'
import { canTransition, transition, verdictsOn, type JobState } from './job-state.ts'
import { fetchCheckpoint, fetchReceipt, ReceiptMismatchError } from './receipts.ts'
import { completion, evidenceRef } from './signing.ts'
import { slash } from './slasher.ts'
import { replayWorkerSegments } from './segment-replay.ts'

/** The worker's training receipt for a disputed result, checked against the CID its result names. */
export async function disputedReceipt (ctx: MarketContext, state: JobState): Promise<TrainingReceipt> {
  try {
    return decodeTrainingReceipt(await fetchReceipt(ctx.wire.fetch, state.assign!.workers[0].peer, state.job, state.result!.receipt.chain))
  } catch (err) {
    if (err instanceof ReceiptMismatchError || err instanceof BadReceiptError) throw new NotADisputeError(`the worker's receipt does not hold: ${err.message}`, { job: state.job })
    throw err
  }
}

/** The worker's checkpoint at the start of `segment`, checked against its receipt. */
export async function disputedStart (ctx: MarketContext, state: JobState, receipt: TrainingReceipt, segment: number): Promise<Uint8Array> {
  const { step, hash } = receipt.chain[segment - 1]
  try {
    return await fetchCheckpoint(ctx.wire.fetch, state.assign!.workers[0].peer, state.job, step, hash)
  } catch (err) {
    if (err instanceof CheckpointRefusedError) throw new NotADisputeError('the checkpoint is not the receipt\'s', { job: state.job, step })
    throw err
  }
}

/**
 * A dispute no bisection can settle (the challenger or this referee on another device
 * class than the worker): the disputed segment replayed here from the worker's start
 * checkpoint and compared with its end checkpoint, bit for bit on the worker's CPU class,
 * within the pair's measured tolerance otherwise. Bytes that are not the receipt's make
 * it no dispute.
 */
export async function segmentRuling (ctx: MarketContext, state: JobState, receipt: TrainingReceipt, task: TrainTask, segment: number): Promise<{ ok: boolean, detail: unknown }> {
  let replay
  try {
    replay = await replayWorkerSegments(ctx, state.assign!.workers[0].peer, state.job, task, receipt, [segment])
  } catch (err) {
    if (err instanceof CheckpointRefusedError) throw new NotADisputeError('the checkpoint is not the receipt\'s', { job: state.job, ...err.details })
    throw err
  }
  const { verdict: v, mode, mine } = replay
  return { ok: v.ok, detail: { job: state.job, segment, mode, referee: mine, worker: receipt.device, mismatches: v.mismatches, worstRelative: v.worstRelative } }
}

export class Referee {
  private readonly ctx: MarketContext
  private readonly factory: Pick<ModelFactory, 'replayTask'>
  private readonly forced: ForcedErrors
  private readonly ruling = new Set<string>()

  constructor (ctx: MarketContext, factory: Pick<ModelFactory, 'replayTask'>, forced: ForcedErrors) {
    this.ctx = ctx
    this.factory = factory
    this.forced = forced
  }

  async rule (job: string, v: JobVerdict, challenger: { peerId: string, address: string }): Promise<void> {
    const { ctx } = this
    const key = `${job}:${v.resultHash}:${challenger.address.toLowerCase()}`
    if (this.ruling.has(key) || v.dispute === undefined) return
    this.ruling.add(key)
    const dispute = v.dispute
    try {
      let state = await ctx.store.status(job)
      if ((state.rulings ?? []).some(r => r.resultHash === v.resultHash && r.challenger.toLowerCase() === challenger.address.toLowerCase())) return
      if (state.result?.resultHash !== v.resultHash) { ctx.log('dispute over a result the referee never got', { job }); return }
      if (state.assign?.workers[0].commit !== undefined && await this.forced.revealedWhileWaiting(job, v.resultHash)) {
        ctx.log('disputed result was a forced error: no ruling', { job })
        return
      }
      state = await ctx.store.status(job)
      transition(state, 'verifying')
      await ctx.store.save(state)
      const result = state.result!
      const workerPeer = state.assign!.workers[0].peer
      const receipt = await disputedReceipt(ctx, state)
      const started = performance.now()
      const replay = await this.factory.replayTask(trainRequestOf(state.announce), AbortSignal.timeout(3_600_000))
      let ruling: Awaited<ReturnType<typeof playDispute>>
      try {
        checkReceipt(replay.task, receipt)
        if (receipt.chain[dispute.segment]?.step !== dispute.step) throw new NotADisputeError('the dispute names no checkpoint of the receipt', { segment: dispute.segment })
        // A bisection compares state hashes, which only a replay on the worker's own CPU
        // class reproduces: otherwise this referee replays the whole segment itself.
        if (dispute.tolerance === true || !bitExact(receipt.device, deviceStamp(ctx.device))) {
          const found = await segmentRuling(ctx, state, receipt, replay.task, dispute.segment)
          await this.publishRuling(job, v, challenger, { step: dispute.step, rounds: 0, faulty: found.ok ? 'challenger' : 'worker', detail: found.detail, fault: 'skipped-steps' }, started)
          return
        }
        const peerOf = (p: Party): string => p === 'worker' ? workerPeer : challenger.peerId
        const query = (step: number, wantState: boolean): DisputeQuery => ({ job, resultHash: v.resultHash, segment: dispute.segment, step, state: wantState })
        const ask: DisputeAsk = {
          hash: async (party, step) => {
            const q = query(step, false)
            const r = await ctx.wire.askDispute(peerOf(party), q, ctx.seal(DisputeQueryMessage.type, q))
            return { hash: r.claim!.body.hash, claim: r.claimBytes! }
          },
          state: async (party, step) => {
            const q = query(step, true)
            return (await ctx.wire.askDispute(peerOf(party), q, ctx.seal(DisputeQueryMessage.type, q))).state!
          }
        }
        const s = state
        ruling = await playDispute({
          task: replay.task,
          receipt,
          segment: dispute.segment,
          challengerClaim: dispute.hash,
          start: async () => dispute.segment === 0 ? null : await disputedStart(ctx, s, receipt, dispute.segment),
          ask,
          log: (msg, fields) => ctx.log(msg, { job, ...fields })
        })
      } finally {
        await replay.release()
      }
      await this.publishRuling(job, v, challenger, { step: ruling.step, rounds: ruling.rounds, faulty: ruling.faulty, detail: ruling.evidence, fault: 'skipped-steps' }, started)
    } catch (err) {
      this.ruling.delete(key)
      ctx.log('dispute failed', { job, error: (err as Error).name, message: (err as Error).message })
    }
  }

  /**
   * A rejection that claims a fault but no disputed replay (a refused receipt or file, a
   * wrong output, a stale or copied result, in any kind): the referee re-runs the check
   * with the challenger's own sample (its beacon, checked to be its signature), so it
   * recomputes exactly what the challenger did, on its own machine. The same fault found
   * again is slashed (the challenger proves it); a result that checks out refutes the
   * challenger, whose false accusation is slashed; a check the network keeps failing
   * rules nothing.
   */
  async confirm (job: string, v: JobVerdict, challenger: { peerId: string, address: string }): Promise<void> {
    const { ctx } = this
    const key = `${job}:${v.resultHash}:${challenger.address.toLowerCase()}`
    if (this.ruling.has(key) || v.dispute !== undefined || v.unproven === true) return
    this.ruling.add(key)
    try {
      let state = await ctx.store.status(job)
      if ((state.rulings ?? []).some(r => r.resultHash === v.resultHash && r.challenger.toLowerCase() === challenger.address.toLowerCase())) return
      if (state.result?.resultHash !== v.resultHash) { ctx.log('rejection of a result the referee never got', { job }); return }
      if (state.assign?.workers[0].commit !== undefined && await this.forced.revealedWhileWaiting(job, v.resultHash)) {
        ctx.log('rejected result was a forced error: no ruling', { job })
        return
      }
      state = await ctx.store.status(job)
      if (canTransition(state, 'verifying')) transition(state, 'verifying')
      await ctx.store.save(state)
      const started = performance.now()
      const seed = {
        verifier: challenger.address,
        behaviour: HONEST,
        beacon: (subject: string): string => {
          if (v.beacon === undefined || !beaconHolds(job, subject, v.beacon, challenger.address)) throw new BeaconMismatchError('the challenger\'s beacon is not its signature over this receipt', { job })
          return v.beacon
        }
      }
      for (let attempt = 1; ; attempt++) {
        const run = await runCheck(ctx, state, state.result!, state.assign!.workers[0].peer, seed)
        if (run.kind === 'failed' && run.transient) {
          if (attempt >= ctx.timing.verifyAttempts) { ctx.log('the referee could not re-run the check: no ruling', { job, error: run.error.name }); this.ruling.delete(key); return }
          await sleep(ctx.timing.verifyRetryMs * attempt)
          continue
        }
        // A beacon that is not the challenger's: its claim rests on nothing.
        const bogus = run.kind === 'failed' && run.error instanceof BeaconMismatchError
        const evidence = run.kind === 'checked' ? run.check.evidence : { job, error: run.error.name, message: run.error.message }
        const fault = run.kind === 'checked' && run.check.ok ? null : bogus ? null : classifyFault(findingsOf(evidence))
        const faulty = fault === null ? 'challenger' : 'worker'
        const detail = { job, challenger: challenger.address, recomputed: run.kind === 'checked' ? { ok: run.check.ok, checked: run.check.checked, evidence: run.check.evidence } : { error: run.error.name, message: run.error.message } }
        await this.publishRuling(job, v, challenger, { step: 0, rounds: 0, faulty, detail, fault: fault ?? 'wrong-result' }, started)
        return
      }
    } catch (err) {
      this.ruling.delete(key)
      ctx.log('rejection ruling failed', { job, error: (err as Error).name, message: (err as Error).message })
    }
  }

  /** Publishes the ruling and slashes, by the shared verdict rule, whoever it refutes (this referee signs each slash). */
  private async publishRuling (job: string, v: JobVerdict, challenger: { peerId: string, address: string },
    r: { step: number, rounds: number, faulty: JobRuling['faulty'], detail: unknown, fault: WorkerFault }, started: number): Promise<void> {
    const { ctx } = this
    const state = await ctx.store.status(job)
    const result = state.result!
    const evidence = await evidenceRef(r.detail)
    const body: JobRuling = {
      job, worker: result.worker, resultHash: v.resultHash, challenger: challenger.address, step: r.step, rounds: r.rounds, faulty: r.faulty, evidence,
      ...(r.faulty === 'challenger' ? { completion: await completion(ctx, job, result) } : {})
    }
    state.rulings = [...(state.rulings ?? []), { ...body, detail: r.detail }]
    transition(state, r.faulty === 'challenger' ? 'verified' : 'failed')
    state.wallMs = performance.now() - started
    await ctx.store.save(state)
    await ctx.publish('verdicts', JobRulingMessage.type, body)
    ctx.log('rejection ruled', { job, faulty: r.faulty, step: r.step, rounds: r.rounds })
    await ctx.book.record(result.worker, r.faulty === 'challenger' ? 'verified' : 'failed', job)
    // Who is slashed, by the rule the simulator uses too.
    const verdicts = verdictsOn(state, v.resultHash)
    const judged = r.faulty === 'challenger'
      ? jobVerdict({ worker: result.worker.toLowerCase(), verdicts, referee: 'clean', refuted: [challenger.address.toLowerCase()] })
      : jobVerdict({ worker: result.worker.toLowerCase(), verdicts, referee: 'fault', fault: r.fault })
    for (const x of judged.slashes) {
      const isWorker = x.peer === result.worker.toLowerCase()
      const target = isWorker ? result.worker : x.peer === challenger.address.toLowerCase() ? challenger.address : undefined
      if (target === undefined) continue
      const participation = isWorker ? result.participation : v.participation
      const slashed = await slash(ctx, state, { address: target, role: x.role, fault: x.fault, resultHash: v.resultHash, participation }, evidence.hash, x.prover ?? ctx.me.address)
      if (slashed !== undefined) {
        const s2 = await ctx.store.status(job)
        s2.slash = slashed
        await ctx.store.save(s2)
      }
    }
  }
}
