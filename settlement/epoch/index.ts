// The epoch builder and its parts, one import for the peer and the simulator.
export { EpochBuilder } from './builder.ts'
export type {
  EpochBuilderOptions, RootChain, RootSigner, EpochState, AcceptResult,
  LedgerFile, SealedEpoch, PostedEpoch, Claim, MultiClaim, ClaimAt
} from './epoch-records.ts'
export { computeEpochLedger, type EpochLedger, type EpochLedgerInput } from './ledger.ts'
export {
  normalizeReceipt, receiptToJson, isJobReceipt, JOB_KINDS, CREDIT_KINDS,
  type Receipt, type JobReceipt, type CreditReceipt, type ReceiptJson, type JobKind, type CreditKind
} from './receipts.ts'
export { packSignatures, type RootSignature } from './signatures.ts'
export { Journal } from './journal.ts'
export {
  auditEpoch, evidenceOf, releaseOf, BUNDLE_FORMAT,
  type EpochBundle, type ChainRelease, type AuditFacts, type AuditFinding, type AuditReport, type WeightsCheck
} from './audit.ts'
export {
  EpochError, InvalidReceiptError, JournalCorruptError, EpochStoreError, EpochStateError, EmptyEpochError,
  RootConflictError, QuorumNotReachedError, InvalidSignatureError
} from './errors.ts'
