// The simulator's settlement step: an epoch's receipts -> what each address earned, and
// the cumulative balances a Merkle root would commit to. It is computeEpochLedger, the
// function the live epoch builder seals every epoch with (settlement/epoch/builder.ts),
// fed the same receipt type, so the sim pays exactly what the network would; the
// same-payouts test feeds it the receipts a devnet aggregator journaled and compares.
import { computeEpochLedger, type EpochLedger } from '../settlement/epoch/ledger.ts'
import { normalizeReceipt, type Receipt } from '../settlement/epoch/receipts.ts'
import type { CumulativeEntry } from '../settlement/merkle/index.ts'
import type { FeeSplitPolicy } from '../settlement/policy/index.ts'

export interface SettleInput {
  /** The epoch's receipts. `normalize: true` checks and canonicalises them first, as the builder does on arrival. */
  receipts: readonly unknown[]
  /** Cumulative balances after the previous epoch; default none (the first epoch). */
  previous?: readonly CumulativeEntry[]
  feeSplit: FeeSplitPolicy
  treasury: string
  normalize?: boolean
}

/**
 * Settles one epoch. The engine's own receipts are built in canonical form (lowercase
 * addresses, bigint fees) and skip normalisation; receipts from outside (a journal, the
 * wire) should pass `normalize: true`.
 */
export function settleEpoch (input: SettleInput): EpochLedger {
  const receipts = input.normalize === true ? input.receipts.map(normalizeReceipt) : input.receipts as readonly Receipt[]
  return computeEpochLedger({ receipts, previous: input.previous ?? [], feeSplit: input.feeSplit, treasury: input.treasury })
}
