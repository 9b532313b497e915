// The requester: escrows the fee, announces the job, takes bids for the window, assigns
// by the shared policy (workers, verifiers and a referee; a worker that went silent is
// never chosen again), replaces a worker that misses twice its own estimate, and takes
// its fee back from a job that could not complete once the escrow's deadline passed.
// Its copy of the verdicts and the release are kept by ./verdicts.ts and ./release.ts.
import { id as keccakText, keccak256, parseUnits } from 'ethers'
import type { Envelope } from '../../protocols/envelope.ts'
import { identityOf } from '../../protocols/identity.ts'
import { JobAnnounceMessage, JobAssignMessage, type JobAnnounce, type JobAssign, type JobBid } from '../../protocols/messages/index.ts'
import { assignJob } from '../../settlement/policy/index.ts'
import { deviceClassName } from '../../compute/onnx/device-names.ts'
import { UsageError } from '../errors.ts'
import { signAssignment } from './assignment-proof.ts'
import { ESCROW } from './chain.ts'
import { later, sleep, type MarketContext } from './context.ts'
import { transition, type JobState } from './job-state.ts'
import type { KindName } from './kinds/kind.ts'
import type { SubmitRequest } from './kinds/requests.ts'
import { escrowSecondsNeeded } from './timing.ts'
import type { TaskAnswer } from './wire.ts'

/** A worker's estimate of a job about to be announced (its deadline is not known yet, and does not matter to it). */
function etaOf (ctx: MarketContext, kind: KindName, spec: JobAnnounce['spec'], baseKindOf: (nameOrCid: string) => string | undefined): number | undefined {
  const baseRef = kind === 'train' ? spec.params.base : spec.base
  const baseKind = typeof baseRef === 'string' ? baseKindOf(baseRef) : undefined
  if (baseKind === undefined) return undefined
  const draft = { job: '0x' + '0'.repeat(64), kind, spec, escrow: { chainId: 1, contract: '0x' + '0'.repeat(40), amount: '0', deadline: 0 }, maxPrice: '0', requiredStake: '0', workers: 1, verifiers: 1, bidUntil: 0 }
  return ctx.kinds[kind].etaMs(draft, baseKind)
}

/** The escrow's deadline after the announce, in chain seconds. */
const ESCROW_SECONDS = 3_600
/** A worker's estimate when it gave none: the requester replaces it at twice this. */
const DEFAULT_ETA_MS = 60_000

export class Requester {
  private readonly ctx: MarketContext
  /** The kind of a base model this peer holds (to estimate the work when setting the escrow's deadline). */
  private readonly baseKind?: (nameOrCid: string) => string | undefined
  private sweep?: NodeJS.Timeout

  constructor (ctx: MarketContext, baseKind?: (nameOrCid: string) => string | undefined) {
    this.ctx = ctx
    this.baseKind = baseKind
  }

  start (): void {
    this.sweep = setInterval(() => { void this.refundExpired() }, this.ctx.timing.refundSweepMs)
    this.sweep.unref()
  }

  stop (): void {
    clearInterval(this.sweep)
  }

  /** Picks up a requester's record after a restart: assigns once bidding is over, or watches for the result. */
  resume (state: JobState): boolean {
    if (state.phase === 'assigned' && state.result === undefined && state.resultDueAt !== undefined) {
      this.watch(state.job, state.resultDueAt)
      return true
    }
    if (state.phase === 'bidding') {
      later(state.announce.bidUntil - Date.now(), async () => { await this.assign(state.job) }, this.ctx.log, 'assignment failed', { job: state.job })
      return true
    }
    return false
  }

  /** Escrows the fee, announces the job, takes bids for the window, assigns, and returns. */
  async submit (req: SubmitRequest): Promise<JobState> {
    const { ctx } = this
    const fee = parseUnits(req.amount, 18)
    if (fee <= 0n) throw new UsageError('the job needs an amount of OPEN above 0')
    const named = (['train', 'infer', 'attribute'] as const).filter(k => req[k] !== undefined)
    if (named.length !== 1) throw new UsageError('a job is one of a training job, an inference batch or an attribution')
    const kind: KindName = named[0]
    // Other devices take training jobs only, for now (peer/market/bidder.ts): asking one for another kind would find no worker.
    if (kind !== 'train' && req.needs?.device !== undefined && req.needs.device !== 'cpu') throw new UsageError(`${kind} jobs run on the cpu device only, for now: a ${req.needs.device} worker would never bid`, { kind, device: req.needs.device })
    // Checked before any OPEN moves: a bad prompts file, or an adapter no released training job produced, is refused here, not by every worker.
    const spec = kind === 'train' ? await ctx.kinds.train.announceSpec(req.train!) : kind === 'infer' ? await ctx.kinds.infer.announceSpec(req.infer!) : await ctx.kinds.attribute.announceSpec(req.attribute!)
    // The escrow releases on the registry's verifier quorum: fewer assigned verifiers could never be paid (a real L2 asks for 2).
    const quorum = await ctx.chain.verifierQuorum()
    const verifiers = req.verifiers ?? quorum
    if (verifiers < quorum) throw new UsageError(`the escrow releases only with ${quorum} verifiers' signatures: assign at least ${quorum} verifiers, not ${verifiers}`, { verifiers, quorum })
    const job = keccakText(`${ctx.me.address}:${Date.now()}:${Math.random()}`)
    // The escrow's deadline is in chain time (a devnet's clock may have been warped), long
    // enough for bidders to take it: the work twice over (one replacement), then the release.
    const eta = this.baseKind === undefined ? undefined : etaOf(ctx, kind, spec, this.baseKind)
    const deadline = await ctx.chain.now() + Math.max(ESCROW_SECONDS, eta === undefined ? 0 : escrowSecondsNeeded(2 * eta, ctx.timing))
    await ctx.chain.openJob(job, fee, deadline)
    const minWorker = await ctx.chain.minStake('worker')
    const announce: JobAnnounce = {
      job,
      kind,
      spec,
      escrow: { chainId: ctx.chain.chainId, contract: ctx.chain.escrowAddress, amount: fee.toString(), deadline: deadline * 1000 },
      maxPrice: fee.toString(),
      requiredStake: minWorker.toString(),
      workers: 1,
      verifiers,
      bidUntil: Date.now() + (req.bidWindowMs ?? 3_000),
      ...(req.needs !== undefined && Object.keys(req.needs).length > 0 ? { needs: req.needs } : {})
    }
    const state: JobState = { job, role: 'requester', phase: 'bidding', announce, requester: ctx.me.address, bids: [], updatedAt: Date.now() }
    await ctx.store.save(state)
    await ctx.publish('jobs', JobAnnounceMessage.type, announce)
    ctx.log('job announced', { job, fee: fee.toString() })
    await sleep(Math.max(0, announce.bidUntil - Date.now()))
    return await this.assign(job)
  }

  /** A bid, during the window, from the peer that signed it; its stake is read from the chain. */
  async onBid (env: Envelope<JobBid>, from: string): Promise<TaskAnswer> {
    const { ctx } = this
    const state = await ctx.store.load(env.body.job)
    if (state === undefined || state.role !== 'requester') return { accepted: false, reason: 'no such job here' }
    if (state.phase !== 'bidding' || Date.now() > state.announce.bidUntil) return { accepted: false, reason: 'bidding is over' }
    const address = identityOf(env.signer).address
    // The stake is read from the chain, not taken from the bid.
    const stake = await ctx.chain.stakeOf(address, env.body.role === 'worker' ? 'worker' : 'verifier')
    state.bids = [...(state.bids ?? []).filter(b => b.peer !== from), { ...env.body, stake: stake.toString(), peer: from, address }]
    await ctx.store.save(state)
    return { accepted: true }
  }

  private async assign (job: string): Promise<JobState> {
    const { ctx } = this
    const state = await ctx.store.status(job)
    const minVerifier = await ctx.chain.minStake('verifier')
    // A worker that went silent on this job is not chosen again.
    const bids = (state.bids ?? []).filter(b => !(state.silent ?? []).includes(b.peer))
    const a = assignJob({
      id: job,
      maxPrice: BigInt(state.announce.maxPrice),
      requiredStake: BigInt(state.announce.requiredStake),
      requiredVerifierStake: minVerifier,
      workers: state.announce.workers,
      verifiers: state.announce.verifiers,
      referees: 1,
      requester: ctx.me.peerId,
      ...(state.announce.needs !== undefined ? { needs: state.announce.needs } : {})
    }, await ctx.book.scored(bids))
    if (!a.complete) {
      transition(state, 'unassigned')
      state.error = `not enough eligible bids: ${a.workers.length} worker(s), ${a.verifiers.length} verifier(s)`
      await ctx.store.save(state)
      return state
    }
    const pick = (peer: string): JobAssign['workers'][number] => {
      const b = bids.find(x => x.peer === peer)!
      return { peer, address: b.address, price: b.price, ...(b.role === 'worker' && b.commit !== undefined ? { commit: b.commit } : {}) }
    }
    const digest = keccak256(Buffer.from(bids.map(b => `${b.peer}:${b.role}:${b.price}:${b.stake}:${b.commit ?? ''}:${b.device !== undefined ? `${deviceClassName(b.device)}:${b.device.gflops}` : ''}`).sort().join('\n')))
    const unsigned = { job, workers: a.workers.map(pick), verifiers: a.verifiers.map(pick), ...(a.referees.length > 0 ? { referee: pick(a.referees[0]) } : {}), bidsDigest: digest }
    // Signed for the escrow: only the worker and verifiers named here can be paid.
    const assign: JobAssign = { ...unsigned, escrow: await signAssignment(ctx, unsigned, state.announce) }
    state.assign = assign
    transition(state, 'assigned')
    state.result = undefined
    // Twice the worker's own estimate, then it is replaced by the next-best bid.
    state.resultDueAt = Date.now() + 2 * (bids.find(b => b.peer === a.workers[0])?.etaMs ?? DEFAULT_ETA_MS)
    await ctx.store.save(state)
    await ctx.publish('jobs', JobAssignMessage.type, assign)
    ctx.log('job assigned', { job, workers: a.workers, verifiers: a.verifiers, referee: a.referees[0] })
    this.watch(job, state.resultDueAt)
    return state
  }

  /** At the due time, a requester still without a result replaces the worker (reputation: timeout). */
  private watch (job: string, dueAt: number): void {
    later(dueAt - Date.now(), async () => {
      const state = await this.ctx.store.load(job)
      if (state?.role !== 'requester' || state.phase !== 'assigned' || state.result !== undefined || state.assign === undefined) return
      // A timer may fire a little before its time (Node counts from the event loop's
      // cached clock, which lags on a busy peer): not yet due is armed again, not dropped.
      if ((state.resultDueAt ?? 0) > Date.now()) { this.watch(job, state.resultDueAt!); return }
      const silent = state.assign.workers[0]
      state.silent = [...(state.silent ?? []), silent.peer]
      await this.ctx.store.save(state)
      await this.ctx.book.record(silent.address, 'timeout', job)
      this.ctx.log('worker went silent: reassigning', { job, worker: silent.address })
      await this.assign(job)
    }, this.ctx.log, 'reassignment failed', { job })
  }

  /** Assignments travel by gossip only: on the result, the requester repeats it, so a verifier that missed it takes the worker's next try. */
  async repeatAssignment (state: JobState): Promise<void> {
    if (state.assign !== undefined) await this.ctx.publish('jobs', JobAssignMessage.type, state.assign)
  }

  /**
   * A job that cannot complete (its result failed verification, or no bidder delivered)
   * is refunded once the escrow's deadline passes in chain time: nothing is released
   * for it, and the requester takes its fee back without anyone's signature. So is one
   * that never ended (a verifier that missed the assignment never verifies): after the
   * deadline the escrow cannot release it any more. The chain says which it was, since
   * our phase may lag (the worker released while our copy of the verdict was lost): a
   * job with a result that the escrow released shows as released at the next sweep.
   */
  async refundExpired (): Promise<void> {
    const { ctx } = this
    try {
      const now = await ctx.chain.now()
      for (const { job, role, phase } of await ctx.store.list()) {
        if (role !== 'requester' || phase === 'released' || phase === 'refunded') continue
        const state = await ctx.store.status(job)
        const expired = now * 1000 > state.announce.escrow.deadline
        if (!expired && phase !== 'submitted') continue
        const status = (await ctx.chain.jobOf(job)).status
        if (!expired && status !== ESCROW.released) continue
        if (status === ESCROW.open) {
          const tx = await ctx.chain.refundJob(job)
          state.refund = { tx }
          ctx.log('escrow refunded', { job, phase, tx })
        }
        transition(state, status === ESCROW.released ? 'released' : 'refunded')
        await ctx.store.save(state)
      }
    } catch (err) {
      ctx.log('refund sweep failed', { error: (err as Error).name, message: (err as Error).message })
    }
  }
}
