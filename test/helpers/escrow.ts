// The requester's side of a release, for tests that drive the escrow directly: its
// signed Assignment, which JobEscrow.release pays on.
import { ZeroAddress, id } from 'ethers'
import type { EscrowAssignment, SettlementClient } from '../../settlement/chain/client.ts'
import { signMessage, type TypedDataSigner } from '../../settlement/chain/signatures.ts'

export async function signedAssignment (client: SettlementClient, requester: TypedDataSigner, jobId: string, worker: string, verifiers: string[], spec = id(`spec of ${jobId}`)): Promise<{ assignment: EscrowAssignment, signature: string }> {
  const assignment = { worker, verifiers, referee: ZeroAddress, spec }
  const { signature } = await signMessage(requester, 'Assignment', client.domain('escrow'), { jobId, ...assignment })
  return { assignment, signature }
}
