// The verifier: takes the assigned worker's result, fetches its receipt (checked against
// the CID the result names), signs a beacon over it that fixes its sample, and has the
// job's kind check the result. It publishes its verdict: an approval carries the
// escrow's Completion signature, a rejection the hash and CID of its evidence. A fault
// the evidence proves is slashed on chain by the shared rules (classifyFault, then
// jobVerdict says which verifier proves it), unless it was a forced error the worker
// reveals, the failure came from the network (retried, then judged unproven: not paid,
// not slashed), or a replay disagreed and the job's referee rules on it.
import type { Envelope } from '../../protocols/envelope.ts'
import { JobVerdictMessage, type JobResult, type JobVerdict } from '../../protocols/messages/index.ts'
import { classifyFault, jobVerdict, type CheckFindings } from '../../settlement/policy/index.ts'
import { sleep, type MarketContext } from './context.ts'
import type { ForcedErrors } from './forced-reveals.ts'
import { transition, verdictsOn, type JobState } from './job-state.ts'
import { fetchReceipt } from './receipts.ts'
import { approval, beacon, rejection } from './signing.ts'
import { slash } from './slasher.ts'
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
    let beaconValue: string | undefined
    try {
      for (let attempt = 1; verdict === undefined; attempt++) {
        try {
          const receiptBytes = await fetchReceipt(ctx.wire.fetch, workerPeer, job, result.receipt.chain)
          beaconValue = beacon(ctx, job, kind.beaconSubject(receiptBytes))
          if (ctx.behaviour.approvesUnchecked) {
            ctx.log('cheating: approved without checking', { job })
            verdict = await approval(ctx, job, result, [], beaconValue)
            break
          }
          const c = await kind.check({ state, result, receiptBytes, workerPeer, verifier: ctx.me.address, beacon: beaconValue, fraction: await ctx.chain.auditRateBps() / 10_000, behaviour: ctx.behaviour })
          if (c.computeMs !== undefined) state.computeMs = c.computeMs
          evidence = c.ok ? undefined : c.evidence ?? { job }
          verdict = c.ok ? await approval(ctx, job, result, c.checked, beaconValue) : await rejection(job, result, c.checked, evidence!, beaconValue, c.dispute)
        } catch (err) {
          // A network failure may be this verifier's own or passing: try again before judging.
          const transient = isTransient(err as Error)
          if (transient && attempt < ctx.timing.verifyAttempts) {
            ctx.log('verification interrupted: trying again', { job, attempt, error: (err as Error).name })
            await sleep(ctx.timing.verifyRetryMs * attempt)
            continue
          }
          // A worker that cannot show its work fails verification; only what its own bytes prove is slashed.
          evidence = { job, error: (err as Error).name, message: (err as Error).message, ...(transient ? { unproven: true } : {}) }
          verdict = await rejection(job, result, [], evidence, beaconValue)
        }
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

  /** After a failing verdict: the fault its evidence proves, slashed by the verifier the shared rule names. */
  private async prove (state: JobState, result: JobResult, verdict: JobVerdict): Promise<void> {
    const { ctx } = this
    const job = state.job
    // A replay that disagrees goes to the job's referee, which bisects and slashes whoever it refutes.
    if (verdict.dispute !== undefined && state.assign?.referee !== undefined) {
      ctx.log('the referee rules on the dispute', { job, referee: state.assign.referee.address })
      return
    }
    // The fault the evidence proves; a failure the network may have caused proves none: not paid, not slashed.
    const fault = classifyFault(findingsOf(state.evidence))
    if (fault === null) {
      ctx.log('verification failed on the network: the worker is not slashed', { job })
      return
    }
    // The fault may be a forced error: give the worker its chance to reveal before slashing it.
    if (state.assign?.workers[0].commit !== undefined && await this.forced.revealedWhileWaiting(job, verdict.resultHash)) {
      ctx.log('fault was a forced error: not slashed', { job })
      return
    }
    // The shared verdict rule says who proves it: one verifier submits, not each that found it.
    const latest = await ctx.store.status(job)
    const judged = jobVerdict({ worker: result.worker.toLowerCase(), verdicts: verdictsOn(latest, verdict.resultHash), referee: 'fault', fault })
    const proof = judged.slashes.find(x => x.role === 'worker' && x.prover === ctx.me.address.toLowerCase())
    if (proof === undefined) { ctx.log('another verifier proves the fault', { job }); return }
    const slashed = await slash(ctx, job, { address: result.worker, role: 'worker', fault: proof.fault }, verdict.evidence!.hash)
    if (slashed !== undefined) {
      latest.slash = slashed
      await ctx.store.save(latest)
    }
  }
}

/** What a verifier's evidence establishes, as the shared fault rule takes it. */
export function findingsOf (evidence: unknown): CheckFindings {
  const e = evidence as { mismatches?: unknown[], binding?: { ok: boolean }, error?: string, unproven?: boolean } | undefined
  return {
    unproven: e?.unproven === true,
    replayMismatch: (e?.mismatches?.length ?? 0) > 0,
    notThisRun: e?.binding?.ok === false || e?.error === 'BadReceiptError'
  }
}

/**
 * Failures that say nothing about the worker's work: timeouts, dials, streams, blocks
 * not found in time, a peer's internal error, its rate limit (it protects itself from
 * this verifier's pace; requestPaced already waited). A refusal to serve an entry (the worker
 * withholding its work) or bytes that do not check out are not among them.
 */
export function isTransient (err: Error & { details?: { remoteName?: string } }): boolean {
  const names = ['RequestTimeoutError', 'LoadBlockFailedError', 'AbortError', 'TimeoutError', 'DialError', 'NoValidAddressesError', 'ConnectionFailedError', 'StreamResetError', 'StreamStateError', 'MuxerClosedError', 'ConnectionClosedError', 'UnsupportedProtocolError']
  return names.includes(err?.name) || (err?.name === 'RemoteError' && ['InternalError', 'RateLimitedError'].includes(err.details?.remoteName ?? ''))
}
