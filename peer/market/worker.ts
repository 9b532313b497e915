// The worker: produces the assigned job's result through its kind (planting a forced
// error when its committed secret draws one), keeps the receipt it commits to, and
// hands the result to the requester, the verifiers and the referee, each retried with
// backoff: a dropped stream or a verifier restarting must not leave a job without its
// result. It serves its receipt and checkpoints over /openledger/verify to whoever
// checks them (a verifier serves the checkpoints it holds for a replacement worker).
import { JobResultMessage, type JobResult } from '../../protocols/messages/index.ts'
import { FileCheckpointStore } from '../models/checkpoint-files.ts'
import { ESCROW } from './chain.ts'
import { sleep, type MarketContext } from './context.ts'
import type { ForcedErrors } from './forced-reveals.ts'
import type { Handover } from './handover.ts'
import { canTransition, transition, type JobState } from './job-state.ts'
import type { Delivery, UnsignedResult } from './kinds/kind.ts'
import { participation } from './signing.ts'
import type { ReceiptPart } from './wire.ts'

export class Worker {
  private readonly ctx: MarketContext
  private readonly handover: Handover
  private readonly forced: ForcedErrors
  private readonly busy = new Set<string>()

  constructor (ctx: MarketContext, handover: Handover, forced: ForcedErrors) {
    this.ctx = ctx
    this.handover = handover
    this.forced = forced
  }

  /** Produces and delivers the job's result (once at a time per job; after a restart the factory resumes from its last checkpoint). */
  async work (job: string): Promise<void> {
    const { ctx } = this
    if (this.busy.has(job)) return
    this.busy.add(job)
    try {
      const state = await ctx.store.status(job)
      const w = await ctx.kinds[state.announce.kind].work({ state, behaviour: ctx.behaviour, drawsForcedError: async () => await this.forced.draws(state) })
      state.computeMs = w.computeMs
      state.cheated = w.cheated
      if (w.real !== undefined) {
        await ctx.receipts.write(job, w.real.receiptBytes, true)
        state.forced = { real: await this.signed(w.real.result), ...(w.real.checkpointDir !== undefined ? { realCheckpointDir: w.real.checkpointDir } : {}), resultHash: w.delivered.result.resultHash }
        ctx.log('forced error planted', { job })
        this.forced.revealLater(job, ctx.timing.revealAfterMs)
      }
      await this.deliver(state, w.delivered)
    } catch (err) {
      ctx.log('job work failed', { job, error: (err as Error).message })
      const state = await ctx.store.load(job)
      if (state !== undefined && canTransition(state, 'failed')) {
        transition(state, 'failed')
        state.error = (err as Error).message
        await ctx.store.save(state)
      }
    } finally {
      this.busy.delete(job)
    }
  }

  /** Keeps the receipt (first: a verifier asks for it as soon as it has the result), then sends the result. */
  async deliver (state: JobState, d: Delivery, attempts = this.ctx.timing.resultAttempts): Promise<void> {
    await this.ctx.receipts.write(state.job, d.receiptBytes)
    if (d.checkpointDir !== undefined) state.checkpointDir = d.checkpointDir
    await this.send(state, await this.signed(d.result), attempts)
  }

  /** The result with this worker's Participation: it answers for it on chain. */
  private async signed (r: UnsignedResult): Promise<JobResult> {
    return { ...r, participation: await participation(this.ctx, r.job, r.resultHash) }
  }

  /** Sends the result to every peer of the job at once, each retried with backoff and a fresh envelope (a refused one's nonce is spent). */
  async send (state: JobState, result: JobResult, attempts: number): Promise<void> {
    const { ctx } = this
    state.result = result
    transition(state, 'submitted')
    await ctx.store.save(state)
    const targets = [...new Set([
      ...(state.requesterPeer !== undefined ? [state.requesterPeer] : []),
      ...(state.assign?.verifiers.map(v => v.peer) ?? []),
      ...(state.assign?.referee !== undefined ? [state.assign.referee.peer] : [])
    ])]
    await Promise.all(targets.map(async peer => {
      for (let i = 1; i <= attempts; i++) {
        const answer = await ctx.wire.send(peer, ctx.seal(JobResultMessage.type, result)).catch((err: Error) => ({ accepted: false, reason: err.message }))
        if (answer.accepted) return
        ctx.log('result not delivered', { peer, reason: answer.reason, attempt: i })
        if (i < attempts) await sleep(Math.min(ctx.timing.retryMaxMs, ctx.timing.retryBaseMs * 2 ** (i - 1)))
      }
    }))
    ctx.log('job result sent', { job: state.job, result: result.result, to: targets.length })
  }

  /**
   * What this peer serves over /openledger/verify: a worker its receipt and checkpoints, a
   * verifier the checkpoints it holds. Until the escrow has paid, only to the job's own
   * peers (requester, workers, verifiers, referee): the last checkpoint is the result, and
   * nobody else gets it for free. Once released, to anyone (an attribution job reads them).
   */
  async serveEntry (job: string, entry: ReceiptPart, from?: string): Promise<Uint8Array | undefined> {
    const state = await this.ctx.store.load(job)
    if (state !== undefined && from !== undefined && !isJobPeer(state, from) && (await this.ctx.chain.jobOf(job)).status !== ESCROW.released) return undefined
    if (state?.role === 'verifier' && typeof entry === 'number') return await this.handover.held(job, entry)
    if (state?.role !== 'worker' || (state.result === undefined && typeof entry !== 'number')) return undefined
    if (entry === 'receipt') return await this.ctx.receipts.read(job)
    if (state.checkpointDir === undefined) return undefined
    const store = new FileCheckpointStore(state.checkpointDir)
    if (!(await store.steps()).includes(entry)) return undefined
    return await store.load(entry)
  }
}

/** The requester or a peer the job's assignment names. */
function isJobPeer (state: JobState, peer: string): boolean {
  const a = state.assign
  return state.requesterPeer === peer || a?.workers.some(w => w.peer === peer) === true || a?.verifiers.some(v => v.peer === peer) === true || a?.referee?.peer === peer
}
