// The verdict on one job: given what the verifiers signed, whether the job was a planted
// forced-error job, and what a referee found (a dispute or a random audit recomputes the
// disputed steps), who is paid, who is slashed for which fault, whether the requester is
// refunded, and which outcome each party's reputation records. audit.ts sets how often
// jobs are audited and planted; slashing.ts prices a fault; this file says which facts
// prove which fault. Pure, so the live network and the simulator judge a job alike;
// settlement/policy/README.md gives the rules.
import { InvalidPolicyInputError } from './errors.ts'
import type { OutcomeKind } from './reputation.ts'
import type { Fault } from './slashing.ts'
import { compareStrings } from './split-pool.ts'

export interface VerifierVerdict {
  verifier: string
  /** It signed approval of the result (false: it rejected it, which always goes to a referee). */
  approved: boolean
}

/** What a referee found: nothing asked of it, the result is wrong, or the result stands. */
export type RefereeFinding = 'none' | 'fault' | 'clean'

export interface VerdictInput {
  worker: string
  /** One per verifier assigned that answered; none listed twice, the worker not among them. */
  verdicts: readonly VerifierVerdict[]
  /** The network planted a known fault in this job to test its verifiers (audit.ts, forced errors). */
  forcedError?: boolean
  /** Default 'none'. 'clean' is impossible for a forced-error job, whose fault is known. */
  referee?: RefereeFinding
  /**
   * Rejecting verifiers whose own signed claim the referee refuted in a dispute (it
   * recomputed the disputed step and confirmed the worker's state): only with 'clean'.
   */
  refuted?: readonly string[]
  /** The worker fault the referee proved; default 'wrong-result'. */
  fault?: WorkerFault
}

/** The faults a worker can be proven to have made (a verifier's faults are its own). */
export type WorkerFault = Extract<Fault, 'wrong-result' | 'skipped-steps' | 'stale-result' | 'copied-result'>

export interface VerdictSlash {
  peer: string
  role: 'worker' | 'verifier'
  fault: Fault
  /** Who produced the evidence and gets the prover's share (slashFor); null = the network itself (no prover). */
  prover: string | null
}

export interface JobVerdict {
  /** The escrow releases the fee: a job receipt with `signers` as its verifiers. */
  paid: boolean
  /** The escrow returns the fee to the requester. */
  refund: boolean
  /** Verifiers paid for this job: those that approved a result that stands, by address. */
  signers: string[]
  /** Proven faults to submit (slashFor prices each), by peer. */
  slashes: VerdictSlash[]
  /** One outcome per party for reputation, by peer. */
  outcomes: Array<{ peer: string, kind: OutcomeKind }>
}

function checkAddress (value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw new InvalidPolicyInputError('address must be a non-empty string', { field, value })
  return value
}

const byPeer = <T extends { peer: string }>(xs: T[]): T[] => xs.sort((a, b) => compareStrings(a.peer, b.peer))

/**
 * Judges one job. Throws InvalidPolicyInputError on an empty address, a verifier listed
 * twice or equal to the worker, a rejection nobody referred (referee 'none' with a
 * rejecting verifier), or a forced-error job the referee calls clean.
 */
export function jobVerdict (input: VerdictInput): JobVerdict {
  if (input == null || typeof input !== 'object') throw new InvalidPolicyInputError('verdict input must be an object', {})
  const worker = checkAddress(input.worker, 'worker')
  if (!Array.isArray(input.verdicts)) throw new InvalidPolicyInputError('verdicts must be an array', {})
  const seen = new Set<string>()
  const approvers: string[] = []
  const rejecters: string[] = []
  for (const [i, v] of input.verdicts.entries()) {
    const peer = checkAddress(v?.verifier, `verdicts[${i}].verifier`)
    if (seen.has(peer)) throw new InvalidPolicyInputError('verifier listed twice', { verifier: peer })
    if (peer === worker) throw new InvalidPolicyInputError('the worker cannot verify its own job', { verifier: peer })
    if (typeof v.approved !== 'boolean') throw new InvalidPolicyInputError('approved must be a boolean', { verifier: peer })
    seen.add(peer)
    ;(v.approved ? approvers : rejecters).push(peer)
  }
  approvers.sort(compareStrings)
  rejecters.sort(compareStrings)
  const referee = input.referee ?? 'none'
  if (referee !== 'none' && referee !== 'fault' && referee !== 'clean') throw new InvalidPolicyInputError('referee must be none, fault or clean', { referee })
  const forced = input.forcedError ?? false
  if (typeof forced !== 'boolean') throw new InvalidPolicyInputError('forcedError must be a boolean', { forcedError: forced })
  const fault = input.fault ?? 'wrong-result'
  if (!['wrong-result', 'skipped-steps', 'stale-result', 'copied-result'].includes(fault)) throw new InvalidPolicyInputError('fault must be a worker fault', { fault })
  const refuted = input.refuted ?? []
  if (!Array.isArray(refuted)) throw new InvalidPolicyInputError('refuted must be an array', {})
  for (const peer of refuted) {
    if (!rejecters.includes(peer)) throw new InvalidPolicyInputError('only a rejecting verifier can be refuted', { verifier: peer })
  }
  if (refuted.length > 0 && referee !== 'clean') throw new InvalidPolicyInputError('a refuted rejection needs a referee that found the result clean', { referee })

  // Rule 1: a planted fault is known, so approving it proves the check was skipped. The
  // fault was planted: nobody is paid for this result, nobody refunded (the job's real
  // result is judged on its own). A verifier that found the fault holds the proof (its
  // rejection, the approval, the reveal): the first by address is the prover, else none.
  if (forced) {
    if (referee === 'clean') throw new InvalidPolicyInputError('a forced-error job cannot be clean', {})
    return {
      paid: false,
      refund: false,
      signers: [],
      slashes: approvers.map(peer => ({ peer, role: 'verifier' as const, fault: 'lazy-approval' as const, prover: rejecters[0] ?? null })),
      outcomes: byPeer([
        ...approvers.map(peer => ({ peer, kind: 'slashed' as const })),
        ...rejecters.map(peer => ({ peer, kind: 'verified' as const }))
      ])
    }
  }

  // Rule 2: a proven fault. The worker is slashed and unpaid, the requester refunded. The
  // first rejecting verifier (by address) produced the evidence; without one an audit did.
  // Approvers signed a wrong result: a failure, not a slash, since a sampled replay can
  // miss a subtle fault honestly; only forced errors prove a verifier lazy.
  if (referee === 'fault') {
    return {
      paid: false,
      refund: true,
      signers: [],
      slashes: [{ peer: worker, role: 'worker', fault, prover: rejecters[0] ?? null }],
      outcomes: byPeer([
        { peer: worker, kind: 'slashed' as const },
        ...rejecters.map(peer => ({ peer, kind: 'verified' as const })),
        ...approvers.map(peer => ({ peer, kind: 'failed' as const }))
      ])
    }
  }

  // Rule 3: a rejection always goes to a referee; an unreferred one is a caller's bug.
  if (referee === 'none' && rejecters.length > 0) throw new InvalidPolicyInputError('a rejected result must be referred', { rejecters })

  // Rule 4: no verifier answered and nobody refereed: nothing verified it, so nothing is
  // paid and the requester gets its escrow back; nobody proved anything against anyone.
  if (referee === 'none' && approvers.length === 0) return { paid: false, refund: true, signers: [], slashes: [], outcomes: [] }

  // Rule 5: the result stands (approved, or a referee found it clean). The worker and the
  // approvers are paid; a verifier that rejected a correct result raised a false alarm.
  // One whose signed claim a dispute refuted lied about the disputed step: it is slashed,
  // and the wronged worker, whose answers carried the dispute, is the prover.
  const lied = [...new Set(refuted)].sort(compareStrings)
  return {
    paid: true,
    refund: false,
    signers: approvers,
    slashes: lied.map(peer => ({ peer, role: 'verifier' as const, fault: 'false-accusation' as const, prover: worker })),
    outcomes: byPeer([
      { peer: worker, kind: 'verified' as const },
      ...approvers.map(peer => ({ peer, kind: 'verified' as const })),
      ...rejecters.map(peer => ({ peer, kind: lied.includes(peer) ? 'slashed' as const : 'failed' as const }))
    ])
  }
}

/** What a verifier's failing check established about the worker's result. */
export interface CheckFindings {
  /** A replayed step did not reproduce the receipt's checkpoint. */
  replayMismatch?: boolean
  /** The result or its receipt is not this job's run: another run's receipt, or a result that is not the run's last checkpoint. */
  notThisRun?: boolean
  /** The check failed on the network (timeouts, dropped streams): it proves nothing against the worker. */
  unproven?: boolean
}

/**
 * The worker fault a failing check proves, or null when it proves none (a network
 * failure: the worker is not paid for the result, but not slashed either). A replay that
 * disagrees proves skipped steps; a result that is not the job's run, a stale one;
 * anything else the worker's own bytes show (a refused file, a wrong output), a wrong result.
 */
export function classifyFault (findings: CheckFindings): Extract<Fault, 'skipped-steps' | 'stale-result' | 'wrong-result'> | null {
  if (findings == null || typeof findings !== 'object') throw new InvalidPolicyInputError('findings must be an object', {})
  if (findings.unproven === true) return null
  if (findings.replayMismatch === true) return 'skipped-steps'
  if (findings.notThisRun === true) return 'stale-result'
  return 'wrong-result'
}

