// A party answering the job's referee over /openledger/dispute: the worker from its own
// checkpoints and receipt, the rejecting verifier from the worker's checkpoint at the
// segment's start (which it replayed before). Each answers with its own replay (the
// segment replayed once, every step's hash kept), except at the segment's last step,
// where it stands by what it signed (the receipt, or its verdict's claim). Only the
// job's referee may ask, and only about a result and segment this peer is party to.
import { NotADisputeError } from '../../protocols/dispute/dispute.ts'
import type { Envelope } from '../../protocols/envelope.ts'
import { DisputeClaimMessage, type DisputeQuery } from '../../protocols/messages/index.ts'
import { FileCheckpointStore } from '../models/checkpoint-files.ts'
import type { ModelFactory } from '../models/model-factory.ts'
import type { MarketContext } from './context.ts'
import { PartyReplays, segmentBounds, type PartySegment } from './disputes.ts'
import { trainRequestOf } from './job-spec.ts'
import { disputedReceipt, disputedStart } from './referee.ts'
import type { DisputeAnswer } from './wire.ts'

export class DisputeParty {
  private readonly ctx: MarketContext
  private readonly factory: Pick<ModelFactory, 'replayTask'>
  /** Each questioned segment replayed once. */
  private readonly replays = new PartyReplays()

  constructor (ctx: MarketContext, factory: Pick<ModelFactory, 'replayTask'>) {
    this.ctx = ctx
    this.factory = factory
  }

  async onQuery (env: Envelope<DisputeQuery>, from: string): Promise<DisputeAnswer> {
    const { ctx } = this
    const q = env.body
    const state = await ctx.store.load(q.job)
    if (state?.assign?.referee === undefined || state.assign.referee.peer !== from) throw new NotADisputeError('only the job\'s referee asks', { job: q.job })
    if (state.result?.resultHash !== q.resultHash && state.forced?.resultHash !== q.resultHash) throw new NotADisputeError('no such result here', { job: q.job })
    const mine = (state.verdicts ?? []).find(d => d.by.toLowerCase() === ctx.me.address.toLowerCase() && d.resultHash === q.resultHash)
    if (state.role !== 'worker' && (state.role !== 'verifier' || mine?.dispute?.segment !== q.segment)) throw new NotADisputeError('this peer is no party to that dispute', { job: q.job, segment: q.segment })
    const load = async (): Promise<PartySegment & { release: () => Promise<void> }> => {
      const receipt = state.role === 'worker' ? await ctx.receipts.training(q.job) : await disputedReceipt(ctx, state)
      if (receipt === undefined) throw new NotADisputeError('no receipt for that job', { job: q.job })
      const { from: start } = segmentBounds(receipt, q.segment)
      const startBytes = start === 0
        ? null
        : state.role === 'worker'
          ? await new FileCheckpointStore(state.checkpointDir ?? '').load(start)
          : await disputedStart(ctx, state, receipt, q.segment)
      const replay = await this.factory.replayTask(trainRequestOf(state.announce), AbortSignal.timeout(3_600_000))
      const claimAtEnd = state.role === 'worker' ? receipt.chain[q.segment].hash : mine!.dispute!.hash
      return { task: replay.task, receipt, segment: q.segment, start: startBytes, claimAtEnd, release: replay.release }
    }
    if (q.state) {
      const s = await load()
      try { return { state: await PartyReplays.stateAt(s, q.step) } } finally { await s.release() }
    }
    const hash = await this.replays.hashAt(`${q.job}:${q.resultHash}:${q.segment}`, q.step, load)
    return { claim: ctx.seal(DisputeClaimMessage.type, { job: q.job, resultHash: q.resultHash, step: q.step, hash }) }
  }
}
