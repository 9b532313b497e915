// The files of an inference batch job, all JSON and fetched by CID: the requester's
// prompts, the worker's outputs (tokens) and the worker's receipt over them. Each is
// size-limited before parsing and schema-checked after, so a peer never holds more of
// a stranger's file than the limits allow. Outputs and receipts are encoded
// canonically (keys sorted, no whitespace) and decoding refuses any other encoding of
// the same content, so one content has one CID and a verifier can recompute it.

import { z } from 'zod'
import { checkJsonFile, parseJsonFile, sameBytes, utf8, type FileErrorClass } from './json-file.ts'
import { BadJobFileError } from '../errors.ts'
import { MAX_VOCAB } from '../tokenizer/serialize.ts'
import { canonicalJson } from '../train/fingerprint.ts'
import { BadReceiptError } from '../verify/errors.ts'
import { MAX_PAD, type InferenceReceipt } from '../verify/inference-receipt.ts'

export const PROMPTS_FORMAT = 'openledger/prompts/1'
export const OUTPUTS_FORMAT = 'openledger/outputs/1'
export const RECEIPT_FORMAT = 'openledger/inference-receipt/1'
export const MAX_PROMPTS = 1024
/** Per prompt, in UTF-16 code units (JavaScript string length). */
export const MAX_PROMPT_CHARS = 4096
export const MAX_PROMPTS_BYTES = 1024 * 1024
/** Per output: more than any model here generates in one request. */
export const MAX_OUTPUT_TOKENS = 1024
/** MAX_PROMPTS outputs of MAX_OUTPUT_TOKENS tokens of up to 5 digits and a comma fit. */
export const MAX_OUTPUTS_BYTES = 8 * 1024 * 1024
export const MAX_RECEIPT_BYTES = 512 * 1024
const MAX_JOB_CHARS = 200

const PromptsSchema = z.strictObject({
  format: z.literal(PROMPTS_FORMAT),
  prompts: z.array(z.string().min(1).max(MAX_PROMPT_CHARS)).min(1).max(MAX_PROMPTS)
})

const OutputsSchema = z.strictObject({
  format: z.literal(OUTPUTS_FORMAT),
  job: z.string().min(1).max(MAX_JOB_CHARS),
  outputs: z.array(z.array(z.number().int().min(0).max(MAX_VOCAB - 1)).max(MAX_OUTPUT_TOKENS)).min(1).max(MAX_PROMPTS)
})

const hex64 = z.string().regex(/^[0-9a-f]{64}$/)
const ReceiptSchema = z.strictObject({
  format: z.literal(RECEIPT_FORMAT),
  job: z.string().min(1).max(MAX_JOB_CHARS),
  outputs: z.array(z.strictObject({ prompt: hex64, output: hex64, pad: z.number().int().min(0).max(MAX_PAD) })).min(1).max(MAX_PROMPTS),
  head: hex64
})

export function encodePromptsFile (prompts: readonly string[]): Uint8Array {
  const value = { format: PROMPTS_FORMAT, prompts: [...prompts] }
  check(PromptsSchema, value, 'prompts', BadJobFileError)
  const bytes = utf8(canonicalJson(value))
  if (bytes.byteLength > MAX_PROMPTS_BYTES) throw new BadJobFileError('prompts file too large', { file: 'prompts', bytes: bytes.byteLength, max: MAX_PROMPTS_BYTES })
  return bytes
}

/** The prompts, in request order; throws BadJobFileError. */
export function decodePromptsFile (bytes: Uint8Array): string[] {
  return check(PromptsSchema, parse(bytes, MAX_PROMPTS_BYTES, 'prompts', BadJobFileError), 'prompts', BadJobFileError).prompts
}

export interface OutputsFile {
  job: string
  /** Each request's generated tokens, in request order. */
  outputs: Int32Array[]
}

export function encodeOutputsFile (file: OutputsFile): Uint8Array {
  const value = { format: OUTPUTS_FORMAT, job: file.job, outputs: file.outputs.map(o => Array.from(o)) }
  check(OutputsSchema, value, 'outputs', BadJobFileError)
  const bytes = utf8(canonicalJson(value))
  if (bytes.byteLength > MAX_OUTPUTS_BYTES) throw new BadJobFileError('outputs file too large', { file: 'outputs', bytes: bytes.byteLength, max: MAX_OUTPUTS_BYTES })
  return bytes
}

/** Throws BadJobFileError, also for a valid file not in canonical encoding. */
export function decodeOutputsFile (bytes: Uint8Array): OutputsFile {
  const v = check(OutputsSchema, parse(bytes, MAX_OUTPUTS_BYTES, 'outputs', BadJobFileError), 'outputs', BadJobFileError)
  const file = { job: v.job, outputs: v.outputs.map(o => Int32Array.from(o)) }
  if (!sameBytes(encodeOutputsFile(file), bytes)) throw new BadJobFileError('outputs file is not in canonical encoding', { file: 'outputs' })
  return file
}

export function encodeReceiptFile (receipt: InferenceReceipt): Uint8Array {
  const value = { format: RECEIPT_FORMAT, job: receipt.job, outputs: receipt.outputs.map(e => ({ prompt: e.prompt, output: e.output, pad: e.pad })), head: receipt.head }
  check(ReceiptSchema, value, 'receipt', BadReceiptError)
  return utf8(canonicalJson(value))
}

/** The receipt as sent; throws BadReceiptError. Whether it holds together is checkInferenceReceipt's job. */
export function decodeReceiptFile (bytes: Uint8Array): InferenceReceipt {
  const v = check(ReceiptSchema, parse(bytes, MAX_RECEIPT_BYTES, 'receipt', BadReceiptError), 'receipt', BadReceiptError)
  const receipt: InferenceReceipt = { job: v.job, outputs: v.outputs, head: v.head }
  if (!sameBytes(encodeReceiptFile(receipt), bytes)) throw new BadReceiptError('receipt file is not in canonical encoding', { file: 'receipt' })
  return receipt
}

function parse (bytes: Uint8Array, max: number, file: string, Err: FileErrorClass): unknown {
  return parseJsonFile(bytes, max, file, Err)
}

function check<S extends z.ZodType> (schema: S, value: unknown, file: string, Err: FileErrorClass): z.infer<S> {
  return checkJsonFile(schema, value, file, file === 'prompts' ? PROMPTS_FORMAT : file === 'outputs' ? OUTPUTS_FORMAT : RECEIPT_FORMAT, Err)
}
