// Releasing a job's escrow: requester and assigned worker both may, once the shared
// release rule (settlement/policy/release.ts) says the verdicts they hold allow it:
// no standing rejection, no revealed forced error, a quorum of valid approvals (signed
// by the assigned verifiers, or the referee's ruling for the worker, and staked now),
// and every assigned verifier heard or a grace passed. Anyone holding the signatures
// can release, so a requester that refuses to pay is not needed; whoever is second
// finds it done.
import { verifySigned } from '../../settlement/chain/signatures.ts'
import { packSignatures } from '../../settlement/chain/signatures.ts'
import { releaseDecision } from '../../settlement/policy/index.ts'
import { escrowAssignment } from './assignment-proof.ts'
import { ESCROW } from './chain.ts'
import { later, type MarketContext } from './context.ts'
import { transition, type JobState } from './job-state.ts'

export class Release {
  private readonly ctx: MarketContext

  constructor (ctx: MarketContext) {
    this.ctx = ctx
  }

  async maybeRelease (job: string, resultHash: string, graceOver = false): Promise<void> {
    const { ctx } = this
    const state = await ctx.store.status(job)
    if (state.phase === 'released' || state.assign === undefined) return
    const worker = state.assign.workers[0].address
    const { chain } = ctx
    const domain = chain.domain('escrow')
    const [quorum, minStake] = await Promise.all([chain.verifierQuorum(), chain.minStake('verifier')])
    // Valid: a Completion the verifier really signed, for this worker and result, and a verifier still staked
    // (the escrow takes staked signers only: one slashed since, a lazy approver, must not spoil the release).
    const staked = new Map<string, Promise<boolean>>()
    const valid = async (by: string, w: string, signature: string | undefined): Promise<boolean> => {
      if (signature === undefined || w.toLowerCase() !== worker.toLowerCase()) return false
      if (!verifySigned('Completion', domain, { jobId: job, worker: w, resultHash }, { signer: by, signature })) return false
      const key = by.toLowerCase()
      if (!staked.has(key)) staked.set(key, chain.stakeOf(by, 'verifier').then(s => s >= minStake))
      return await staked.get(key)!
    }
    const signatures = new Map<string, string>()
    const keep = (by: string, signature: string): void => { if (!signatures.has(by.toLowerCase())) signatures.set(by.toLowerCase(), signature) }
    const verdicts = []
    for (const d of (state.verdicts ?? []).filter(x => x.resultHash === resultHash)) {
      const ok = d.ok && await valid(d.by, d.worker, d.completion)
      if (ok) keep(d.by, d.completion!)
      verdicts.push({ verifier: d.by, approved: d.ok, valid: ok })
    }
    // A rejection the referee refuted does not hold the payment; its ruling's completion counts as an approval.
    const cleared = (state.rulings ?? []).filter(r => r.resultHash === resultHash && r.faulty === 'challenger')
    const referee = state.assign.referee?.address
    let refereeApproval: { address: string, valid: boolean } | undefined
    for (const r of referee !== undefined ? cleared : []) {
      const ok = await valid(referee!, r.worker, r.completion)
      if (ok) keep(referee!, r.completion!)
      if (refereeApproval?.valid !== true) refereeApproval = { address: referee!, valid: ok }
    }
    const decision = releaseDecision({
      assigned: state.assign.verifiers.map(v => v.address),
      verdicts,
      refuted: cleared.map(r => r.challenger),
      referee: refereeApproval,
      quorum,
      forcedError: (state.revealed ?? []).includes(resultHash),
      graceOver
    })
    // A silent verifier cannot hold the payment forever.
    if (decision.wait === 'silent-verifiers') later(ctx.timing.releaseGraceMs, async () => { await this.maybeRelease(job, resultHash, true) }, ctx.log, 'release failed', { job })
    if (!decision.release) return
    await this.release(state, worker, resultHash, decision.signers.map(signer => ({ signer, signature: signatures.get(signer.toLowerCase())! })))
  }

  private async release (state: JobState, worker: string, resultHash: string, signed: Array<{ signer: string, signature: string }>): Promise<void> {
    const { ctx } = this
    const onChain = await ctx.chain.jobOf(state.job)
    if (onChain.status !== ESCROW.open) {
      // Released by the other party, or refunded after its deadline.
      transition(state, onChain.status === ESCROW.released ? 'released' : state.role === 'requester' ? 'refunded' : 'failed')
      await ctx.store.save(state)
      if (onChain.status === ESCROW.released) await this.afterRelease(state)
      return
    }
    try {
      const { assignment, signature } = escrowAssignment(state.assign!)
      if (assignment.worker.toLowerCase() !== worker.toLowerCase()) throw new Error('the assignment names another worker')
      const tx = await ctx.chain.releaseJob(state.job, assignment, signature, resultHash, packSignatures(signed))
      state.release = { tx, by: ctx.me.address }
      ctx.log('escrow released', { job: state.job, tx })
    } catch (err) {
      // Requester and worker both release; whoever is second finds it done.
      if ((await ctx.chain.jobOf(state.job)).status !== ESCROW.released) throw err
    }
    transition(state, 'released')
    await ctx.store.save(state)
    await this.afterRelease(state)
  }

  private async afterRelease (state: JobState): Promise<void> {
    await this.ctx.kinds[state.announce.kind].afterRelease?.(state)
  }
}
