// Forced errors as the market plays them (the draw and the planted faults are in
// ./forced-errors.ts). A worker whose draw came up delivers the planted result, waits
// until its verifiers spoke (at most timing.revealAfterMs), then reveals its secret on the
// verdicts topic and delivers the real result. Everyone who knows the job checks the
// reveal against the bid's commitment and the draw; the forced result's verdicts stop
// counting, and the job's referee proves on chain that each verifier that approved it
// approved a known fault (lazy approval), a verifier that found the fault as the prover.
import { keccak256 } from 'ethers'
import type { Envelope } from '../../protocols/envelope.ts'
import { identityOf } from '../../protocols/identity.ts'
import { JobRevealMessage, type JobResult, type JobReveal } from '../../protocols/messages/index.ts'
import { verifySigned } from '../../settlement/chain/signatures.ts'
import { jobVerdict } from '../../settlement/policy/index.ts'
import { sleep, type MarketContext } from './context.ts'
import { forcedCommit, forcedRate, forcedSecret, isForced, validReveal } from './forced-errors.ts'
import { allSpoke, canTransition, transition, type JobState } from './job-state.ts'
import { slash } from './slasher.ts'

/** Tries to deliver the real result after a reveal. */
const REAL_RESULT_ATTEMPTS = 10

export class ForcedErrors {
  private readonly ctx: MarketContext
  private readonly send: (state: JobState, result: JobResult, attempts: number) => Promise<void>

  /** `send` delivers a result to the job's peers (the worker's). */
  constructor (ctx: MarketContext, send: (state: JobState, result: JobResult, attempts: number) => Promise<void>) {
    this.ctx = ctx
    this.send = send
  }

  /** The job's forced-error rate: the policy's over its on-chain terms, unless a demonstration fixed one. */
  async rateOf (state: JobState): Promise<number> {
    if (this.ctx.forcedErrorRate !== undefined) return this.ctx.forcedErrorRate
    const { chain } = this.ctx
    const [workerBps, auditBps, verifierSlash] = await Promise.all([chain.workerShareBps(), chain.auditRateBps(), chain.slashAmount('verifier')])
    return forcedRate({ fee: BigInt(state.announce.escrow.amount), workerBps, auditBps, verifierSlash })
  }

  /** Worker: whether its committed secret draws a forced error for this job. */
  async draws (state: JobState): Promise<boolean> {
    const me = state.assign?.workers.find(w => w.peer === this.ctx.me.peerId)
    const secret = forcedSecret(this.ctx.wallet, state.job)
    if (state.assign === undefined || me?.commit !== forcedCommit(secret)) return false
    return isForced({ secret, job: state.job, bidsDigest: state.assign.bidsDigest, rate: await this.rateOf(state) })
  }

  revealLater (job: string, ms: number): void {
    setTimeout(() => { void this.reveal(job) }, ms).unref()
  }

  /** Worker: once its verifiers spoke on the forced result, reveal now. */
  async onVerdictOnForced (state: JobState, resultHash: string): Promise<void> {
    if (allSpoke(state, resultHash)) await this.reveal(state.job)
  }

  /** The worker admits its forced error (publicly, so approvals of it are provable) and delivers the real result. */
  async reveal (job: string): Promise<void> {
    const { ctx } = this
    try {
      const state = await ctx.store.load(job)
      if (state?.forced === undefined || state.forced.revealed === true) return
      state.forced.revealed = true
      await ctx.store.save(state)
      const reveal: JobReveal = { job, worker: ctx.me.address, secret: forcedSecret(ctx.wallet, job), resultHash: state.forced.resultHash }
      await ctx.publish('verdicts', JobRevealMessage.type, reveal)
      ctx.log('forced error revealed', { job })
      // Gossip may reach the others after a direct stream would: they refuse a second result until they saw the reveal.
      await sleep(ctx.timing.revealPauseMs)
      state.verdicts = []
      await ctx.receipts.promoteReal(job)
      if (state.forced.realCheckpointDir !== undefined) state.checkpointDir = state.forced.realCheckpointDir
      await this.send(state, state.forced.real, REAL_RESULT_ATTEMPTS)
    } catch (err) {
      ctx.log('reveal failed', { job, error: (err as Error).message })
    }
  }

  /** Everyone but the worker: a valid reveal voids the forced result's verdicts; a verifier that found the fault slashes the approvers. */
  async onReveal (env: Envelope<JobReveal>): Promise<void> {
    const { ctx } = this
    try {
      const r = env.body
      const state = await ctx.store.load(r.job)
      if (state?.assign === undefined || state.role === 'worker') return
      const worker = state.assign.workers[0]
      if (identityOf(env.signer).peerId !== worker.peer || r.worker.toLowerCase() !== worker.address.toLowerCase()) return
      if (!validReveal({ secret: r.secret, commit: worker.commit, job: r.job, bidsDigest: state.assign.bidsDigest, rate: await this.rateOf(state) })) {
        ctx.log('invalid forced-error reveal ignored', { job: r.job })
        return
      }
      if ((state.revealed ?? []).includes(r.resultHash)) return
      state.revealed = [...(state.revealed ?? []), r.resultHash]
      const onForced = (state.verdicts ?? []).filter(d => d.resultHash === r.resultHash)
      state.verdicts = (state.verdicts ?? []).filter(d => d.resultHash !== r.resultHash)
      if (state.result?.resultHash === r.resultHash) state.result = undefined
      if (canTransition(state, 'assigned')) transition(state, 'assigned')
      await ctx.store.save(state)
      ctx.log('forced error revealed by the worker', { job: r.job, approvals: onForced.filter(d => d.ok).map(d => d.by) })
      // The job's referee proves each lazy approval on chain (Staking takes only slashes its
      // referee signed); a verifier that found the fault is the prover and gets the share.
      if (state.role !== 'referee') return
      // Approvals count only with a Completion signature that really is the approver's.
      const domain = ctx.chain.domain('escrow')
      const proven = onForced.filter(d => !d.ok || (d.completion !== undefined && verifySigned('Completion', domain, { jobId: r.job, worker: r.worker, resultHash: r.resultHash }, { signer: d.by, signature: d.completion })))
      const judged = jobVerdict({ worker: r.worker.toLowerCase(), verdicts: proven.map(d => ({ verifier: d.by.toLowerCase(), approved: d.ok })), forcedError: true })
      for (const s of judged.slashes) {
        const lazy = proven.find(d => d.by.toLowerCase() === s.peer)!
        const found = proven.find(d => !d.ok && d.by.toLowerCase() === s.prover)
        const bytes = Buffer.from(JSON.stringify({ job: r.job, fault: 'lazy-approval', verifier: lazy.by, resultHash: r.resultHash, completion: lazy.completion, secret: r.secret, commit: worker.commit, found: found?.evidence }))
        const slashed = await slash(ctx, state, { address: lazy.by, role: 'verifier', fault: s.fault, resultHash: r.resultHash, participation: lazy.participation }, keccak256(bytes), s.prover ?? ctx.me.address)
        if (slashed !== undefined) {
          state.lazySlashes = [...(state.lazySlashes ?? []), { verifier: lazy.by, ...slashed }]
          await ctx.store.save(state)
        }
      }
    } catch (err) {
      ctx.log('reveal handling failed', { error: (err as Error).name, message: (err as Error).message })
    }
  }

  /** A verifier or referee with a fault in hand: waits until every assigned verifier spoke (then a grace), at most until a reveal is due; true once a reveal names the result. */
  async revealedWhileWaiting (job: string, resultHash: string): Promise<boolean> {
    const { revealAfterMs, revealGraceMs } = this.ctx.timing
    const until = Date.now() + revealAfterMs + revealGraceMs
    let allSpokeAt: number | undefined
    while (Date.now() < until) {
      const s = await this.ctx.store.status(job)
      if ((s.revealed ?? []).includes(resultHash)) return true
      if (allSpoke(s, resultHash) && allSpokeAt === undefined) allSpokeAt = Date.now()
      if (allSpokeAt !== undefined && Date.now() - allSpokeAt > revealGraceMs) return false
      await sleep(250)
    }
    return false
  }
}
