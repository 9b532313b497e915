// The files of an attribution job, JSON and fetched by CID: the worker's result (every
// training example's scores, the checkpoints they were taken at, and the payout summary
// that follows from them) and its receipt (the Merkle root over the scores, what the
// verifier's sample is drawn against). Both are size-limited before parsing,
// schema-checked after and encoded canonically (keys sorted, no whitespace); decoding
// refuses any other encoding of the same content, so one result has one CID.

import { z } from 'zod'
import { checkJsonFile, parseJsonFile, sameBytes, utf8, type FileErrorClass } from './json-file.ts'
import { BadJobFileError } from '../errors.ts'
import { canonicalJson } from '../train/fingerprint.ts'
import { BadReceiptError } from '../verify/errors.ts'
import type { AttributionReceipt, ScoredExample } from '../verify/attribution.ts'

export const ATTRIBUTION_FORMAT = 'openledger/attribution/2'
export const ATTRIBUTION_RECEIPT_FORMAT = 'openledger/attribution-receipt/1'
/** Training examples one result scores (mails, or LM windows). */
export const MAX_ATTRIBUTION_EXAMPLES = 500_000
/** About 70 bytes per example and 130 per file: room for the most examples. */
export const MAX_ATTRIBUTION_BYTES = 96 * 1024 * 1024
export const MAX_ATTRIBUTION_RECEIPT_BYTES = 64 * 1024
const MAX_CHECKPOINTS = 1_000
const MAX_CONTRIBUTIONS = 100_000

const text = (max: number) => z.string().min(1).max(max)
const hex64 = z.string().regex(/^[0-9a-f]{64}$/)
const checkpoints = z.array(z.strictObject({ step: z.number().int().min(0), hash: hex64 })).min(1).max(MAX_CHECKPOINTS)

/** What the scores pay, by the shared policy: a verifier recomputes it from the scores and refuses any other. */
export const SummarySchema = z.strictObject({
  contributions: z.array(z.strictObject({
    contribution: text(128),
    contributor: text(64),
    examples: z.number().int().min(0),
    files: z.number().int().min(0),
    tracin: z.number(),
    datainf: z.number(),
    meanLoss: z.number(),
    /** Every file of it failed the fit gate. */
    unfit: z.boolean(),
    unfitFiles: z.number().int().min(0),
    paidInfluence: z.number(),
    weight: z.number().min(0).max(1),
    /** How many of its files the policy flagged, by reason. */
    flagged: z.record(z.string().max(64), z.number().int().min(0))
  })).max(MAX_CONTRIBUTIONS),
  contributors: z.array(z.strictObject({ address: text(64), influence: z.number(), weight: z.number().min(0).max(1) })).max(MAX_CONTRIBUTIONS),
  /** The pool's own flags (capped addresses, nothing paid); file flags are counted per contribution. */
  flags: z.array(z.record(z.string(), z.unknown())).max(4 * MAX_CONTRIBUTIONS),
  /** Contributions every file of which failed the fit gate. */
  unfit: z.array(text(128)).max(MAX_CONTRIBUTIONS),
  unfitFiles: z.number().int().min(0),
  nearDuplicateExamples: z.number().int().min(0)
})
export type AttributionSummary = z.infer<typeof SummarySchema>

const ResultSchema = z.strictObject({
  format: z.literal(ATTRIBUTION_FORMAT),
  job: text(200),
  adapter: text(128),
  datanet: text(128),
  version: text(128),
  base: text(128),
  /** The training-cycle entry of the adapter in the datanet, when the worker's manifest has it. */
  cycle: text(128).nullable(),
  method: text(64),
  checkpoints,
  validationLoss: z.number(),
  /** [file CID, contribution CID], each distinct pair once, in first-use order. */
  files: z.array(z.tuple([text(128), text(128)])).min(1).max(MAX_ATTRIBUTION_EXAMPLES),
  /** [index into files, tracin, datainf, loss] per training example, in the job's example order. */
  examples: z.array(z.tuple([z.number().int().min(0), z.number(), z.number(), z.number()])).min(1).max(MAX_ATTRIBUTION_EXAMPLES),
  summary: SummarySchema
})

const ReceiptSchema = z.strictObject({
  format: z.literal(ATTRIBUTION_RECEIPT_FORMAT),
  job: text(200),
  adapter: text(128),
  checkpoints,
  examples: z.number().int().min(1).max(MAX_ATTRIBUTION_EXAMPLES),
  validationLoss: z.number(),
  root: hex64
})

export interface AttributionFile {
  job: string
  adapter: string
  datanet: string
  version: string
  base: string
  cycle: string | null
  method: string
  checkpoints: Array<{ step: number, hash: string }>
  validationLoss: number
  examples: ScoredExample[]
  summary: AttributionSummary
}

export function encodeAttributionFile (f: AttributionFile): Uint8Array {
  const files: Array<[string, string]> = []
  const index = new Map<string, number>()
  const examples = f.examples.map((e): [number, number, number, number] => {
    const key = `${e.file}\u0000${e.contribution}`
    let i = index.get(key)
    if (i === undefined) { index.set(key, i = files.length); files.push([e.file, e.contribution]) }
    return [i, e.tracin, e.datainf, e.loss]
  })
  const value = { format: ATTRIBUTION_FORMAT, job: f.job, adapter: f.adapter, datanet: f.datanet, version: f.version, base: f.base, cycle: f.cycle, method: f.method, checkpoints: f.checkpoints.map(c => ({ step: c.step, hash: c.hash })), validationLoss: f.validationLoss, files, examples, summary: f.summary }
  // Non-finite numbers would become null in JSON: refused here rather than written.
  if (![f.validationLoss, ...f.examples.flatMap(e => [e.tracin, e.datainf, e.loss])].every(Number.isFinite)) throw new BadJobFileError('attribution scores must be finite', { file: 'attribution' })
  check(ResultSchema, value, 'attribution', BadJobFileError)
  const bytes = utf8(canonicalJson(value))
  if (bytes.byteLength > MAX_ATTRIBUTION_BYTES) throw new BadJobFileError('attribution file too large', { file: 'attribution', bytes: bytes.byteLength, max: MAX_ATTRIBUTION_BYTES })
  return bytes
}

/** Throws BadJobFileError, also for a valid file not in canonical encoding or with an example naming no file. */
export function decodeAttributionFile (bytes: Uint8Array): AttributionFile {
  const v = check(ResultSchema, parse(bytes, MAX_ATTRIBUTION_BYTES, 'attribution', BadJobFileError), 'attribution', BadJobFileError)
  const examples = v.examples.map(([i, tracin, datainf, loss], k) => {
    const f = v.files[i]
    if (f === undefined) throw new BadJobFileError('an example names no file of the result', { file: 'attribution', example: k, index: i })
    return { file: f[0], contribution: f[1], tracin, datainf, loss }
  })
  const file: AttributionFile = { job: v.job, adapter: v.adapter, datanet: v.datanet, version: v.version, base: v.base, cycle: v.cycle, method: v.method, checkpoints: v.checkpoints, validationLoss: v.validationLoss, examples, summary: v.summary }
  if (!sameBytes(encodeAttributionFile(file), bytes)) throw new BadJobFileError('attribution file is not in canonical encoding', { file: 'attribution' })
  return file
}

export function encodeAttributionReceipt (r: AttributionReceipt): Uint8Array {
  const value = { format: ATTRIBUTION_RECEIPT_FORMAT, job: r.job, adapter: r.adapter, checkpoints: r.checkpoints.map(c => ({ step: c.step, hash: c.hash })), examples: r.examples, validationLoss: r.validationLoss, root: r.root }
  check(ReceiptSchema, value, 'receipt', BadReceiptError)
  return utf8(canonicalJson(value))
}

/** The receipt as sent; throws BadReceiptError. Whether it matches the result is checkAttributionReceipt's job. */
export function decodeAttributionReceipt (bytes: Uint8Array): AttributionReceipt {
  const v = check(ReceiptSchema, parse(bytes, MAX_ATTRIBUTION_RECEIPT_BYTES, 'receipt', BadReceiptError), 'receipt', BadReceiptError)
  const r: AttributionReceipt = { job: v.job, adapter: v.adapter, checkpoints: v.checkpoints, examples: v.examples, validationLoss: v.validationLoss, root: v.root }
  if (!sameBytes(encodeAttributionReceipt(r), bytes)) throw new BadReceiptError('receipt file is not in canonical encoding', { file: 'receipt' })
  return r
}

function parse (bytes: Uint8Array, max: number, file: string, Err: FileErrorClass): unknown {
  return parseJsonFile(bytes, max, file, Err)
}

function check<S extends z.ZodType> (schema: S, value: unknown, file: string, Err: FileErrorClass): z.infer<S> {
  return checkJsonFile(schema, value, file, file === 'receipt' ? ATTRIBUTION_RECEIPT_FORMAT : ATTRIBUTION_FORMAT, Err)
}
