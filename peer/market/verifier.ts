// The verifier: takes the assigned worker's result, fetches its receipt (checked against
// the CID the result names), signs a beacon over it that fixes its sample, and has the
// job's kind check the result. It publishes its verdict: an approval carries the
// escrow's Completion signature, a rejection the hash and CID of its evidence. A
// rejection that claims a fault goes to the job's referee, which re-runs the check and
// slashes whoever it refutes (./referee.ts); a failure from the network is retried, then
// published as unproven (not paid, nobody slashed). A verifier never slashes alone.
import type { Envelope } from '../../protocols/envelope.ts'
import { JobVerdictMessage, type JobResult, type JobVerdict } from '../../protocols/messages/index.ts'
import { runCheck } from './check-run.ts'
import { sleep, type MarketContext } from './context.ts'
import type { ForcedErrors } from './forced-reveals.ts'
import { transition, type JobState } from './job-state.ts'
import { fetchReceipt } from './receipts.ts'
import { approval, beacon, rejection } from './signing.ts'
import type { TaskAnswer } from './wire.ts'

export class Verifier {
  private readonly ctx: MarketContext
  private readonly forced: ForcedErrors
  /** The requester's part on a result: it repeats its assignment (./requester.ts). */
  private readonly repeatAssignment: (state: JobState) => Promise<void>
  private readonly busy = new Set<string>()

  constructor (ctx: MarketContext, forced: ForcedErrors, repeatAssignment: (state: JobState) => Promise<void>) {
    this.ctx = ctx
    this.forced = forced
    this.repeatAssignment = repeatAssignment
  }

  /** A result from the assigned worker: the requester and the referee keep it, a verifier checks it. */
  async onResult (env: Envelope<JobResult>, from: string): Promise<TaskAnswer> {
    const { ctx } = this
    const state = await ctx.store.load(env.body.job)
    if (state === undefined || state.assign === undefined) return { accepted: false, reason: 'no such job here' }
    const worker = state.assign.workers[0]
    if (worker.peer !== from || worker.address.toLowerCase() !== env.body.worker.toLowerCase()) return { accepted: false, reason: 'not the assigned worker' }
    // One result per job, unless the worker revealed the one before as a forced error.
    if (state.result !== undefined) return state.result.resultHash === env.body.resultHash ? { accepted: true } : { accepted: false, reason: 'a result for this job is already being verified' }
    if ((state.revealed ?? []).includes(env.body.resultHash)) return { accepted: false, reason: 'that result was revealed as a forced error' }
    state.result = env.body
    if (state.role === 'verifier') transition(state, 'verifying')
    if (state.role === 'requester' && state.phase === 'assigned') transition(state, 'submitted')
    await ctx.store.save(state)
    if (state.role === 'requester') void this.repeatAssignment(state)
    if (state.role === 'verifier') void this.verify(state.job, from)
    return { accepted: true }
  }

  async verify (job: string, workerPeer: string): Promise<void> {
    const { ctx } = this
    if (this.busy.has(job)) return
    this.busy.add(job)
    const state = await ctx.store.status(job)
    const result = state.result!
    const started = performance.now()
    const kind = ctx.kinds[state.announce.kind]
    let verdict: JobVerdict | undefined
    let evidence: object | undefined
    try {
      for (let attempt = 1; verdict === undefined; attempt++) {
        if (ctx.behaviour.approvesUnchecked) {
          const receiptBytes = await fetchReceipt(ctx.wire.fetch, workerPeer, job, result.receipt.chain).catch(() => undefined)
          if (receiptBytes !== undefined) {
            ctx.log('cheating: approved without checking', { job })
            verdict = await approval(ctx, job, result, [], beacon(ctx, job, kind.beaconSubject(receiptBytes)))
            break
          }
        }
        const run = await runCheck(ctx, state, result, workerPeer, { verifier: ctx.me.address, beacon: (subject) => beacon(ctx, job, subject), behaviour: ctx.behaviour })
        if (run.kind === 'checked') {
          const c = run.check
          if (c.computeMs !== undefined) state.computeMs = c.computeMs
          evidence = c.ok ? undefined : c.evidence ?? { job }
          verdict = c.ok ? await approval(ctx, job, result, c.checked, run.beacon) : await rejection(ctx, job, result, c.checked, evidence!, { beacon: run.beacon, dispute: c.dispute })
          break
        }
        // A network failure may be this verifier's own or passing: try again before judging.
        if (run.transient && attempt < ctx.timing.verifyAttempts) {
          ctx.log('verification interrupted: trying again', { job, attempt, error: run.error.name })
          await sleep(ctx.timing.verifyRetryMs * attempt)
          continue
        }
        // A worker that cannot show its work fails verification; a network failure claims no fault.
        evidence = { job, error: run.error.name, message: run.error.message, ...(run.transient ? { unproven: true } : {}) }
        verdict = await rejection(ctx, job, result, [], evidence, { beacon: run.beacon, unproven: run.transient })
      }
    } finally {
      this.busy.delete(job)
    }
    const me = ctx.me.address
    state.verdicts = [...(state.verdicts ?? []).filter(d => !(d.by.toLowerCase() === me.toLowerCase() && d.resultHash === verdict.resultHash)), { ...verdict, by: me }]
    state.evidence = evidence
    state.wallMs = performance.now() - started
    transition(state, verdict.ok ? 'verified' : 'failed')
    await ctx.store.save(state)
    await ctx.publish('verdicts', JobVerdictMessage.type, verdict)
    ctx.log('verdict published', { job, ok: verdict.ok, checked: verdict.checked })
    if (verdict.evidence !== undefined) await this.prove(state, result, verdict)
  }

  /**
   * After a failing verdict: a verifier never slashes on its own word. A rejection that
   * claims a fault goes to the job's referee, which re-runs the check with this verifier's
   * sample (or bisects a disputed replay) and slashes whoever it refutes; one that claims
   * none (the network failed) holds the payment and slashes nobody; without a referee
   * the result is not paid and nobody is slashed.
   */
  private async prove (state: JobState, _result: JobResult, verdict: JobVerdict): Promise<void> {
    const { ctx } = this
    const job = state.job
    if (verdict.unproven === true) { ctx.log('verification failed on the network: the worker is not slashed', { job }); return }
    if (state.assign?.referee === undefined) { ctx.log('no referee for this job: the result is not paid, nobody is slashed', { job }); return }
    ctx.log('the referee rules on the rejection', { job, referee: state.assign.referee.address, dispute: verdict.dispute !== undefined })
  }
}
