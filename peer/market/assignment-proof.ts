// The escrow's view of an assignment: the requester signs (EIP-712) who works, who
// verifies and who referees its job, and the keccak of the job's announce (its spec).
// The escrow pays only on that signature (settlement/contracts/JobEscrow.sol), so the
// requester signs every assignment it publishes, and a worker checks it before working:
// an assignment the escrow would not honour is work nobody can be paid for.
import { ZeroAddress, id as keccakText } from 'ethers'
import { canonicalJson } from '../../compute/train/fingerprint.ts'
import type { EscrowAssignment } from '../../settlement/chain/client.ts'
import { signMessage, verifySigned, type AssignmentMessage } from '../../settlement/chain/signatures.ts'
import type { JobAnnounce, JobAssign } from '../../protocols/messages/index.ts'
import type { MarketContext } from './context.ts'

/** keccak256 of the announce as canonical JSON (sorted keys): the `spec` the escrow's assignment names. */
export function announceHash (announce: JobAnnounce): string {
  return keccakText(canonicalJson(announce))
}

/** The typed-data message of an assignment (its escrow proof aside). */
export function assignmentMessage (assign: Omit<JobAssign, 'escrow'>, spec: string): AssignmentMessage {
  return {
    jobId: assign.job,
    worker: assign.workers[0].address,
    verifiers: assign.verifiers.map(v => v.address),
    referee: assign.referee?.address ?? ZeroAddress,
    spec
  }
}

/** The requester's signature over its assignment, with the announce's hash. */
export async function signAssignment (ctx: MarketContext, assign: Omit<JobAssign, 'escrow'>, announce: JobAnnounce): Promise<JobAssign['escrow']> {
  const spec = announceHash(announce)
  const { signature } = await signMessage(ctx.wallet, 'Assignment', ctx.chain.domain('escrow'), assignmentMessage(assign, spec))
  return { spec, signature }
}

/** The assignment is the requester's, signed for this escrow, over this announce. */
export function assignmentHolds (ctx: MarketContext, assign: JobAssign, announce: JobAnnounce, requester: string): boolean {
  if (assign.escrow.spec !== announceHash(announce)) return false
  return verifySigned('Assignment', ctx.chain.domain('escrow'), assignmentMessage(assign, assign.escrow.spec), { signer: requester, signature: assign.escrow.signature })
}

/** What the escrow's release takes: the assignment and the requester's signature over it. */
export function escrowAssignment (assign: JobAssign): { assignment: EscrowAssignment, signature: string } {
  const m = assignmentMessage(assign, assign.escrow.spec)
  return { assignment: { worker: m.worker, verifiers: m.verifiers, referee: m.referee, spec: m.spec }, signature: assign.escrow.signature }
}
