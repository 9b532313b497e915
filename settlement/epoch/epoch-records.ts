// What the epoch builder (./builder.ts) takes and gives, and how it keeps epochs on disk:
// the chain and signer it is handed, its options, the sealed and posted epochs and
// claims it returns, and the file and journal formats under its directory with the
// conversions between them. Types and pure functions only; the builder owns the I/O.
import { createHash } from 'node:crypto'
import type { FeeSplitPolicy } from '../policy/index.ts'
import { keccak256, toHex, type CumulativeMultiProof, type CumulativeTree } from '../merkle/index.ts'
import type { EpochLedger } from './ledger.ts'
import { isJobReceipt, receiptKey, type Receipt, type ReceiptJson } from './receipts.ts'
import type { RootSignature } from './signatures.ts'

/** What the builder needs of RewardDistributor (the chain client implements it). */
export interface RootChain {
  /** The only epoch postRoot accepts now. */
  nextEpoch (): Promise<bigint>
  /** A zero root for an epoch not posted. finalAt: unix seconds from which claims against it are final. */
  rootOf (epoch: bigint): Promise<{ root: string, total: bigint, finalAt: bigint }>
  /**
   * Resolves once the transaction is mined; reverts WrongEpoch unless epoch = nextEpoch.
   * `toBlock`: the last block whose escrow releases the epoch pays. `signatures` = packSignatures().packed.
   */
  postRoot (epoch: bigint, root: string, total: bigint, toBlock: bigint, signatures: string): Promise<{ txHash: string }>
}

/**
 * One aggregator of the quorum: signs (epoch, root, total, toBlock) the way the contract
 * checks (EIP-712 in the chain client). A remote co-signer first audits the epoch
 * (EpochBuilder.bundle, ./audit.ts).
 */
export interface RootSigner {
  sign (epoch: bigint, root: string, total: bigint, toBlock: bigint): Promise<RootSignature>
}

export interface EpochBuilderOptions {
  dir: string
  /** Address credited with the treasury's part of fees (the registry's treasury()). */
  treasury: string
  /** Basis points to seal with (the registry's rewardSplit()); recorded per epoch when it closes. */
  feeSplit?: FeeSplitPolicy
  /** Number of the first epoch, the contract's first nextEpoch(). Default 1. Fixed when the store is created. */
  firstEpoch?: number
  chain?: RootChain
  signers?: readonly RootSigner[]
  /** Signatures needed to post (the registry's aggregatorQuorum()); default: every signer. */
  quorum?: number
  /**
   * Checks one signature off chain before it is packed (e.g. the chain client's
   * verifySigned for EpochRoot); one bad signature would make the whole postRoot revert,
   * so a signature that fails counts as a signer that did not answer.
   */
  verifySignature?: (epoch: bigint, root: string, total: bigint, toBlock: bigint, signature: RootSignature) => boolean
  /** Unix seconds, for finality. */
  now?: () => number
}

export type EpochState = 'open' | 'closed' | 'sealed' | 'posted' | 'final' | 'future' | 'unknown'

export interface AcceptResult {
  id: string
  /** The epoch the receipt is paid in (for a duplicate: where the first copy went). */
  epoch: number
  duplicate: boolean
  /** A duplicate id whose content differs from the first copy; the first copy stands. */
  conflict: boolean
}

export interface LedgerFile {
  format: typeof LEDGER_FORMAT
  epoch: number
  root: string
  /** Decimal wei: sum of all cumulative balances, what postRoot is given. */
  total: string
  accounts: number
  depth: number
  receipts: number
  /** keccak256 of the receipts' canonical JSON, one per line in id order: aggregators compare it. */
  receiptsDigest: string
  fees: string
  toTreasury: string
  credits: string
  earnedTotal: string
  feeSplit: FeeSplitPolicy
  treasury: string
  /** This epoch's earnings, [account, decimal wei], by account. */
  earned: Array<[string, string]>
  /** The last block whose escrow releases the epoch pays (the close record's); absent when sealed without a chain. */
  toBlock?: number
}

export interface SealedEpoch {
  epoch: number
  root: string
  total: bigint
  toBlock?: number
  accounts: number
  receipts: number
  receiptsDigest: string
}

export interface PostedEpoch {
  epoch: number
  root: string
  total: bigint
  /** Null when the root was found already on chain (posted before a crash, or by another aggregator). */
  txHash: string | null
  signers: string[]
  /** Unix seconds from which the contract accepts claims against this root; null if the chain could not be asked. */
  finalAt: bigint | null
}

export interface Claim {
  epoch: number
  root: string
  /** Claims revert (RootNotFinal) before this; null when unknown. */
  finalAt: bigint | null
  account: string
  cumulative: bigint
  proof: string[]
}

export interface MultiClaim extends CumulativeMultiProof {
  epoch: number
  root: string
  finalAt: bigint | null
}

/** Which epoch a claim is proven against: a posted epoch's number, the latest posted, or the latest final. */
export type ClaimAt = number | 'posted' | 'final'

export const META_FORMAT = 'openledger-epochs-v1'
export const LEDGER_FORMAT = 'openledger-epoch-ledger-v1'

export interface Meta { format: typeof META_FORMAT, firstEpoch: number }
/** toBlock: the chain block up to which the epoch's receipts were read (absent without a chain). */
export type CloseRecord = { t: 'close', epoch: number, feeSplit: FeeSplitPolicy, treasury: string, toBlock?: number }
export type JournalRecord = { t: 'receipt', epoch: number, receipt: ReceiptJson } | CloseRecord
export interface PostedFile { epoch: number, root: string, total: string, txHash: string | null, signers: string[], finalAt: string | null }
export interface FinalFile { epoch: number, finalAt: string }

export function sealedOf (l: LedgerFile): SealedEpoch {
  return { epoch: l.epoch, root: l.root, total: BigInt(l.total), ...(l.toBlock !== undefined ? { toBlock: l.toBlock } : {}), accounts: l.accounts, receipts: l.receipts, receiptsDigest: l.receiptsDigest }
}

export function postedOf (p: PostedFile): PostedEpoch {
  return { epoch: p.epoch, root: p.root, total: BigInt(p.total), txHash: p.txHash, signers: p.signers, finalAt: p.finalAt == null ? null : BigInt(p.finalAt) }
}

export function receiptsDigest (receipts: readonly Receipt[], ledger: EpochLedger): string {
  const byId = new Map(receipts.map(r => [r.id, r]))
  const text = ledger.receiptIds.map(id => receiptKey(byId.get(id) as Receipt)).join('\n')
  return toHex(keccak256(new TextEncoder().encode(text)))
}

/** 96 bits of sha256 of a receipt's canonical JSON: enough to tell a conflicting duplicate, small enough to keep for every receipt ever seen. */
export function digestOf (key: string): string {
  return createHash('sha256').update(key).digest('base64').slice(0, 16)
}

export function pays (r: Receipt): boolean {
  return isJobReceipt(r) ? r.fee > 0n : r.amount > 0n
}

/** The sealed epoch's ledger.json, from its tree, receipts, ledger and close record. */
export function ledgerFileOf (n: number, tree: CumulativeTree, receipts: readonly Receipt[], ledger: EpochLedger, close: CloseRecord): LedgerFile {
  return {
    format: LEDGER_FORMAT,
    epoch: n,
    root: tree.root,
    total: tree.total.toString(),
    accounts: tree.size,
    depth: tree.depth,
    receipts: receipts.length,
    receiptsDigest: receiptsDigest(receipts, ledger),
    fees: ledger.fees.toString(),
    toTreasury: ledger.toTreasury.toString(),
    credits: ledger.credits.toString(),
    earnedTotal: ledger.earnedTotal.toString(),
    feeSplit: close.feeSplit,
    treasury: close.treasury,
    earned: ledger.earned.map(e => [e.account, e.amount.toString()]),
    ...(close.toBlock !== undefined ? { toBlock: close.toBlock } : {})
  }
}
