// Proving a fault on chain: the shared policy prices it (slashFor); the job's referee
// signs the Slash (Staking refuses a slash its referee did not sign) and submits it with
// the evidence's hash, the requester's signed assignment and the slashed peer's own
// Participation signature (from its result or verdict). With a verifier quorum above one
// the other signers' Slash signatures are needed: not gathered yet, so nothing is
// submitted then.
import { signMessage, packSignatures } from '../../settlement/chain/signatures.ts'
import { slashFor, STAKE_ROLE_IDS, type Fault, type StakeRole } from '../../settlement/policy/index.ts'
import { escrowAssignment } from './assignment-proof.ts'
import type { MarketContext } from './context.ts'
import type { JobState } from './job-state.ts'

export interface Slashed { tx: string, amount: string, evidence: string }

/** Who is slashed for what: its address and role, the fault, the result at issue and its Participation signature over it. */
export interface SlashTarget { address: string, role: StakeRole, fault: Fault, resultHash: string, participation: string }

export async function slash (ctx: MarketContext, state: JobState, target: SlashTarget, evidence: string, prover: string = ctx.me.address): Promise<Slashed | undefined> {
  const job = state.job
  try {
    if (state.assign?.referee?.address.toLowerCase() !== ctx.me.address.toLowerCase()) throw new Error('only the job\'s referee signs its slashes')
    const { chain } = ctx
    const [stake, amount, share, quorum] = await Promise.all([
      chain.slashableOf(target.address, target.role), chain.slashAmount(target.role), chain.proverShareBps(), chain.verifierQuorum()
    ])
    const s = slashFor({ fault: target.fault, role: target.role, stake, registrySlashAmount: amount, proverShareBps: share })
    if (!s.submit || quorum > 1) return undefined
    const c = { jobId: job, peer: target.address, role: STAKE_ROLE_IDS[target.role], amount: s.slashed, evidence, prover, resultHash: target.resultHash }
    const signed = await signMessage(ctx.wallet, 'Slash', chain.domain('staking'), c)
    const { assignment, signature } = escrowAssignment(state.assign)
    const tx = await chain.slash(c, assignment, signature, target.participation, packSignatures([signed]))
    ctx.log('peer slashed', { job, peer: target.address, role: target.role, fault: target.fault, amount: s.slashed.toString(), tx })
    return { tx, amount: s.slashed.toString(), evidence }
  } catch (err) {
    ctx.log('slash failed', { job, error: (err as Error).name, message: (err as Error).message })
    return undefined
  }
}
