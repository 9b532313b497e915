// The verification skeleton inference batches and attributions share: a verifier reads
// the worker's receipt, fetches the result file the worker names by CID, decodes it,
// loads the job's own inputs, checks that result, receipt and job hold together, then
// recomputes a sample its beacon picks. Whose fault a failure is decides what it
// becomes: the worker's data (a receipt or file that does not decode, a CID that names
// no file of the allowed size, a result that does not match) is a refusal, a verdict
// with the typed error as evidence; the job's own inputs failing to load is the
// requester's and throws, as does a block that cannot be found yet.
import { BadJobFileError, InvalidRequestError } from '../../../compute/errors.ts'
import { BadReceiptError, OutputRefusedError } from '../../../compute/verify/errors.ts'
import { segmentsForFraction } from '../../../compute/verify/sample.ts'
import { FileTooLargeError, MalformedDagError, NotAFileError, UnsupportedCidError } from '../../../storage/unixfs/index.ts'

/** A verdict lists at most this many checked items (job-verdict/1). */
export const MAX_CHECKED = 1000

/** How a refusal is written into the evidence: the error's name, message and details. */
export interface Refusal { name: string, message: string, details: Record<string, unknown> }

/** What the worker's own data can be refused for (a result CID's errors apply to fetching only). */
function isRefusal (err: unknown): err is Error & { details?: Record<string, unknown> } {
  return err instanceof BadReceiptError || err instanceof OutputRefusedError || err instanceof BadJobFileError
}

/** The worker named a CID that is no file of the allowed size. */
function isBadResultCid (err: unknown): err is Error & { details?: Record<string, unknown> } {
  return err instanceof FileTooLargeError || err instanceof NotAFileError || err instanceof MalformedDagError || err instanceof UnsupportedCidError
}

export function refusalOf (err: Error & { details?: Record<string, unknown> }): Refusal {
  return { name: err.name, message: err.message, details: err.details ?? {} }
}

/** How many of `n` items a verifier recomputes: `k`, or the audit `fraction` of them (at least `min`), else `fallback`; at most MAX_CHECKED. */
export function sampleCount (n: number, claim: { k?: number, fraction?: number }, opts: { min: number, fallback: number }): number {
  if (claim.k !== undefined && claim.fraction !== undefined) throw new InvalidRequestError('give k or an audit fraction, not both')
  if (claim.k !== undefined && (!Number.isInteger(claim.k) || claim.k < 1)) throw new InvalidRequestError('k must be a positive integer', { k: claim.k })
  const k = claim.k ?? (claim.fraction !== undefined ? Math.max(opts.min, segmentsForFraction(n, claim.fraction)) : opts.fallback)
  return Math.min(n, k, MAX_CHECKED)
}

/** What a verifier checks a result against: the worker's result and receipt, and its own sample seed. */
export interface ResultClaim {
  /** CID of the worker's result file. */
  result: string
  receiptBytes: Uint8Array
  /** The verifier's address and beacon: the sample's seed. */
  verifier: string
  beacon?: string
  /** Items to recompute; or this audit share of them (see sampleCount). */
  k?: number
  fraction?: number
}

export interface ResultCheck<Receipt, File, Job, Verdict> {
  decodeReceipt: (bytes: Uint8Array) => Receipt
  /** The result file's bytes (by the CID the worker named). */
  fetchResult: () => Promise<Uint8Array>
  decodeResult: (bytes: Uint8Array) => File
  /** The job's own inputs; a failure is the requester's and throws. */
  load: () => Promise<Job>
  /** Throws a refusal when result, receipt and job do not hold together. */
  match: (receipt: Receipt, file: File, job: Job) => void
  /** Recomputes the sample and judges it. */
  recompute: (receipt: Receipt, file: File, job: Job) => Promise<Verdict>
  /** The verdict of a refusal, with the receipt when it decoded. */
  refuse: (refusal: Refusal, receipt: Receipt | null) => Verdict
}

/** Runs the steps in order; the worker's bad data becomes `refuse(...)`, anything else throws. */
export async function checkResult<Receipt, File, Job, Verdict> (c: ResultCheck<Receipt, File, Job, Verdict>, receiptBytes: Uint8Array): Promise<Verdict> {
  let receipt: Receipt | null = null
  try {
    receipt = c.decodeReceipt(receiptBytes)
  } catch (err) {
    if (err instanceof BadReceiptError) return c.refuse(refusalOf(err), null)
    throw err
  }
  let bytes: Uint8Array
  try {
    bytes = await c.fetchResult()
  } catch (err) {
    if (isBadResultCid(err)) return c.refuse(refusalOf(err), receipt)
    throw err
  }
  let file: File
  try {
    file = c.decodeResult(bytes)
  } catch (err) {
    if (isRefusal(err)) return c.refuse(refusalOf(err), receipt)
    throw err
  }
  const job = await c.load()
  try {
    c.match(receipt, file, job)
    return await c.recompute(receipt, file, job)
  } catch (err) {
    if (isRefusal(err)) return c.refuse(refusalOf(err), receipt)
    throw err
  }
}
