// One check of a worker's result, as a verifier runs it and as the job's referee re-runs
// it: fetch the worker's receipt (checked against the CID the result names), seed the
// sample with a beacon over it, and have the job's kind check the result. The verifier
// seeds with its own beacon; the referee with the challenging verifier's (after checking
// that it is that verifier's signature), so it recomputes exactly what the verifier did.
// A failure is either transient (the network; it proves nothing) or the worker's fault.
import { verifyMessage } from 'ethers'
import type { JobResult } from '../../protocols/messages/index.ts'
import type { MarketBehaviour } from './adversaries/behaviour.ts'
import type { MarketContext } from './context.ts'
import type { JobState } from './job-state.ts'
import type { Check } from './kinds/kind.ts'
import { fetchReceipt } from './receipts.ts'
import type { CheckFindings } from '../../settlement/policy/index.ts'

export type CheckRun =
  | { kind: 'checked', check: Check, beacon: string }
  | { kind: 'failed', error: Error, transient: boolean, beacon?: string }

/** The text a verifier's beacon signs (EIP-191) for a job and a receipt subject. */
export function beaconText (job: string, subject: string): string {
  return `openledger/verify-beacon/1 ${job} ${subject}`
}

/** Whether `beacon` is `verifier`'s signature over the job and subject. */
export function beaconHolds (job: string, subject: string, beacon: string, verifier: string): boolean {
  try {
    return verifyMessage(beaconText(job, subject), beacon).toLowerCase() === verifier.toLowerCase()
  } catch {
    return false
  }
}

export interface CheckSeed {
  /** Whose sample: the verifier's address. */
  verifier: string
  /** The beacon over the receipt's subject (the verifier signs one; the referee checks the challenger's). */
  beacon: (subject: string) => string
  behaviour: MarketBehaviour
}

export async function runCheck (ctx: MarketContext, state: JobState, result: JobResult, workerPeer: string, seed: CheckSeed): Promise<CheckRun> {
  const job = state.job
  const kind = ctx.kinds[state.announce.kind]
  let beaconValue: string | undefined
  try {
    const receiptBytes = await fetchReceipt(ctx.wire.fetch, workerPeer, job, result.receipt.chain)
    beaconValue = seed.beacon(kind.beaconSubject(receiptBytes))
    const check = await kind.check({ state, result, receiptBytes, workerPeer, verifier: seed.verifier, beacon: beaconValue, fraction: await ctx.chain.auditRateBps() / 10_000, behaviour: seed.behaviour })
    return { kind: 'checked', check, beacon: beaconValue }
  } catch (err) {
    return { kind: 'failed', error: err as Error, transient: isTransient(err as Error), ...(beaconValue !== undefined ? { beacon: beaconValue } : {}) }
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
