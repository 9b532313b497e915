// Rewards as a peer sees them: what an aggregator answers on /openledger/rewards, and
// the proof any peer fetches, checks against the chain's root, then shows or claims.
// An aggregator's answer is trusted for nothing: its root must be the chain's and its
// proof must verify before a balance is shown or a claim sent.
import type { JsonRpcProvider } from 'ethers'
import type { PeerId } from '@libp2p/interface'
import { ROLE, type SettlementClient } from '../../settlement/chain/client.ts'
import type { EpochBuilder } from '../../settlement/epoch/index.ts'
import { verifyCumulativeProof } from '../../settlement/merkle/index.ts'
import { askRewards, type RewardsAnswer, type RewardsAt } from '../../protocols/rewards/rewards.ts'
import type { StreamHost } from '../../protocols/reqresp.ts'
import { PeerError, EXIT } from '../errors.ts'

/** Nothing to claim, no aggregator reachable, a proof that does not match the chain. */
export class RewardsUnavailableError extends PeerError {
  constructor (message: string, details?: Record<string, unknown>) { super(message, EXIT.failure, details) }
}

export interface RewardsReport {
  address: string
  /** OPEN held by the address now. */
  balance: string
  /** What the address has claimed on chain so far. */
  claimed: string
  /** Cumulative earnings in the latest root the aggregator posted, and whether it is final. */
  earned: string | null
  epoch: number | null
  final: boolean
  finalAt: number | null
  /** earned - claimed, when positive. */
  claimable: string
  /** Stake per role. */
  stake: Record<keyof typeof ROLE, string>
  /** Why earned is unknown (no aggregator answered, or its proof was refused). */
  note?: string
}

export interface ClaimResult { account: string, epoch: number, amount: string, cumulative: string, tx: string, gasUsed: string }

/** What a rewards reader needs: the chain, and either its own builder or aggregators to ask. */
export interface RewardsSource {
  chain: SettlementClient
  provider: JsonRpcProvider
  host: StreamHost
  /** This peer's epoch builder when it aggregates: answered locally, nobody asked. */
  builder?: EpochBuilder
  /** Peers that speak /openledger/rewards, best first. */
  aggregators: () => Promise<PeerId[]>
}

const NO_ANSWER = (epoch: number): RewardsAnswer => ({ epoch, root: '0x' + '00'.repeat(32), finalAt: null, leaves: [], proof: [] })

/** What /openledger/rewards answers: claims against the latest final root (what pays now), or the latest posted. */
export async function answerRewards (b: EpochBuilder, accounts: string[], want: RewardsAt): Promise<RewardsAnswer> {
  const at = want === 'posted' || b.latestFinal === undefined ? 'posted' : 'final'
  if (accounts.length === 1) {
    const c = await b.claimFor(accounts[0], at)
    if (c === undefined) return NO_ANSWER((at === 'final' ? b.latestFinal : b.latestPosted) ?? 0)
    return { epoch: c.epoch, root: c.root, finalAt: c.finalAt, leaves: [{ account: c.account, cumulative: c.cumulative }], proof: c.proof }
  }
  const known = []
  for (const a of accounts) if ((await b.claimFor(a, at)) !== undefined) known.push(a)
  const m = known.length > 0 ? await b.multiClaim(known, at) : undefined
  if (m === undefined) return NO_ANSWER(0)
  return { epoch: m.epoch, root: m.root, finalAt: m.finalAt, leaves: m.leaves, proof: m.proof, flags: m.proofFlags }
}

/** The latest proof for one account, from this peer's builder or an aggregator, checked against the chain. */
export async function proofFor (src: RewardsSource, account: string, at: RewardsAt): Promise<RewardsAnswer | undefined> {
  let answer: RewardsAnswer | undefined
  if (src.builder != null) answer = await answerRewards(src.builder, [account], at)
  else {
    const errors: string[] = []
    // A lossy link drops a request now and then: each aggregator is asked up to three times.
    for (const peer of await src.aggregators()) {
      for (let attempt = 0; attempt < 3 && answer === undefined; attempt++) {
        if (attempt > 0) await new Promise(resolve => setTimeout(resolve, 200 * 2 ** attempt))
        try { answer = await askRewards(src.host, peer, [account], at) } catch (err) { errors.push(`${peer.toString()}: ${(err as Error).message}`) }
      }
      if (answer !== undefined) break
    }
    if (answer === undefined) throw new RewardsUnavailableError('no aggregator answered', { errors })
  }
  if (answer.epoch === 0 || answer.leaves.length === 0) return undefined
  const leaf = answer.leaves[0]
  if (leaf.account.toLowerCase() !== account.toLowerCase()) throw new RewardsUnavailableError('the aggregator answered for another account', { asked: account, got: leaf.account })
  const onChain = await src.chain.rootOf(answer.epoch)
  if (onChain.root.toLowerCase() !== answer.root.toLowerCase()) throw new RewardsUnavailableError('the aggregator\'s root is not the one on chain', { epoch: answer.epoch, claimed: answer.root, onChain: onChain.root })
  if (!verifyCumulativeProof(answer.root, leaf, answer.proof)) throw new RewardsUnavailableError('the aggregator\'s proof does not verify', { epoch: answer.epoch })
  return { ...answer, finalAt: onChain.finalAt }
}

/** Balance, claims, stake and the latest posted earnings of one address. */
export async function rewardsReport (src: RewardsSource, address: string): Promise<RewardsReport> {
  let note: string | undefined
  const [balance, claimed, proof, block, ...stakes] = await Promise.all([
    src.chain.balanceOf(address),
    src.chain.claimed(address),
    // Balances and stake still show when no aggregator can be asked.
    proofFor(src, address, 'posted').catch((err: Error) => { if (!(err instanceof RewardsUnavailableError)) throw err; note = err.message; return undefined }),
    src.provider.getBlock('latest'),
    ...Object.values(ROLE).map(async r => await src.chain.stakeOf(address, r))
  ])
  const earned = proof?.leaves[0].cumulative
  const now = BigInt(block?.timestamp ?? Math.floor(Date.now() / 1000))
  return {
    address,
    balance: balance.toString(),
    claimed: claimed.toString(),
    earned: earned?.toString() ?? null,
    epoch: proof?.epoch ?? null,
    final: proof?.finalAt != null && proof.finalAt > 0n && now >= proof.finalAt,
    finalAt: proof?.finalAt != null ? Number(proof.finalAt) : null,
    claimable: earned !== undefined && earned > claimed ? (earned - claimed).toString() : '0',
    stake: Object.fromEntries(Object.keys(ROLE).map((k, i) => [k, stakes[i].toString()])) as RewardsReport['stake'],
    ...(note !== undefined ? { note } : {})
  }
}

/**
 * Claims what `account` is owed under the latest final root. For another account than
 * the signer's this peer is a relayer: it pays the gas, the distributor sends the OPEN
 * to the account, so a contributor without a peer or gas is paid all the same.
 */
export async function claimRewards (src: RewardsSource, account: string): Promise<ClaimResult> {
  const proof = await proofFor(src, account, 'final')
  if (proof === undefined) throw new RewardsUnavailableError('nothing earned yet: no posted root holds this address', { address: account })
  const leaf = proof.leaves[0]
  const claimed = await src.chain.claimed(account)
  if (leaf.cumulative <= claimed) throw new RewardsUnavailableError('nothing to claim: everything in the latest root is claimed', { address: account, claimed: claimed.toString() })
  const tx = await src.chain.claim(proof.epoch, account, leaf.cumulative, proof.proof)
  return { account, epoch: proof.epoch, amount: (leaf.cumulative - claimed).toString(), cumulative: leaf.cumulative.toString(), tx: tx.receipt.hash, gasUsed: tx.gasUsed.toString() }
}
