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
