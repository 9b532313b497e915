// When a job's escrow may be released, and with whose signatures: the rule requester and
// worker apply to the verdicts they hold, and the simulator to its own. The escrow
// itself checks each signature and the quorum; this rule also says when to wait (a
// silent verifier, not yet enough approvals) and when a result may never be paid (a
// revealed forced error, a rejection nobody refuted). Pure and total over plain data.
import { InvalidPolicyInputError } from './errors.ts'

export interface ReleaseVerdict {
  verifier: string
  approved: boolean
  /** Its Completion signature is the verifier's, for this worker and result, and the verifier is staked now. */
  valid: boolean
}

export interface ReleaseInput {
  /** The job's assigned verifiers, by address. */
  assigned: readonly string[]
  /** Every verdict on this result, in the order they arrived (a verifier's latest only). */
  verdicts: readonly ReleaseVerdict[]
  /** Rejecting verifiers whose claim the referee refuted: their rejection holds nothing back. */
  refuted?: readonly string[]
  /** The referee's own approval, when a ruling cleared the result. */
  referee?: { address: string, valid: boolean }
  /** registry.verifierQuorum: approvals the escrow needs (>= 1). */
  quorum: number
  /** The worker revealed this result as a forced error: it is never paid. */
  forcedError?: boolean
  /** The wait for silent assigned verifiers is over (a grace period passed). */
  graceOver?: boolean
}

export type ReleaseWait = 'forced-error' | 'rejected' | 'quorum' | 'silent-verifiers'

export interface ReleaseDecision {
  release: boolean
  /** Every valid approval, each signer once, in arrival order (the referee's last): all go to the escrow, so each verifier that checked is paid. */
  signers: string[]
  /** Why not now: never ('forced-error', 'rejected'), or not yet ('quorum', 'silent-verifiers'). */
  wait?: ReleaseWait
}

const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()

/**
 * The release rule. Throws InvalidPolicyInputError on a quorum that is not a positive
 * integer or a malformed verdict.
 */
export function releaseDecision (input: ReleaseInput): ReleaseDecision {
  if (input == null || typeof input !== 'object') throw new InvalidPolicyInputError('release input must be an object', {})
  if (!Number.isSafeInteger(input.quorum) || input.quorum < 1) throw new InvalidPolicyInputError('quorum must be a positive integer', { quorum: input.quorum })
  if (!Array.isArray(input.verdicts) || !Array.isArray(input.assigned)) throw new InvalidPolicyInputError('verdicts and assigned must be arrays', {})
  for (const v of input.verdicts) {
    if (typeof v?.verifier !== 'string' || typeof v.approved !== 'boolean' || typeof v.valid !== 'boolean') throw new InvalidPolicyInputError('a verdict is { verifier, approved, valid }', { verdict: v })
  }
  // Rule 1: a revealed forced error was planted: nobody is paid for it.
  if (input.forcedError === true) return { release: false, signers: [], wait: 'forced-error' }
  // Rule 2: a rejection holds the payment, unless the referee refuted it.
  const refuted = input.refuted ?? []
  const standing = input.verdicts.filter(v => !refuted.some(r => same(r, v.verifier)))
  if (standing.some(v => !v.approved)) return { release: false, signers: [], wait: 'rejected' }
  // Rule 3: every valid approval counts once, the referee's clearing approval too.
  const signers: string[] = []
  for (const s of [...standing.filter(v => v.approved && v.valid).map(v => v.verifier), ...(input.referee?.valid === true ? [input.referee.address] : [])]) {
    if (!signers.some(x => same(x, s))) signers.push(s)
  }
  if (signers.length < input.quorum) return { release: false, signers, wait: 'quorum' }
  // Rule 4: with the quorum reached, wait for every assigned verifier to speak (so each is
  // paid), but no longer than the grace: a silent verifier cannot hold the payment.
  const allSpoke = input.assigned.every(a => input.verdicts.some(v => same(v.verifier, a)))
  if (!allSpoke && input.graceOver !== true) return { release: false, signers, wait: 'silent-verifiers' }
  return { release: true, signers }
}
