// A peer hearing of jobs: it bids on an announce it can take (it holds the base, the
// kind accepts it, the fee is in escrow as announced, and it has the stake for a role),
// and on the assignment takes the role it was given: worker (then it works), verifier,
// referee, or none. The bid states a price, an estimate, the stake (read from the chain
// by the requester, not believed) and, for a worker, its forced-error commitment. It
// bids only when the escrow's deadline leaves room for the work (escrowSecondsNeeded).
import type { Envelope } from '../../protocols/envelope.ts'
import { identityOf } from '../../protocols/identity.ts'
import { deviceStamp } from '../../compute/onnx/device-class.ts'
import { JobBidMessage, type JobAnnounce, type JobAssign, type JobBid } from '../../protocols/messages/index.ts'
import { assignmentHolds } from './assignment-proof.ts'
import { ESCROW } from './chain.ts'
import type { MarketContext } from './context.ts'
import { forcedCommit, forcedSecret } from './forced-errors.ts'
import { transition } from './job-state.ts'
import { escrowSecondsNeeded } from './timing.ts'

export class Bidder {
  private readonly ctx: MarketContext
  /** The kind of a base model this peer holds (name or CID), or undefined. */
  private readonly baseKind: (nameOrCid: string) => string | undefined
  private readonly work: (job: string) => Promise<void>

  constructor (ctx: MarketContext, baseKind: (nameOrCid: string) => string | undefined, work: (job: string) => Promise<void>) {
    this.ctx = ctx
    this.baseKind = baseKind
    this.work = work
  }

  async onAnnounce (env: Envelope<JobAnnounce>): Promise<void> {
    const { ctx } = this
    const a = env.body
    const requester = identityOf(env.signer)
    if (requester.peerId === ctx.me.peerId) return
    // Training receipts name their device class and are checked across classes within
    // the pair's measured tolerance (compute/verify/device-tolerance.ts). Inference and
    // attribution checks still compare tokens and scores as a CPU computes them, so a
    // peer on another device takes only training jobs, and no honest peer is slashed
    // for a device's drift.
    if (ctx.device !== 'cpu' && a.kind !== 'train') {
      ctx.log('job announce ignored: inference and attribution jobs run on the cpu device only, for now', { job: a.job, kind: a.kind, device: ctx.device })
      return
    }
    const baseRef = a.kind === 'train' ? a.spec.params.base : a.spec.base
    const baseKind = typeof baseRef === 'string' ? this.baseKind(baseRef) : undefined
    const kind = ctx.kinds[a.kind]
    if (baseKind === undefined || !(await kind.canTake(a, baseKind))) return
    // The payment must be in escrow as announced before anyone works for it.
    const onChain = await ctx.chain.jobOf(a.job)
    if (onChain.status !== ESCROW.open || onChain.amount !== BigInt(a.escrow.amount) || onChain.requester.toLowerCase() !== requester.address.toLowerCase()) {
      ctx.log('job announce without matching escrow ignored', { job: a.job })
      return
    }
    // The escrow must outlast the work: else it expires on delivery and the requester refunds and keeps the result.
    // The kinds estimate for the CPU; a slower device's compute takes proportionally longer.
    const eta = kind.etaMs(a, baseKind, ctx.deviceSlowdown)
    const left = Number(onChain.deadline) - await ctx.chain.now()
    if (left < escrowSecondsNeeded(eta, ctx.timing)) {
      ctx.log('job announce with too short an escrow ignored', { job: a.job, secondsLeft: left, needed: escrowSecondsNeeded(eta, ctx.timing) })
      return
    }
    const me = ctx.me.address
    const [worker, verifier, minVerifier] = await Promise.all([ctx.chain.stakeOf(me, 'worker'), ctx.chain.stakeOf(me, 'verifier'), ctx.chain.minStake('verifier')])
    const role = worker >= BigInt(a.requiredStake) ? 'worker' : verifier >= minVerifier ? 'verifier' : undefined
    if (role === undefined) return
    const bid: JobBid = {
      job: a.job,
      role,
      price: role === 'worker' ? ctx.behaviour.bidPrice(BigInt(a.maxPrice)).toString() : a.maxPrice,
      etaMs: eta,
      stake: (role === 'worker' ? worker : verifier).toString(),
      ...(role === 'worker' ? { commit: forcedCommit(forcedSecret(ctx.wallet, a.job)) } : {}),
      // Its device class decides how its work is checked and who referees it; a requester may ask for a kind or a rate.
      device: { ...deviceStamp(ctx.device), gflops: ctx.deviceGflops ?? 0 }
    }
    await ctx.store.save({ job: a.job, role, phase: 'bidding', announce: a, requester: requester.address, requesterPeer: requester.peerId, updatedAt: Date.now() })
    const answer = await ctx.wire.send(requester.peerId, ctx.seal(JobBidMessage.type, bid))
    ctx.log('bid sent', { job: a.job, role, accepted: answer.accepted, reason: answer.reason })
  }

  async onAssign (env: Envelope<JobAssign>): Promise<void> {
    const { ctx } = this
    const state = await ctx.store.load(env.body.job)
    if (state === undefined || identityOf(env.signer).address.toLowerCase() !== state.requester.toLowerCase()) return
    // The requester repeats its assignment when the result comes in: the one we hold again changes nothing.
    if (state.assign?.bidsDigest === env.body.bidsDigest && state.assign.workers[0]?.peer === env.body.workers[0]?.peer) return
    if (state.role === 'requester') return
    // An assignment the escrow would not pay on (not the requester's signature, another announce): nobody works for it.
    if (!assignmentHolds(ctx, env.body, state.announce, state.requester)) {
      ctx.log('assignment refused: the escrow would not pay on it', { job: state.job })
      return
    }
    const me = ctx.me.peerId
    state.assign = env.body
    const isWorker = env.body.workers.some(w => w.peer === me)
    const isVerifier = env.body.verifiers.some(v => v.peer === me)
    const isReferee = env.body.referee?.peer === me
    if (!isWorker && !isVerifier && !isReferee) { transition(state, 'unassigned'); await ctx.store.save(state); return }
    transition(state, isWorker ? 'training' : 'assigned', isWorker ? 'worker' : isVerifier ? 'verifier' : 'referee')
    await ctx.store.save(state)
    if (isWorker) void this.work(state.job)
  }
}
