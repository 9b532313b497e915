// What the epoch builder is paid from: verified receipts. A job receipt is a job that
// was paid from escrow and verified; its fee is split by the fee-split policy. A credit
// pays one account directly (an attribution reward from a reward pool, a refunded
// proposal fee). Receipts arrive from the network as JSON, so amounts travel as decimal
// strings; everything is validated and addresses lowercased once, at the door, so a bad
// receipt is refused when it arrives and can never make a later seal fail.
import { DEFAULT_FEE_SPLIT, splitFee, PolicyError } from '../policy/index.ts'
import { normalizeAddress } from '../merkle/hex.ts'
import { MerkleError } from '../merkle/errors.ts'
import { InvalidReceiptError } from './errors.ts'

export const JOB_KINDS = ['train', 'infer', 'attribute', 'hosting'] as const
export const CREDIT_KINDS = ['attribution-reward', 'proposal-refund'] as const
export type JobKind = typeof JOB_KINDS[number]
export type CreditKind = typeof CREDIT_KINDS[number]

const MAX_UINT256 = (1n << 256n) - 1n
const MAX_ID = 256

interface ReceiptBase {
  /** Unique over all time: the same id again is the same receipt, ignored. */
  id: string
  /** Earliest epoch this may be paid in; absent = the epoch open when it arrives. */
  epoch?: number
}

export interface JobReceipt extends ReceiptBase {
  kind: JobKind
  jobId: string
  /** Paid from escrow, in wei. */
  fee: bigint
  worker: string
  /** The verifiers that signed the result. */
  verifiers: string[]
  /** Attribution weights of the datanet's contributors; absent = the contributors' part goes to the treasury. */
  contributorWeights?: Array<{ contributor: string, weight: number }>
}

export interface CreditReceipt extends ReceiptBase {
  kind: CreditKind
  account: string
  amount: bigint
}

export type Receipt = JobReceipt | CreditReceipt

/** The wire and journal form: bigints as decimal strings. */
export type ReceiptJson =
  | (Omit<JobReceipt, 'fee'> & { fee: string })
  | (Omit<CreditReceipt, 'amount'> & { amount: string })

export function isJobReceipt (r: Receipt): r is JobReceipt {
  return (JOB_KINDS as readonly string[]).includes(r.kind)
}

function fail (message: string, details: Record<string, unknown>): never {
  throw new InvalidReceiptError(message, details)
}

function amount (value: unknown, id: unknown, field: string): bigint {
  let v = value
  if (typeof v === 'string' && /^(0|[1-9][0-9]{0,77})$/.test(v)) v = BigInt(v)
  if (typeof v !== 'bigint' || v < 0n || v > MAX_UINT256) fail(`${field} must be an integer amount of wei in [0, 2^256)`, { id, field, value: String(value) })
  return v
}

function address (value: unknown, id: unknown, field: string): string {
  try {
    return normalizeAddress(value)
  } catch (err) {
    if (err instanceof MerkleError) fail(`${field} must be a 0x 20-byte address`, { id, field, value })
    throw err
  }
}

function text (value: unknown, id: unknown, field: string): string {
  if (typeof value !== 'string' || value === '' || value.length > MAX_ID) fail(`${field} must be a string of 1 to ${MAX_ID} characters`, { id, field, value })
  return value
}

/**
 * Validates a receipt (bigint amounts, or decimal strings as in JSON) and returns its
 * canonical form: addresses lowercased, fields in a fixed order, nothing else kept.
 * Throws InvalidReceiptError, with `details.id` and `details.field`.
 */
export function normalizeReceipt (input: unknown): Receipt {
  if (input == null || typeof input !== 'object') fail('receipt must be an object', {})
  const r = input as Record<string, unknown>
  const id = text(r.id, r.id, 'id')
  let epoch: number | undefined
  if (r.epoch !== undefined) {
    if (typeof r.epoch !== 'number' || !Number.isSafeInteger(r.epoch) || r.epoch < 0) fail('epoch must be an integer >= 0', { id, field: 'epoch', value: r.epoch })
    epoch = r.epoch
  }
  const kind = r.kind
  const withEpoch = <T extends object>(x: T): T & { epoch?: number } => epoch === undefined ? x : { ...x, epoch }
  if ((CREDIT_KINDS as readonly unknown[]).includes(kind)) {
    return withEpoch({ id, kind: kind as CreditKind, account: address(r.account, id, 'account'), amount: amount(r.amount, id, 'amount') })
  }
  if (!(JOB_KINDS as readonly unknown[]).includes(kind)) fail('unknown receipt kind', { id, field: 'kind', value: kind })
  const jobId = text(r.jobId, id, 'jobId')
  const fee = amount(r.fee, id, 'fee')
  const worker = address(r.worker, id, 'worker')
  if (!Array.isArray(r.verifiers)) fail('verifiers must be an array', { id, field: 'verifiers' })
  const verifiers = (r.verifiers as unknown[]).map((v, i) => address(v, id, `verifiers[${i}]`))
  let contributorWeights: Array<{ contributor: string, weight: number }> | undefined
  if (r.contributorWeights !== undefined) {
    if (!Array.isArray(r.contributorWeights)) fail('contributorWeights must be an array', { id, field: 'contributorWeights' })
    contributorWeights = (r.contributorWeights as unknown[]).map((w, i) => {
      const x = (w ?? {}) as Record<string, unknown>
      return { contributor: address(x.contributor, id, `contributorWeights[${i}].contributor`), weight: x.weight as number }
    })
  }
  const receipt: JobReceipt = withEpoch({ id, kind: kind as JobKind, jobId, fee, worker, verifiers })
  if (contributorWeights !== undefined) receipt.contributorWeights = contributorWeights
  // The fee split's own checks (weights finite and >= 0, nobody listed twice) hold for
  // any basis points, so checking with the defaults here means the seal cannot refuse it.
  try {
    splitFee(receipt, DEFAULT_FEE_SPLIT)
  } catch (err) {
    if (err instanceof PolicyError) fail(err.message, { id, ...err.details })
    throw err
  }
  return receipt
}

export function receiptToJson (r: Receipt): ReceiptJson {
  if (isJobReceipt(r)) return { ...r, fee: r.fee.toString() }
  return { ...r, amount: r.amount.toString() }
}

/** One string per receipt content: two receipts with the same id and key are the same receipt. */
export function receiptKey (r: Receipt): string {
  return JSON.stringify(receiptToJson(r))
}
