// One epoch's books, pure: the receipts paid in the epoch -> what each address earned
// (job fees through the fee-split policy, credits as they are) -> cumulative balances =
// the previous epoch's cumulative + this epoch's earnings. The Merkle tree is built over
// the cumulative balances, so a claim is "everything I have earned so far" and the
// distributor pays the difference to what was already claimed: a missed claim is never
// lost and an old proof can never be claimed twice. Receipts are folded in id order and
// everything comes out sorted by address, so the same receipts give the same ledger in
// any arrival order; the simulator can call this directly.
import { compareStrings, splitFee, type FeeSplitPolicy, type Payout } from '../policy/index.ts'
import type { CumulativeEntry } from '../merkle/index.ts'
import { normalizeAddress } from '../merkle/hex.ts'
import { isJobReceipt, type Receipt } from './receipts.ts'

export interface EpochLedgerInput {
  /** The epoch's receipts, already normalised (normalizeReceipt); any order. */
  receipts: readonly Receipt[]
  /** Cumulative balances after the previous epoch (empty for the first). */
  previous: readonly CumulativeEntry[]
  feeSplit: FeeSplitPolicy
  /** Address credited with the treasury's part of every fee. */
  treasury: string
}

export interface EpochLedger {
  /** This epoch's earnings per address, by address, zeros left out. */
  earned: Payout[]
  /** Balances after this epoch, by address, zeros left out: the tree's leaves. */
  cumulative: CumulativeEntry[]
  /** Sum of `cumulative`: everything ever earned, what the distributor must have been funded with. */
  total: bigint
  /** Sum of `earned`. */
  earnedTotal: bigint
  /** Job fees in the epoch and what of them the treasury got; direct credits. */
  fees: bigint
  toTreasury: bigint
  credits: bigint
  /** Receipt ids in the order they were folded in. */
  receiptIds: string[]
}

function sortByAccount<T extends { account: string }> (xs: T[]): T[] {
  return xs.sort((a, b) => compareStrings(a.account, b.account))
}

export function computeEpochLedger (input: EpochLedgerInput): EpochLedger {
  const treasury = normalizeAddress(input.treasury)
  const receipts = [...input.receipts].sort((a, b) => compareStrings(a.id, b.id))
  const earned = new Map<string, bigint>()
  const add = (account: string, amount: bigint): void => {
    if (amount > 0n) earned.set(account, (earned.get(account) ?? 0n) + amount)
  }
  let fees = 0n
  let toTreasury = 0n
  let credits = 0n
  for (const r of receipts) {
    if (isJobReceipt(r)) {
      const split = splitFee(r, input.feeSplit)
      for (const p of split.payouts) add(p.account, p.amount)
      add(treasury, split.treasury)
      fees += r.fee
      toTreasury += split.treasury
    } else {
      add(r.account, r.amount)
      credits += r.amount
    }
  }
  const cumulative = new Map<string, bigint>()
  for (const e of input.previous) if (e.cumulative > 0n) cumulative.set(normalizeAddress(e.account), e.cumulative)
  for (const [account, amount] of earned) cumulative.set(account, (cumulative.get(account) ?? 0n) + amount)
  const cumulativeList = sortByAccount([...cumulative].map(([account, c]) => ({ account, cumulative: c })))
  const earnedList = sortByAccount([...earned].map(([account, amount]) => ({ account, amount })))
  return {
    earned: earnedList,
    cumulative: cumulativeList,
    total: cumulativeList.reduce((s, e) => s + e.cumulative, 0n),
    earnedTotal: earnedList.reduce((s, e) => s + e.amount, 0n),
    fees,
    toTreasury,
    credits,
    receiptIds: receipts.map(r => r.id)
  }
}
