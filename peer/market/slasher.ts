// Proving a fault on chain: the shared policy prices it (slashFor), this peer signs the
// Slash and submits it with the evidence's hash. With a verifier quorum above one the
// other verifiers' signatures are needed: not built yet, so nothing is submitted then.
import { signMessage, packSignatures } from '../../settlement/chain/signatures.ts'
import { slashFor, STAKE_ROLE_IDS, type Fault, type StakeRole } from '../../settlement/policy/index.ts'
import type { MarketContext } from './context.ts'

export interface Slashed { tx: string, amount: string, evidence: string }

export async function slash (ctx: MarketContext, job: string, target: { address: string, role: StakeRole, fault: Fault }, evidence: string, prover: string = ctx.me.address): Promise<Slashed | undefined> {
  try {
    const { chain } = ctx
    const [stake, amount, share, quorum] = await Promise.all([
      chain.slashableOf(target.address, target.role), chain.slashAmount(target.role), chain.proverShareBps(), chain.verifierQuorum()
    ])
    const s = slashFor({ fault: target.fault, role: target.role, stake, registrySlashAmount: amount, proverShareBps: share })
    if (!s.submit || quorum > 1) return undefined
    const role = STAKE_ROLE_IDS[target.role]
    const signed = await signMessage(ctx.wallet, 'Slash', chain.domain('staking'), { peer: target.address, role, amount: s.slashed, evidence, prover })
    const tx = await chain.slash(target.address, target.role, s.slashed, evidence, prover, packSignatures([signed]))
    ctx.log('peer slashed', { job, peer: target.address, role: target.role, fault: target.fault, amount: s.slashed.toString(), tx })
    return { tx, amount: s.slashed.toString(), evidence }
  } catch (err) {
    ctx.log('slash failed', { job, error: (err as Error).name, message: (err as Error).message })
    return undefined
  }
}
