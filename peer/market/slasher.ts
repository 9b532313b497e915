// Proving a fault on chain: the shared policy prices it (slashFor); the job's referee
// signs the Slash (Staking refuses a slash its referee did not sign) and submits it with
// the evidence's hash, the requester's signed assignment and the slashed peer's own
// Participation signature (from its result or verdict). With a verifier quorum above one
// the job's other verifiers co-sign (./slash-cosigner.ts: each only if its own verdict
// backs the slash); without enough of them nothing is submitted.
import { signMessage, packSignatures, verifySigned, type SignedMessage } from '../../settlement/chain/signatures.ts'
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
    if (!s.submit) return undefined
    const c = { jobId: job, peer: target.address, role: STAKE_ROLE_IDS[target.role], amount: s.slashed, evidence, prover, resultHash: target.resultHash }
    const signed = await signMessage(ctx.wallet, 'Slash', chain.domain('staking'), c)
    const others = quorum > 1 ? await cosigners(ctx, state, target, c, quorum - 1) : []
    if (others.length < quorum - 1) {
      ctx.log('slash not co-signed by enough of the job\'s verifiers: nothing submitted', { job, peer: target.address, quorum, cosigned: others.length })
      return undefined
    }
    const { assignment, signature } = escrowAssignment(state.assign)
    const tx = await chain.slash(c, assignment, signature, target.participation, packSignatures([signed, ...others]))
    ctx.log('peer slashed', { job, peer: target.address, role: target.role, fault: target.fault, amount: s.slashed.toString(), tx })
    return { tx, amount: s.slashed.toString(), evidence }
  } catch (err) {
    ctx.log('slash failed', { job, error: (err as Error).name, message: (err as Error).message })
    return undefined
  }
}

/** Up to `need` Slash co-signatures from the job's other verifiers, each checked before it counts. */
async function cosigners (ctx: MarketContext, state: JobState, target: SlashTarget, c: Parameters<MarketContext['chain']['slash']>[0], need: number): Promise<SignedMessage[]> {
  const me = ctx.me.address.toLowerCase()
  const asked = (state.assign?.verifiers ?? []).filter(v => v.address.toLowerCase() !== me && v.address.toLowerCase() !== target.address.toLowerCase())
  const dom = ctx.chain.domain('staking')
  const answers = await Promise.all(asked.map(async v => {
    try {
      const a = await ctx.wire.askSlashCosign(v.peer, { jobId: c.jobId, peer: c.peer, role: target.role as 'worker' | 'verifier', amount: c.amount.toString(), evidence: c.evidence, prover: c.prover, resultHash: c.resultHash, fault: target.fault })
      if (a.signer.toLowerCase() !== v.address.toLowerCase() || !verifySigned('Slash', dom, c, a)) throw new Error('a co-signature that is not the verifier\'s over this case')
      return a
    } catch (err) {
      ctx.log('slash co-signature not given', { job: c.jobId, verifier: v.address, error: (err as Error).name, reason: (err as { details?: { remoteMessage?: string } }).details?.remoteMessage ?? (err as Error).message })
      return undefined
    }
  }))
  return answers.filter((a): a is SignedMessage => a !== undefined).slice(0, need)
}
