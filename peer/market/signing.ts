// What a verifier signs and publishes: the escrow's Completion for a result it approves,
// its sampling beacon, and a verdict either way (a failing one commits to its evidence
// by hash and names it by CID).
import { keccak256 } from 'ethers'
import type { JobResult, JobVerdict } from '../../protocols/messages/index.ts'
import { signMessage } from '../../settlement/chain/signatures.ts'
import { beaconText } from './check-run.ts'
import type { MarketContext } from './context.ts'
import { receiptCid } from './receipts.ts'

/** The EIP-712 Completion the escrow releases on. */
export async function completion (ctx: MarketContext, job: string, result: Pick<JobResult, 'worker' | 'resultHash'>): Promise<string> {
  return (await signMessage(ctx.wallet, 'Completion', ctx.chain.domain('escrow'), { jobId: job, worker: result.worker, resultHash: result.resultHash })).signature
}

/** This peer's EIP-712 Participation in `job` with `resultHash`: it answers for it (Staking.slash needs it). */
export async function participation (ctx: MarketContext, job: string, resultHash: string): Promise<string> {
  return (await signMessage(ctx.wallet, 'Participation', ctx.chain.domain('escrow'), { jobId: job, resultHash })).signature
}

/**
 * The sample's beacon: this verifier's signature over the job and the committed
 * receipt. The worker cannot compute it, so it cannot grind its receipt for a sample
 * that misses its lies; anyone can check it (it recovers to the verifier's address)
 * and so recompute the sample. Deterministic (RFC 6979): the same after a restart.
 */
export function beacon (ctx: MarketContext, job: string, receipt: string): string {
  return ctx.wallet.signMessageSync(beaconText(job, receipt))
}

/** An approval: the verifier's Completion signature goes with it. */
export async function approval (ctx: MarketContext, job: string, result: JobResult, checked: number[], beaconValue: string): Promise<JobVerdict> {
  return { job, worker: result.worker, resultHash: result.resultHash, ok: true, checked, completion: await completion(ctx, job, result), beacon: beaconValue, participation: await participation(ctx, job, result.resultHash) }
}

/**
 * A failing verdict: the evidence is what a slash commits to (its keccak) and names (its
 * CID). `unproven`: the check failed on the network, a verdict that claims no fault.
 */
export async function rejection (ctx: MarketContext, job: string, result: JobResult, checked: number[], evidence: object, opts: { beacon?: string, dispute?: JobVerdict['dispute'], unproven?: boolean } = {}): Promise<JobVerdict> {
  return {
    job,
    worker: result.worker,
    resultHash: result.resultHash,
    ok: false,
    checked,
    evidence: await evidenceRef(evidence),
    ...(opts.beacon !== undefined ? { beacon: opts.beacon } : {}),
    ...(opts.dispute !== undefined ? { dispute: opts.dispute } : {}),
    ...(opts.unproven === true ? { unproven: true } : {}),
    participation: await participation(ctx, job, result.resultHash)
  }
}

/** keccak256 and CID of evidence's JSON: what a verdict, a ruling or a slash names. */
export async function evidenceRef (evidence: unknown): Promise<{ hash: string, cid: string }> {
  const bytes = Buffer.from(JSON.stringify(evidence))
  return { hash: keccak256(bytes), cid: await receiptCid(bytes) }
}
