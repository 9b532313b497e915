// What an inference worker commits to before a verifier samples its batch job: a hash
// chain over (prompt, output) pairs in request order, so the head fixes every output
// and its position, and any entry can be checked against the tokens handed over. Each
// entry also commits to the left padding the request ran with, because that padding
// (and nothing else about the batch) changes the logits' low bits (inference.ts), and a
// verifier must reproduce it to compare tokens exactly.
//
//   genesis  = sha256(tag || 0x00 || job)
//   entry i  = sha256(tag || prev || u32be(i) || u32be(pad_i) || promptHash_i || outputHash_i)
//   head     = entry n-1
//
// Token hashes are sha256 of the tokens as little-endian int32, so they do not depend
// on the machine's byte order.

import { createHash } from 'node:crypto'
import { canonicalJson } from '../train/fingerprint.ts'
import { BadReceiptError, OutputRefusedError } from './errors.ts'
import { sampleSeed, sampleSegments } from './sample.ts'

const TAG = 'openledger/inference-receipt/1'
/** Longer left padding than this is no batch a model of ours runs (contexts are far shorter). */
export const MAX_PAD = 1 << 16

export interface InferenceEntry {
  /** sha256 hex of the prompt tokens. */
  prompt: string
  /** sha256 hex of the output tokens. */
  output: string
  /** Pad tokens left of the prompt in the batch it ran in (that batch's longest prompt minus this one). */
  pad: number
}

export interface InferenceReceipt {
  job: string
  outputs: readonly InferenceEntry[]
  /** The chain's last entry hash. */
  head: string
}

/** sha256 hex of int32 tokens, little-endian. */
export function tokensHash (tokens: Int32Array): string {
  const bytes = Buffer.alloc(tokens.length * 4)
  for (let i = 0; i < tokens.length; i++) bytes.writeInt32LE(tokens[i], i * 4)
  return createHash('sha256').update(bytes).digest('hex')
}

/** Every entry hash of the chain over these entries, in order (the last one is the head). */
export function inferenceChain (job: string, entries: readonly InferenceEntry[]): string[] {
  let prev = createHash('sha256').update(TAG).update('\u0000').update(job).digest()
  const out: string[] = []
  entries.forEach((e, i) => {
    const nums = Buffer.alloc(8)
    nums.writeUInt32BE(i, 0)
    nums.writeUInt32BE(e.pad, 4)
    prev = createHash('sha256').update(TAG).update(prev).update(nums).update(Buffer.from(e.prompt, 'hex')).update(Buffer.from(e.output, 'hex')).digest()
    out.push(prev.toString('hex'))
  })
  return out
}

/**
 * The worker's receipt for a batch job. `pads` gives each request's left padding as it
 * ran (`batchPads`); omitted, every request ran unpadded (alone, or as a batch's longest).
 */
export function inferenceReceipt (job: string, prompts: readonly Int32Array[], outputs: readonly Int32Array[], opts: { pads?: readonly number[] } = {}): InferenceReceipt {
  if (prompts.length === 0) throw new BadReceiptError('an inference job has at least one request')
  if (outputs.length !== prompts.length) throw new BadReceiptError('one output per prompt', { prompts: prompts.length, outputs: outputs.length })
  const pads = opts.pads ?? prompts.map(() => 0)
  if (pads.length !== prompts.length) throw new BadReceiptError('one pad per prompt', { prompts: prompts.length, pads: pads.length })
  const entries = prompts.map((p, i) => ({ prompt: tokensHash(p), output: tokensHash(outputs[i]), pad: pads[i] }))
  entries.forEach((e, i) => checkPad(e.pad, i))
  const chain = inferenceChain(job, entries)
  return { job, outputs: entries, head: chain[chain.length - 1] }
}

/** Each request's left padding when `batches` (lists of request indices) ran as batches. */
export function batchPads (prompts: readonly Int32Array[], batches: ReadonlyArray<readonly number[]>): number[] {
  const pads = prompts.map(() => -1)
  for (const b of batches) {
    const width = Math.max(...b.map(i => prompts[i]?.length ?? 0))
    for (const i of b) {
      if (prompts[i] === undefined || pads[i] !== -1) throw new RangeError(`request ${i} is not in exactly one batch`)
      pads[i] = width - prompts[i].length
    }
  }
  if (pads.includes(-1)) throw new RangeError(`request ${pads.indexOf(-1)} is in no batch`)
  return pads
}

/** sha256 of the receipt's canonical JSON: what the worker signs and the sample seed takes. */
export function inferenceReceiptHash (receipt: InferenceReceipt): string {
  return createHash('sha256').update(canonicalJson({ job: receipt.job, outputs: receipt.outputs.map(e => ({ prompt: e.prompt, output: e.output, pad: e.pad })), head: receipt.head })).digest('hex')
}

export interface InferenceJobView {
  job: string
  prompts: readonly Int32Array[]
  /** The outputs handed over; omitted, only the receipt itself is checked. */
  outputs?: readonly Int32Array[]
  /** With outputs: each must be what a generation of at most this many tokens can end as. */
  maxNewTokens?: number
  stopToken?: number
}

/**
 * Refuses, before any compute: a receipt for another job, of the wrong length, with
 * malformed hashes or pads, entries for other prompts (reordered), a head that is not
 * the chain's (BadReceiptError); outputs that do not hash to their entries, or that no
 * generation could give: empty, too long, stopped short without the stop token, or
 * running past it (OutputRefusedError).
 */
export function checkInferenceReceipt (receipt: InferenceReceipt, view: InferenceJobView): void {
  if (receipt.job !== view.job) throw new BadReceiptError('receipt is for another job', { job: receipt.job, expected: view.job })
  if (!Array.isArray(receipt.outputs) || receipt.outputs.length !== view.prompts.length) throw new BadReceiptError('receipt has the wrong number of outputs', { length: receipt.outputs?.length, expected: view.prompts.length })
  if (receipt.outputs.length === 0) throw new BadReceiptError('an inference job has at least one request')
  receipt.outputs.forEach((e, i) => {
    if (!isHash(e.prompt) || !isHash(e.output)) throw new BadReceiptError('receipt hash is not 64 hex digits', { index: i })
    checkPad(e.pad, i)
    if (e.prompt !== tokensHash(view.prompts[i])) throw new BadReceiptError('receipt entry is for another prompt', { index: i })
  })
  const chain = inferenceChain(receipt.job, receipt.outputs)
  if (!isHash(receipt.head) || receipt.head !== chain[chain.length - 1]) throw new BadReceiptError('receipt head is not the chain of its entries', { head: receipt.head, expected: chain[chain.length - 1] })
  if (view.outputs === undefined) return
  if (view.outputs.length !== receipt.outputs.length) throw new OutputRefusedError('wrong number of outputs handed over', { length: view.outputs.length, expected: receipt.outputs.length })
  view.outputs.forEach((o, i) => {
    if (tokensHash(o) !== receipt.outputs[i].output) throw new OutputRefusedError('output does not hash to its receipt entry', { index: i })
    if (view.maxNewTokens !== undefined) checkShape(o, i, view.maxNewTokens, view.stopToken)
  })
}

/**
 * `k` distinct request indices, ascending, from a seed only fixed once the receipt is
 * (sample.ts: job, receipt hash, verifier address, beacon).
 */
export function sampleRequests (receipt: InferenceReceipt, opts: { verifier: string, k: number, beacon?: string }): number[] {
  const seed = sampleSeed({ job: receipt.job, receipt: inferenceReceiptHash(receipt), verifier: opts.verifier, beacon: opts.beacon })
  return sampleSegments(seed, receipt.outputs.length, opts.k)
}

/** Greedy generation stops at the stop token or the limit, whichever comes first. */
function checkShape (o: Int32Array, i: number, maxNewTokens: number, stopToken: number | undefined): void {
  if (o.length === 0 || o.length > maxNewTokens) throw new OutputRefusedError('output length is not 1..maxNewTokens', { index: i, length: o.length, maxNewTokens })
  const stop = stopToken === undefined ? -1 : o.indexOf(stopToken)
  if (stop !== -1 && stop !== o.length - 1) throw new OutputRefusedError('output runs past the stop token', { index: i, at: stop })
  if (o.length < maxNewTokens && stop === -1) throw new OutputRefusedError('output stops short without the stop token', { index: i, length: o.length, maxNewTokens })
}

function isHash (s: unknown): s is string {
  return typeof s === 'string' && /^[0-9a-f]{64}$/.test(s)
}

function checkPad (pad: unknown, i: number): void {
  if (typeof pad !== 'number' || !Number.isSafeInteger(pad) || pad < 0 || pad > MAX_PAD) throw new BadReceiptError('receipt pad is not an integer in 0..MAX_PAD', { index: i, pad })
}
