// A verifier's answer to a referee asking it to co-sign a slash (verifier quorum above
// one: Staking.slash counts the referee and the job's assigned verifiers). It signs
// only what its own work backs:
//   - it is an assigned verifier of the job and not the peer to be slashed;
//   - it gave its own checked verdict (not "unproven") on that very result;
//   - a worker is slashed only if that verdict rejected the result; a verifier only if
//     that verifier's verdict on the result says the opposite of this one's (a false
//     accusation against work this peer approved, an approval of a forced error this
//     peer rejected);
//   - the fault is one of the slashed role's, and the amount no more than the shared
//     policy (slashFor) takes from the peer's stake now.
// Anything else is refused with SlashCosignRefusedError: a referee, or anyone, cannot
// borrow an honest verifier's signature to slash a peer that verifier found honest.
import { signMessage } from '../../settlement/chain/signatures.ts'
import { slashFor, STAKE_ROLE_IDS, type Fault } from '../../settlement/policy/index.ts'
import { SlashCosignRefusedError, type SlashCosignAnswer, type SlashCosignRequest } from '../../protocols/slash/slash.ts'
import type { MarketContext } from './context.ts'

const same = (a: string | undefined, b: string | undefined): boolean => a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase()

export async function cosignSlash (ctx: MarketContext, req: SlashCosignRequest): Promise<SlashCosignAnswer> {
  const refuse = (why: string): never => {
    ctx.log('slash co-signature refused', { job: req.jobId, peer: req.peer, role: req.role, why })
    throw new SlashCosignRefusedError(why)
  }
  const state = await ctx.store.load(req.jobId).catch(() => undefined)
  if (state?.assign === undefined) return refuse('this peer knows no assignment of the job')
  const me = ctx.me.address
  if (!state.assign.verifiers.some(v => same(v.address, me))) return refuse('this peer is not a verifier of the job')
  if (same(req.peer, me)) return refuse('a peer does not co-sign its own slash')
  const verdictOf = (who: string): { ok: boolean, unproven?: boolean } | undefined =>
    (state.verdicts ?? []).find(d => same(d.by, who) && d.resultHash.toLowerCase() === req.resultHash.toLowerCase())
  const mine = verdictOf(me)
  if (mine === undefined) return refuse('this peer gave no verdict on that result')
  if (mine.unproven === true) return refuse('this peer could not check that result (its verdict is unproven)')
  if (req.role === 'worker') {
    if (!state.assign.workers.some(w => same(w.address, req.peer))) return refuse('the peer is not the job\'s worker')
    if (mine.ok) return refuse('this peer approved that result')
  } else {
    if (!state.assign.verifiers.some(v => same(v.address, req.peer))) return refuse('the peer is not a verifier of the job')
    const theirs = verdictOf(req.peer)
    if (theirs === undefined) return refuse('this peer saw no verdict of that verifier on that result')
    if (theirs.ok === mine.ok) return refuse('that verifier\'s verdict agrees with this peer\'s')
  }
  let allowed: bigint
  try {
    const [stake, amount, share] = await Promise.all([ctx.chain.slashableOf(req.peer, req.role), ctx.chain.slashAmount(req.role), ctx.chain.proverShareBps()])
    allowed = slashFor({ fault: req.fault as Fault, role: req.role, stake, registrySlashAmount: amount, proverShareBps: share }).slashed
  } catch (err) {
    return refuse(`the case is not the policy's: ${(err as Error).message}`)
  }
  if (BigInt(req.amount) > allowed) return refuse(`the amount is more than the policy takes (${allowed})`)
  const c = { jobId: req.jobId, peer: req.peer, role: STAKE_ROLE_IDS[req.role], amount: BigInt(req.amount), evidence: req.evidence, prover: req.prover, resultHash: req.resultHash }
  const signed = await signMessage(ctx.wallet, 'Slash', ctx.chain.domain('staking'), c)
  ctx.log('slash co-signed', { job: req.jobId, peer: req.peer, role: req.role, fault: req.fault })
  return signed
}
