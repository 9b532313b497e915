// What an attribution worker commits to before a verifier samples its scores, and how
// a verifier compares the sample it recomputed. The receipt is a Merkle root over one
// leaf per training example (its file, its contribution and its three scores), so the
// root fixes every score and its position, a verifier's sample can be drawn only once
// it is committed, and a single claimed score can be shown to be the worker's (leaf and
// proof) without the rest of the result.
//
//   leaf i = sha256(0x00 || tag || u32be(i) || u16be(len) file || u16be(len) contribution || f64be tracin || f64be datainf || f64be loss)
//   node   = sha256(0x01 || left || right); an odd node at the end of a level goes up as is
//
// Scores are compared within ATTRIBUTION_TOLERANCE, measured (see there): on the same
// kernels they reproduce bit for bit, so the tolerance only has to absorb another CPU's.

import { createHash } from 'node:crypto'
import { canonicalJson } from '../train/fingerprint.ts'
import { BadReceiptError } from './errors.ts'
import { sampleSeed, sampleSegments } from './sample.ts'

const LEAF_TAG = 'openledger/attribution-leaf/1'

/** One training example as the result names it, with its scores. */
export interface ScoredExample {
  /** CID of the datanet file the example came from. */
  file: string
  /** CID of the contribution that carried the file. */
  contribution: string
  tracin: number
  datainf: number
  /** The example's loss under the final adapter (what the fit gate reads). */
  loss: number
}

export interface AttributionReceipt {
  job: string
  /** The adapter measured. */
  adapter: string
  /** The checkpoints TracIn was taken at (steps and hashes of the adapter's own chain). */
  checkpoints: ReadonlyArray<{ step: number, hash: string }>
  examples: number
  /** The validation examples' mean loss under the final adapter (the fit gate's bar). */
  validationLoss: number
  /** Merkle root over the examples' leaves, hex. */
  root: string
}

/**
 * The tolerance a verifier compares recomputed scores with: |claimed − recomputed| ≤
 * relative × max(|claimed|, |recomputed|) + absolute × the RMS of the verifier's own
 * recomputed sample (a scale the worker cannot inflate); losses likewise with `loss`
 * for both terms, the scale being the sample's mean recomputed loss.
 *
 * Measured 2026-12 on this machine (2 cores, onnxruntime-node 1.30), spam-base
 * classifier, 5,407 mails of 20 contributors, 100 steps, TracIn at 3 points; sotu-lm,
 * 68 windows, 100 steps. Same thread count twice, 2 threads vs 1, and the full pass vs
 * a verifier's recomputation of 64 (24) sampled examples in other batches: every TracIn
 * score, loss and the validation loss bit-identical, both models. With ORT's graph
 * optimisations off (plain kernels instead of fused ones: the stand-in for another
 * CPU, as in bench determinism) the classifier's TracIn scores moved by at most 6.8e-11
 * = 1.2e-8 × their RMS (3.0e-5 relative, only on scores near zero; 2e-9 on the
 * largest), its losses not at all, DataInf by 2.0e-4 relative; the LM's not at all.
 * The absolute term is about 80× the largest drift seen; the relative term keeps large scores
 * to 1e-6. A made-up or permuted score is off by about its own size: far outside.
 * test/attribution-jobs.test.ts measures it again.
 */
export const ATTRIBUTION_TOLERANCE = Object.freeze({ relative: 1e-6, absolute: 1e-6, loss: 1e-6 })
export type AttributionTolerance = typeof ATTRIBUTION_TOLERANCE

/** -0 and 0 are one number here (JSON writes both as 0). */
const plain = (x: number): number => x === 0 ? 0 : x

export function exampleLeaf (index: number, e: ScoredExample): Buffer {
  const nums = Buffer.alloc(28)
  nums.writeUInt32BE(index, 0)
  nums.writeDoubleBE(plain(e.tracin), 4)
  nums.writeDoubleBE(plain(e.datainf), 12)
  nums.writeDoubleBE(plain(e.loss), 20)
  const h = createHash('sha256').update(Buffer.of(0)).update(LEAF_TAG).update(nums.subarray(0, 4))
  for (const s of [e.file, e.contribution]) {
    const b = Buffer.from(s, 'utf8')
    const len = Buffer.alloc(2)
    len.writeUInt16BE(b.byteLength)
    h.update(len).update(b)
  }
  return h.update(nums.subarray(4)).digest()
}

function node (left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(Buffer.of(1)).update(left).update(right).digest()
}

/** Every level of the tree, leaves first; the last level is the root alone. */
function levels (leaves: readonly Buffer[]): Buffer[][] {
  if (leaves.length === 0) throw new BadReceiptError('an attribution scores at least one example')
  const out: Buffer[][] = [[...leaves]]
  while (out.at(-1)!.length > 1) {
    const level = out.at(-1)!
    const up: Buffer[] = []
    for (let i = 0; i < level.length; i += 2) up.push(i + 1 < level.length ? node(level[i], level[i + 1]) : level[i])
    out.push(up)
  }
  return out
}

export function examplesRoot (examples: readonly ScoredExample[]): string {
  return levels(examples.map((e, i) => exampleLeaf(i, e))).at(-1)![0].toString('hex')
}

/** One proof step: the sibling's hash, and whether it sits on the left. */
export interface ProofStep { left: boolean, hash: string }

/** The path from example `index`'s leaf to the root. */
export function examplesProof (examples: readonly ScoredExample[], index: number): ProofStep[] {
  const tree = levels(examples.map((e, i) => exampleLeaf(i, e)))
  const proof: ProofStep[] = []
  let at = index
  for (const level of tree.slice(0, -1)) {
    const sibling = at % 2 === 0 ? at + 1 : at - 1
    if (sibling < level.length) proof.push({ left: sibling < at, hash: level[sibling].toString('hex') })
    at = Math.floor(at / 2)
  }
  return proof
}

/** True when `e` at `index` is under `root` by `proof`: the worker committed to exactly this score there. */
export function verifyExampleProof (root: string, index: number, e: ScoredExample, proof: readonly ProofStep[]): boolean {
  let h = exampleLeaf(index, e)
  for (const p of proof) {
    const sibling = Buffer.from(p.hash, 'hex')
    h = p.left ? node(sibling, h) : node(h, sibling)
  }
  return h.toString('hex') === root
}

export function attributionReceipt (opts: { job: string, adapter: string, checkpoints: ReadonlyArray<{ step: number, hash: string }>, examples: readonly ScoredExample[], validationLoss: number }): AttributionReceipt {
  return { job: opts.job, adapter: opts.adapter, checkpoints: opts.checkpoints.map(c => ({ step: c.step, hash: c.hash })), examples: opts.examples.length, validationLoss: plain(opts.validationLoss), root: examplesRoot(opts.examples) }
}

/** sha256 of the receipt's canonical JSON: what the sample seed and the verifier's beacon take. */
export function attributionReceiptHash (r: AttributionReceipt): string {
  return createHash('sha256').update(canonicalJson({ job: r.job, adapter: r.adapter, checkpoints: r.checkpoints.map(c => ({ step: c.step, hash: c.hash })), examples: r.examples, validationLoss: r.validationLoss, root: r.root })).digest('hex')
}

/**
 * Refuses, before any compute, a receipt that is not this job's over these scores:
 * another job or adapter, other checkpoints than the adapter's chain gives, another
 * number of examples, another validation loss, a root that is not the examples'.
 */
export function checkAttributionReceipt (r: AttributionReceipt, view: { job: string, adapter: string, checkpoints: ReadonlyArray<{ step: number, hash: string }>, examples: readonly ScoredExample[], validationLoss: number }): void {
  if (r.job !== view.job) throw new BadReceiptError('receipt is for another job', { job: r.job, expected: view.job })
  if (r.adapter !== view.adapter) throw new BadReceiptError('receipt is for another adapter', { adapter: r.adapter, expected: view.adapter })
  if (r.checkpoints.length !== view.checkpoints.length || r.checkpoints.some((c, i) => c.step !== view.checkpoints[i].step || c.hash !== view.checkpoints[i].hash)) {
    throw new BadReceiptError('receipt names other checkpoints than the adapter\'s chain', { checkpoints: r.checkpoints.length, expected: view.checkpoints.length })
  }
  if (r.examples !== view.examples.length) throw new BadReceiptError('receipt has the wrong number of examples', { examples: r.examples, expected: view.examples.length })
  if (r.validationLoss !== plain(view.validationLoss)) throw new BadReceiptError('receipt names another validation loss than the result', { receipt: r.validationLoss, result: view.validationLoss })
  const root = examplesRoot(view.examples)
  if (r.root !== root) throw new BadReceiptError('receipt root is not the Merkle root of the result\'s scores', { root: r.root, expected: root })
}

/** `k` distinct example indices, ascending, from a seed fixed only once the receipt is (job, receipt hash, verifier, beacon). */
export function sampleExamples (r: AttributionReceipt, opts: { verifier: string, k: number, beacon?: string }): number[] {
  return sampleSegments(sampleSeed({ job: r.job, receipt: attributionReceiptHash(r), verifier: opts.verifier, beacon: opts.beacon }), r.examples, Math.min(opts.k, r.examples))
}

export interface ScoreMismatch {
  example: number
  claimed: { tracin: number, loss: number }
  recomputed: { tracin: number, loss: number }
}

/**
 * The sampled examples whose claimed TracIn score or loss the recomputation does not
 * reproduce within the tolerance, and whether the validation loss does.
 */
export function compareScores (opts: {
  sample: readonly number[]
  claimed: readonly ScoredExample[]
  claimedValidationLoss: number
  recomputed: { tracin: ArrayLike<number>, finalLoss: ArrayLike<number>, validationLoss: number }
  tolerance?: AttributionTolerance
}): { mismatches: ScoreMismatch[], validationLossOk: boolean, scale: number } {
  const tol = opts.tolerance ?? ATTRIBUTION_TOLERANCE
  const { sample, claimed, recomputed } = opts
  let sq = 0
  let losses = 0
  for (let i = 0; i < sample.length; i++) { sq += recomputed.tracin[i] * recomputed.tracin[i]; losses += Math.abs(recomputed.finalLoss[i]) }
  const scale = Math.sqrt(sq / Math.max(1, sample.length))
  const lossScale = losses / Math.max(1, sample.length)
  const close = (a: number, b: number, rel: number, abs: number): boolean => Number.isFinite(a) && Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b)) + abs
  const mismatches: ScoreMismatch[] = []
  sample.forEach((k, i) => {
    const c = claimed[k]
    const r = { tracin: recomputed.tracin[i], loss: recomputed.finalLoss[i] }
    if (!close(c.tracin, r.tracin, tol.relative, tol.absolute * scale) || !close(c.loss, r.loss, tol.loss, tol.loss * lossScale)) mismatches.push({ example: k, claimed: { tracin: c.tracin, loss: c.loss }, recomputed: r })
  })
  return { mismatches, validationLossOk: close(opts.claimedValidationLoss, recomputed.validationLoss, tol.loss, tol.loss * lossScale), scale }
}
