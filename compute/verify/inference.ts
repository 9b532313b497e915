// Checking an inference batch job without redoing it: the verifier re-generates only the
// sampled requests with the real model (base + adapter, greedy) and compares tokens
// exactly with what the worker returned, after checking the outputs against the
// worker's receipt (inference-receipt.ts). A worker that answered from a cheaper model
// (compute/models/lm/truncate.ts) diverges within a few tokens on nearly every request:
// sotu-lm cut from 4 to 3 layers differed on 127 of 128 requests (median first
// divergence at token 1), cut to 2 or 1 layers on all 128.
//
// Why exact comparison is sound, measured on onnxruntime-node CPU (2-core AVX-512 host)
// with the decode graph of compute/serve/generator.ts (test/verify-inference.test.ts,
// and the shipped sotu-lm base: d 128, 4 layers, vocab 4096):
// - two separate sessions, same inputs: logits bit-identical at every step; 1 vs 2
//   threads too (MLAS keeps each output's reduction order, as bench "determinism" found
//   for training);
// - a request's batch does not matter, but its own left padding does: alone vs 8 copies
//   of itself (no padding) or beside shorter prompts, bitwise equal; beside a longer
//   prompt (left-padded), its logits move in the low bits (at most 6e-7 relative; 1 in
//   4 logit rows bitwise equal over 16 prompts x 24 steps), and pads equal mod 4 agree
//   bitwise on this CPU (SIMD lane alignment of the masked keys; another CPU's lane
//   width may differ, so nothing here relies on the mod 4);
// - greedy tokens never changed: sotu-lm with a random rank-8 adapter, 64 and 128
//   prompts x 48 tokens, alone vs in batches of 8 with pads up to 49: 0 flips. A
//   near-tie could still flip one.
// So the receipt commits to each request's pad, and verification has two passes. First
// the sampled requests run in batches as they come (cheap, as batch size and partners
// do not matter: on sotu-lm, k = 4 / 8 of 128 took 0.03 / 0.06 of the worker's batched
// generation time, about k/n); one whose tokens match is verified, since it
// is what the real model gives. One that does not is run again with exactly its claimed
// pad (requests of one padded width share a batch, led by a filler prompt of that width
// when none of them is the widest), which reproduces the worker's logits bit for bit: only
// a difference there is a mismatch, so a near-tie cannot get an honest worker slashed.

import { performance } from 'node:perf_hooks'
import type { LmGenerator } from '../serve/generator.ts'
import type { ParamSet } from '../tensors/param-set.ts'
import { BadReceiptError } from './errors.ts'
import { checkInferenceReceipt, type InferenceReceipt } from './inference-receipt.ts'

export { batchPads, checkInferenceReceipt, inferenceChain, inferenceReceipt, inferenceReceiptHash, sampleRequests, tokensHash, MAX_PAD, type InferenceEntry, type InferenceJobView, type InferenceReceipt } from './inference-receipt.ts'

export interface RegenerationRequest {
  prompt: Int32Array
  maxNewTokens: number
  stopToken?: number
}

/**
 * Runs the requests as ONE batch (left-padded to the longest prompt), greedy, with the
 * job's model, and returns each one's tokens: `generatorFor` on an LmGenerator.
 */
export type GenerateFn = (requests: readonly RegenerationRequest[]) => Promise<Int32Array[]>

export interface InferenceMismatch {
  index: number
  claimed: Int32Array
  recomputed: Int32Array
  /** First token position where they differ (the shorter length when one is a prefix of the other). */
  firstDivergence: number
}

export interface InferenceVerdict {
  ok: boolean
  /** Requests re-generated, ascending. */
  checked: number[]
  /** Those that differed in the first pass and were run again at their claimed pad. */
  rerun: number[]
  mismatches: InferenceMismatch[]
  /** generate calls made. */
  batches: number
  /** Wall time spent generating. */
  computeMs: number
}

/** A GenerateFn on a loaded generator, every request with the job's adapter (null: the base alone). */
export function generatorFor (gen: LmGenerator, adapter: ParamSet | null): GenerateFn {
  return async (requests) => (await gen.generate(requests.map(r => ({ ...r, adapter, temperature: 0 })))).map(r => r.tokens)
}

/**
 * Re-generates the sampled requests and compares them with the outputs. Throws
 * BadReceiptError / OutputRefusedError before generating anything when the receipt or
 * the outputs do not hold together; returns mismatches for requests whose tokens the
 * real model does not give, which is evidence the worker did not run it.
 */
export async function verifyInference (opts: {
  job: string
  receipt: InferenceReceipt
  prompts: readonly Int32Array[]
  outputs: readonly Int32Array[]
  maxNewTokens: number
  stopToken?: number
  /** Request indices to re-generate (sampleRequests). */
  sample: readonly number[]
  generate: GenerateFn
  /** The model's context: a claimed pad that would not fit is refused rather than run. */
  context: number
  /** Most sequences per generate call (default 32). */
  maxBatch?: number
}): Promise<InferenceVerdict> {
  const { receipt, prompts, outputs, maxNewTokens } = opts
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new RangeError('maxNewTokens must be a positive integer')
  const maxBatch = opts.maxBatch ?? 32
  if (!Number.isInteger(maxBatch) || maxBatch < 2) throw new RangeError('maxBatch must be an integer of at least 2 (a request and its filler)')
  checkInferenceReceipt(receipt, { job: opts.job, prompts, outputs, maxNewTokens, stopToken: opts.stopToken })
  const checked = [...new Set(opts.sample)].sort((a, b) => a - b)
  for (const i of checked) if (!Number.isInteger(i) || i < 0 || i >= prompts.length) throw new RangeError(`no request ${i}`)

  for (const i of checked) {
    // The worker's batch had a real prompt this wide with at least one token to generate.
    if (prompts[i].length + receipt.outputs[i].pad + 1 > opts.context) throw new BadReceiptError('receipt pad does not fit the model context', { index: i, pad: receipt.outputs[i].pad, context: opts.context })
  }
  const request = (i: number): RegenerationRequest => ({ prompt: prompts[i], maxNewTokens, stopToken: opts.stopToken })
  let batches = 0
  const started = performance.now()
  // Pass 1: as they come, whatever padding they get here.
  const differing: number[] = []
  for (let at = 0; at < checked.length; at += maxBatch) {
    const chunk = checked.slice(at, at + maxBatch)
    const got = await opts.generate(chunk.map(request))
    batches++
    chunk.forEach((i, j) => { if (firstDivergence(outputs[i], got[j]) !== -1) differing.push(i) })
  }
  // Pass 2: the ones that differ, each at exactly its claimed pad.
  const groups = new Map<number, number[]>()
  for (const i of differing) {
    const width = prompts[i].length + receipt.outputs[i].pad
    groups.set(width, [...(groups.get(width) ?? []), i])
  }
  const recomputed = new Map<number, Int32Array>()
  for (const [width, members] of groups) {
    const filler = members.every(i => prompts[i].length < width)
    const per = filler ? maxBatch - 1 : maxBatch
    for (let at = 0; at < members.length; at += per) {
      const chunk = members.slice(at, at + per)
      const requests = chunk.map(request)
      // The filler only sets the width; its own tokens are thrown away.
      if (filler) requests.unshift({ prompt: new Int32Array(width), maxNewTokens: 1 })
      const got = await opts.generate(requests)
      batches++
      chunk.forEach((i, j) => recomputed.set(i, got[j + (filler ? 1 : 0)]))
    }
  }
  const computeMs = performance.now() - started
  const mismatches: InferenceMismatch[] = []
  for (const i of differing) {
    const mine = recomputed.get(i) as Int32Array
    const d = firstDivergence(outputs[i], mine)
    if (d !== -1) mismatches.push({ index: i, claimed: outputs[i], recomputed: mine, firstDivergence: d })
  }
  return { ok: mismatches.length === 0, checked, rerun: differing, mismatches, batches, computeMs }
}

/** -1 when equal. */
function firstDivergence (a: Int32Array, b: Int32Array): number {
  const n = Math.min(a.length, b.length)
  for (let t = 0; t < n; t++) if (a[t] !== b[t]) return t
  return a.length === b.length ? -1 : n
}
