// What everyone who knows a job keeps from the verdicts topic: the assigned verifiers'
// verdicts (a verifier, to prove a co-verifier approved a forced error; a forced-error
// worker, to know when to reveal; requester and worker, to release) and the referee's
// rulings. Every peer that saw the assignment learns reputation from them. Only the
// assigned verifiers' verdicts and the assigned referee's rulings count.
import type { Envelope } from '../../protocols/envelope.ts'
import { identityOf } from '../../protocols/identity.ts'
import type { JobRuling, JobVerdict } from '../../protocols/messages/index.ts'
import type { MarketContext } from './context.ts'
import type { ForcedErrors } from './forced-reveals.ts'
import { canTransition, isAssignedWorker, transition } from './job-state.ts'
import type { Referee } from './referee.ts'
import type { Release } from './release.ts'

export class Verdicts {
  private readonly ctx: MarketContext
  private readonly forced: ForcedErrors
  private readonly referee: Referee
  private readonly releases: Release

  constructor (ctx: MarketContext, forced: ForcedErrors, referee: Referee, releases: Release) {
    this.ctx = ctx
    this.forced = forced
    this.referee = referee
    this.releases = releases
  }

  async onVerdict (env: Envelope<JobVerdict>): Promise<void> {
    const { ctx } = this
    try {
      const v = env.body
      const state = await ctx.store.load(v.job)
      if (state === undefined || state.assign === undefined) return
      const signer = identityOf(env.signer)
      if (!state.assign.verifiers.some(x => x.peer === signer.peerId)) return
      // A verdict on anyone but the assigned worker is about nothing this job pays or slashes.
      if (v.worker.toLowerCase() !== state.assign.workers[0].address.toLowerCase()) return
      if ((state.revealed ?? []).includes(v.resultHash)) return
      // Every peer that saw the assignment learns from the verdict: reputation feeds the next assignment.
      await ctx.book.record(v.worker, v.ok ? 'verified' : 'failed', v.job)
      const fresh = await ctx.store.status(v.job)
      // A reveal may have been handled while the outcome was being written.
      if ((fresh.revealed ?? []).includes(v.resultHash)) return
      fresh.verdicts = [...(fresh.verdicts ?? []).filter(x => !(x.by.toLowerCase() === signer.address.toLowerCase() && x.resultHash === v.resultHash)), { ...v, by: signer.address }]
      if (!v.ok && fresh.role !== 'verifier' && fresh.role !== 'referee' && canTransition(fresh, 'failed')) transition(fresh, 'failed')
      await ctx.store.save(fresh)
      // Every rejection that claims a fault goes to the referee before anyone is slashed.
      if (fresh.role === 'referee' && !v.ok && v.unproven !== true) void (v.dispute !== undefined ? this.referee.rule(v.job, v, signer) : this.referee.confirm(v.job, v, signer))
      if (fresh.role === 'worker' && fresh.forced !== undefined && fresh.forced.revealed !== true && v.resultHash === fresh.forced.resultHash) {
        void this.forced.onVerdictOnForced(fresh, v.resultHash)
        return
      }
      if (fresh.role === 'requester' || isAssignedWorker(fresh, ctx.me.peerId)) await this.releases.maybeRelease(v.job, v.resultHash)
    } catch (err) {
      ctx.log('verdict handling failed', { error: (err as Error).name, message: (err as Error).message })
    }
  }

  /** Everyone who knows the job keeps the referee's rulings; a ruling for the worker lets requester and worker release. */
  async onRuling (env: Envelope<JobRuling>): Promise<void> {
    const { ctx } = this
    try {
      const r = env.body
      const state = await ctx.store.load(r.job)
      if (state?.assign?.referee === undefined || state.role === 'referee') return
      if (identityOf(env.signer).peerId !== state.assign.referee.peer) return
      if ((state.rulings ?? []).some(x => x.resultHash === r.resultHash && x.challenger.toLowerCase() === r.challenger.toLowerCase())) return
      await ctx.book.record(r.worker, r.faulty === 'challenger' ? 'verified' : 'failed', r.job)
      const fresh = await ctx.store.status(r.job)
      fresh.rulings = [...(fresh.rulings ?? []), r]
      if (r.faulty === 'challenger' && fresh.phase === 'failed' && fresh.role !== 'verifier') transition(fresh, 'submitted')
      await ctx.store.save(fresh)
      if (r.faulty === 'challenger' && (fresh.role === 'requester' || isAssignedWorker(fresh, ctx.me.peerId))) await this.releases.maybeRelease(r.job, r.resultHash)
    } catch (err) {
      ctx.log('ruling handling failed', { error: (err as Error).name, message: (err as Error).message })
    }
  }
}
