// The market's clocks, in one place: how long a requester and a worker wait for each
// other, how results are retried, when a forced error is revealed. The defaults are the
// live network's; tests that play a whole job in memory shorten them.
export interface MarketTiming {
  /** How often a requester looks for its jobs whose escrow deadline passed, to take the fee back. */
  refundSweepMs: number
  /** A requester with a quorum of approvals but a silent verifier releases after this long. */
  releaseGraceMs: number
  /** A forced-error worker reveals at the latest this long after delivering, whoever has not spoken. */
  revealAfterMs: number
  /** After every assigned verifier has spoken, how long a verifier that found a fault waits for a reveal before slashing. */
  revealGraceMs: number
  /** Between a reveal and the real result (gossip may arrive after a direct stream: peers refuse a second result until they saw it). */
  revealPauseMs: number
  /** Tries to hand a result to each of the job's peers, the first retry after retryBaseMs, doubling up to retryMaxMs. */
  resultAttempts: number
  retryBaseMs: number
  retryMaxMs: number
  /** Tries of a verification that failed on the network (then judged unproven), retryMs × attempt apart. */
  verifyAttempts: number
  verifyRetryMs: number
}

export const DEFAULT_TIMING: Readonly<MarketTiming> = Object.freeze({
  refundSweepMs: 10_000,
  releaseGraceMs: 60_000,
  revealAfterMs: 120_000,
  revealGraceMs: 5_000,
  revealPauseMs: 1_000,
  // 1, 2, 4, 8, 15 s apart: about half a minute.
  resultAttempts: 6,
  retryBaseMs: 1_000,
  retryMaxMs: 15_000,
  verifyAttempts: 3,
  verifyRetryMs: 5_000
})

/**
 * Seconds an escrow must still run for a job estimated at `etaMs`: twice the estimate
 * (the requester replaces a worker at that), the wait for silent verifiers, and a
 * margin for verification and the release transaction. A bidder refuses less (a
 * deadline that expires on delivery lets the requester refund and keep the result); a
 * requester sets at least this with room to replace its worker once.
 */
export function escrowSecondsNeeded (etaMs: number, timing: Pick<MarketTiming, 'releaseGraceMs'>): number {
  return Math.ceil((2 * etaMs + timing.releaseGraceMs) / 1000) + 300
}
