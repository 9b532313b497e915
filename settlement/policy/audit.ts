// Deterrence by policy: how often work must be checked so that cheating does not pay.
// A worker that cheats saves the cost c of the work it skipped; with probability p its
// job is audited, the cheat is found, and it loses the job's reward R and the stake S
// that a proven fault slashes. Cheating is worth c - p(R + S) more than honest work, so
// any p >= c / (R + S) deters it; a safety margin covers a c that was underestimated
// and audits that miss some cheats. The same bound keeps verifiers honest: jobs with
// known faults are mixed in at rate q, and a verifier that approves one without checking
// loses its reward and its verifier stake. Pure and exact (bigint wei, probabilities
// rounded up, never down), so the registry's audit rate, the live network and the
// simulator agree on whether a given rate deters; settlement/policy/README.md has the model.
import { InvalidPolicyInputError } from './errors.ts'

/** Per job, in wei. */
export interface DeterrenceInput {
  /** What cheating saves: the cost of the work skipped (for a verifier: of the check skipped). >= 0. */
  costSaved: bigint
  /** What the job pays the cheater when it is not caught, and it forfeits when caught. >= 0. */
  reward: bigint
  /** What a proven fault takes from it: the slash (slashFor(...).slashed), not the whole bond. >= 0. */
  stake: bigint
}

export interface DeterrencePolicy {
  /** The bound is multiplied by this; >= 1. */
  margin: number
  /** The rate never goes below this, in [0, cap]. */
  floor: number
  /** Nor above this, in [floor, 1]; a bound above it cannot be met (`deterred: false`). */
  cap: number
}

/**
 * margin 1.5: deterrence still holds if the true saving is up to 1.5x the estimate, or
 * if an audit finds only 2/3 of cheats. floor 1%: c is an estimate, and no job should be
 * free of any chance of being checked. cap 1: checking everything is the most one can do.
 */
export const DEFAULT_DETERRENCE: Readonly<DeterrencePolicy> = Object.freeze({ margin: 1.5, floor: 0.01, cap: 1 })

export interface DeterrenceRate {
  /** The rate to use, in [floor, cap]: at or above margin x breakEven whenever `deterred`. */
  p: number
  /** The rate in whole basis points, the registry's unit (auditRateBps): the bound rounded up, clamped to floor and cap in whole bp; bps / 10000 >= the bound whenever `deterred`. */
  bps: number
  /** c / (R + S): the rate at which cheating gains exactly nothing (0 if c = 0, Infinity if R + S = 0 < c). */
  breakEven: number
  /** margin x breakEven, before the clamp. */
  required: number
  /** Whether the required rate fits under the cap; if not, p = cap and cheating pays. */
  deterred: boolean
  /** Which end of the clamp set p, if one did. */
  clamped: 'floor' | 'cap' | null
}

const GRID = 2n ** 53n // p is a multiple of 2^-53, which every double in [0.5, 1] is too
const BPS = 10_000n

/** x = m / 2^e exactly, for a finite x >= 0 (doubling a double is exact). */
function dyadic (x: number): { m: bigint, e: bigint } {
  let e = 0n
  while (!Number.isInteger(x)) {
    x *= 2
    e++
  }
  return { m: BigInt(x), e }
}

function ceilDiv (n: bigint, d: bigint): bigint {
  return n / d + (n % d === 0n ? 0n : 1n) // n, d >= 0
}

function floorDiv (n: bigint, d: bigint): bigint {
  const q = n / d // d > 0; bigint division truncates toward zero
  return n % d !== 0n && n < 0n ? q - 1n : q
}

function checkWei (value: unknown, field: string): bigint {
  if (typeof value !== 'bigint' || value < 0n) throw new InvalidPolicyInputError(`${field} must be a bigint >= 0 (wei)`, { field, value: String(value) })
  return value
}

function checkProbability (value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new InvalidPolicyInputError(`${field} must be a probability in [0, 1]`, { field, value })
  }
  return value
}

function checkPolicy (policy: Partial<DeterrencePolicy>): DeterrencePolicy {
  if (policy == null || typeof policy !== 'object') throw new InvalidPolicyInputError('deterrence policy must be an object', {})
  const margin = policy.margin ?? DEFAULT_DETERRENCE.margin
  const floor = checkProbability(policy.floor ?? DEFAULT_DETERRENCE.floor, 'floor')
  const cap = checkProbability(policy.cap ?? DEFAULT_DETERRENCE.cap, 'cap')
  // A margin below 1 would knowingly set a rate at which cheating pays.
  if (typeof margin !== 'number' || !Number.isFinite(margin) || margin < 1) throw new InvalidPolicyInputError('margin must be a finite number >= 1', { margin })
  if (floor > cap) throw new InvalidPolicyInputError('floor must not exceed cap', { floor, cap })
  return { margin, floor, cap }
}

function checkInput (input: DeterrenceInput): { c: bigint, loss: bigint } {
  if (input == null || typeof input !== 'object') throw new InvalidPolicyInputError('deterrence input must be an object', {})
  const c = checkWei(input.costSaved, 'costSaved')
  return { c, loss: checkWei(input.reward, 'reward') + checkWei(input.stake, 'stake') }
}

/** The smallest rate p in [floor, cap] (a multiple of 2^-53, or floor or cap) with p >= margin c / (R + S). */
function deterrenceRate (input: DeterrenceInput & Partial<DeterrencePolicy>): DeterrenceRate {
  const { c, loss } = checkInput(input)
  const { margin, floor, cap } = checkPolicy(input)
  const mg = dyadic(margin)
  // required = c mg.m / (2^mg.e loss), kept as a fraction.
  const num = c * mg.m
  const den = loss << mg.e
  const breakEven = c === 0n ? 0 : loss === 0n ? Infinity : Number(c) / Number(loss)
  const required = num === 0n ? 0 : den === 0n ? Infinity : margin * breakEven
  const cp = dyadic(cap)
  const deterred = num === 0n || (den > 0n && (num << cp.e) <= cp.m * den)
  let p: number
  let clamped: DeterrenceRate['clamped'] = null
  if (!deterred) {
    p = cap
    clamped = 'cap'
  } else {
    // Rounded up to the grid, so p >= required exactly; required <= cap <= 1 keeps it within 2^53.
    const grid = num === 0n ? 0 : Number(ceilDiv(num * GRID, den)) / Number(GRID)
    p = grid
    if (floor > p) {
      p = floor
      clamped = 'floor'
    }
    if (cap < p) { // only when cap is finer than the grid; cap >= required still holds
      p = cap
      clamped = 'cap'
    }
  }
  // The registry's unit: the exact bound rounded up to a whole basis point, floor and cap
  // taken to the nearest one (0.01 means 100, not the 101 its binary value rounds up to).
  const floorBps = Math.round(floor * 10_000)
  const capBps = Math.round(cap * 10_000)
  let bps = capBps
  if (deterred) {
    const needed = num === 0n ? 0 : Number(ceilDiv(num * BPS, den)) // <= 10000 because required <= cap <= 1
    bps = Math.min(10_000, Math.max(needed, floorBps)) // above a cap that is not a whole bp rather than below the bound
  }
  return { p, bps, breakEven, required, deterred, clamped }
}

/**
 * The audit probability for jobs where cheating saves `costSaved` and being caught costs
 * `reward` + `stake`: p >= margin x c / (R + S), clamped to [floor, cap]. `deterred`
 * is false when that needs more than `cap` (p is then cap, and cheating still pays).
 */
export function auditProbability (input: DeterrenceInput & Partial<DeterrencePolicy>): DeterrenceRate {
  return deterrenceRate(input)
}

/**
 * The forced-error rate q that keeps verifiers honest: jobs with a planted fault are
 * mixed in at rate q, and a verifier that approves one loses its reward and its stake.
 * Inputs are the verifier's: `costSaved` = v, the cost of the check it skips; `reward`
 * = r_v, its per-job pay; `stake` = S_v, what the slash for a lazy approval takes.
 * q >= margin x v / (r_v + S_v), clamped like auditProbability.
 */
export function forcedErrorRate (input: DeterrenceInput & Partial<DeterrencePolicy>): DeterrenceRate {
  return deterrenceRate(input)
}

/**
 * Expected gain in wei of cheating over doing the work honestly, per job, at audit rate p:
 * c - p (R + S), rounded down to a whole wei. Not caught (1 - p): the cheater is paid R
 * like an honest worker and keeps the saved cost c. Caught (p): it keeps c, but loses R and
 * the slashed S. The sign is exact: < 0n exactly when cheating loses in expectation.
 * The same holds for a lazy verifier at forced-error rate q.
 */
export function expectedCheatProfit (input: DeterrenceInput & { p: number }): bigint {
  const { c, loss } = checkInput(input)
  const p = dyadic(checkProbability(input.p, 'p'))
  return floorDiv((c << p.e) - p.m * loss, 1n << p.e)
}
