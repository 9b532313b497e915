// Reputation: a peer's verified history -> one score in [0, 1] that assignment weighs
// against price and stake. Beta-Bernoulli style: successes add to alpha, failures to
// beta, the score is the mean alpha / (alpha + beta), starting from a prior. Old outcomes
// fade with a half-life, so a peer can recover from an old failure and cannot coast on
// old successes; a proven, slashed fault weighs ten failures, so a caught cheat costs far
// more standing than it could have earned by cheating once. Pure: the clock is a parameter, and the same history in
// any order gives the same score; settlement/policy/README.md gives the rules.
import { InvalidPolicyInputError } from './errors.ts'

export type OutcomeKind = 'verified' | 'failed' | 'timeout' | 'slashed'

export interface Outcome {
  kind: OutcomeKind
  /** How much the job counts, e.g. its size; finite, >= 0, default 1. */
  weight?: number
  /** When the outcome was settled, in ms on the caller's clock (Date.now() live, virtual time in sim/). Finite. */
  at: number
}

export interface ReputationPolicy {
  /** Prior successes; > 0. A newcomer scores priorAlpha / (priorAlpha + priorBeta). */
  priorAlpha: number
  /** Prior failures; > 0. */
  priorBeta: number
  /** Age in ms at which an outcome counts half; > 0. */
  halfLifeMs: number
  /** What one unit of weight of each bad outcome adds to beta (a verified one adds 1 to alpha); finite, >= 0. */
  penalty: Readonly<{ failed: number, timeout: number, slashed: number }>
}

export const DAY_MS = 86_400_000

/**
 * Prior 1 / 1: a newcomer scores 0.5, one verified job already lifts it. Half-life 30
 * days. A timeout counts half a failure (it is often a crash, not a lie); a slash counts
 * ten (proven with signed evidence, so it is no accident): ten fresh verified jobs to
 * get back to where the peer was.
 */
export const DEFAULT_REPUTATION_POLICY: Readonly<ReputationPolicy> = Object.freeze({
  priorAlpha: 1,
  priorBeta: 1,
  halfLifeMs: 30 * DAY_MS,
  penalty: Object.freeze({ failed: 1, timeout: 0.5, slashed: 10 })
})

export interface Reputation {
  /** alpha / (alpha + beta), in [0, 1]. */
  score: number
  /** priorAlpha + decayed verified weight. */
  alpha: number
  /** priorBeta + decayed, penalised bad weight. */
  beta: number
  /** Outcomes of each kind, not decayed or weighted: for display. */
  counts: { verified: number, failed: number, timeout: number, slashed: number }
}

const KINDS: readonly OutcomeKind[] = ['verified', 'failed', 'timeout', 'slashed']

function positive (value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new InvalidPolicyInputError(`${field} must be a finite number > 0`, { field, value })
  return value
}

function nonNegative (value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new InvalidPolicyInputError(`${field} must be a finite number >= 0`, { field, value })
  return value
}

function checkPolicy (params: Partial<ReputationPolicy>): ReputationPolicy {
  if (params == null || typeof params !== 'object') throw new InvalidPolicyInputError('reputation policy must be an object', {})
  const d = DEFAULT_REPUTATION_POLICY
  const pen = params.penalty ?? d.penalty
  if (pen == null || typeof pen !== 'object') throw new InvalidPolicyInputError('penalty must be an object', {})
  return {
    priorAlpha: positive(params.priorAlpha ?? d.priorAlpha, 'priorAlpha'),
    priorBeta: positive(params.priorBeta ?? d.priorBeta, 'priorBeta'),
    halfLifeMs: positive(params.halfLifeMs ?? d.halfLifeMs, 'halfLifeMs'),
    penalty: {
      failed: nonNegative(pen.failed ?? d.penalty.failed, 'penalty.failed'),
      timeout: nonNegative(pen.timeout ?? d.penalty.timeout, 'penalty.timeout'),
      slashed: nonNegative(pen.slashed ?? d.penalty.slashed, 'penalty.slashed')
    }
  }
}

/**
 * A peer's reputation at time `now` (ms) from its settled outcomes. Each outcome counts
 * weight x 2^(-age / halfLifeMs), age = now - at (an outcome dated after `now` counts as
 * age 0, never more). Verified adds that to alpha; failed, timeout and slashed add it
 * times their penalty to beta. Order-independent: the terms are summed in sorted order.
 */
export function reputation (history: readonly Outcome[], now: number, params: Partial<ReputationPolicy> = {}): Reputation {
  const policy = checkPolicy(params)
  if (typeof now !== 'number' || !Number.isFinite(now)) throw new InvalidPolicyInputError('now must be a finite number (ms)', { now })
  if (!Array.isArray(history)) throw new InvalidPolicyInputError('history must be an array', {})
  const counts = { verified: 0, failed: 0, timeout: 0, slashed: 0 }
  const good: number[] = []
  const bad: number[] = []
  for (const [i, o] of (history as readonly Outcome[]).entries()) {
    if (o == null || typeof o !== 'object' || !KINDS.includes(o.kind)) throw new InvalidPolicyInputError('outcome kind must be verified, failed, timeout or slashed', { index: i, kind: o?.kind })
    if (typeof o.at !== 'number' || !Number.isFinite(o.at)) throw new InvalidPolicyInputError('outcome at must be a finite number (ms)', { index: i, at: o.at })
    const weight = nonNegative(o.weight ?? 1, `history[${i}].weight`)
    counts[o.kind]++
    const age = Math.max(0, now - o.at) // a clock ahead of ours must not make an outcome count more than in full
    const w = weight * Math.pow(2, -age / policy.halfLifeMs)
    if (o.kind === 'verified') good.push(w)
    else bad.push(w * policy.penalty[o.kind])
  }
  // Float addition is not associative: a fixed order makes the sum independent of input order.
  const sum = (xs: number[]): number => xs.sort((a, b) => a - b).reduce((s, x) => s + x, 0)
  const alpha = policy.priorAlpha + sum(good)
  const beta = policy.priorBeta + sum(bad)
  if (!Number.isFinite(alpha + beta)) throw new InvalidPolicyInputError('outcome weights overflow', { alpha, beta })
  return { score: alpha / (alpha + beta), alpha, beta, counts }
}
