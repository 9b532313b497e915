// Which checkpoint segments a verifier replays. The choice must be unpredictable to the
// worker until its receipt is committed, or it would train honestly exactly where it
// will be checked; and it must be reproducible by anyone (the worker, a referee), so it
// is derived from public values fixed after the commitment. A worker that knows the
// verifier when it commits could grind its receipt hash for a kind sample, so the seed
// should also take a beacon published after the commit (a later block hash).

import { createHash } from 'node:crypto'
import type { DeviceStamp } from '../onnx/device-names.ts'
import { canonicalJson } from '../train/fingerprint.ts'

/** The worker's receipt: the job, the ordered checkpoint hashes of its run (the hash chain), and the device class that ran it. */
export interface TrainingReceipt {
  job: string
  chain: ReadonlyArray<{ step: number, hash: string }>
  /** Absent: no device named, checked bit for bit (compute/verify/device-tolerance.ts). */
  device?: DeviceStamp
}

const SEED_TAG = 'openledger/verify-sample/1'

/** sha256 of the receipt's canonical JSON: what the worker commits to (and signs). */
export function receiptHash (receipt: TrainingReceipt): string {
  const d = receipt.device
  return createHash('sha256').update(canonicalJson({ job: receipt.job, chain: receipt.chain.map(c => ({ step: c.step, hash: c.hash })), ...(d !== undefined ? { device: { device: d.device, ort: d.ort, hardware: d.hardware } } : {}) })).digest('hex')
}

/** sha256(tag || job || receipt hash || verifier address || beacon), hex. */
export function sampleSeed (opts: { job: string, receipt: string, verifier: string, beacon?: string }): string {
  const h = createHash('sha256').update(SEED_TAG)
  for (const part of [opts.job, opts.receipt, opts.verifier.toLowerCase(), opts.beacon ?? '']) h.update('\u0000').update(part)
  return h.digest('hex')
}

/** How many of `n` segments an audit fraction asks for: at least one when the fraction is positive. */
export function segmentsForFraction (n: number, fraction: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('segment count must be a non-negative integer')
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError('audit fraction must be within [0, 1]')
  if (fraction === 0 || n === 0) return 0
  // The epsilon keeps 0.15 * 20 at 3 rather than 4 through float noise.
  return Math.min(n, Math.max(1, Math.ceil(fraction * n - 1e-9)))
}

/**
 * Probability that a sample of k of n segments includes at least one of `bad` corrupted
 * ones: 1 - C(n-bad, k) / C(n, k). What one audit of a job catches.
 */
export function detectionProbability (n: number, k: number, bad: number): number {
  if (bad <= 0 || k <= 0) return 0
  if (bad + k > n) return 1
  let miss = 1
  for (let i = 0; i < k; i++) miss *= (n - bad - i) / (n - i)
  return 1 - miss
}

/**
 * `k` distinct segment indices of `0..n-1`, ascending: a partial Fisher-Yates shuffle
 * driven by sha256(seed || counter), with rejection so every subset is equally likely.
 */
export function sampleSegments (seed: string, n: number, k: number): number[] {
  if (!Number.isSafeInteger(n) || n < 0 || !Number.isSafeInteger(k) || k < 0 || k > n) throw new RangeError(`cannot sample ${k} of ${n} segments`)
  if (n > 0xffffffff) throw new RangeError('too many segments')
  const stream = wordStream(seed)
  const pool = Array.from({ length: n }, (_, i) => i)
  for (let i = 0; i < k; i++) {
    const range = n - i
    const limit = Math.floor(0x100000000 / range) * range
    let r = stream()
    while (r >= limit) r = stream()
    const j = i + (r % range)
    const t = pool[i]
    pool[i] = pool[j]
    pool[j] = t
  }
  return pool.slice(0, k).sort((a, b) => a - b)
}

function wordStream (seed: string): () => number {
  let counter = 0
  let block = Buffer.alloc(0)
  let at = 0
  return () => {
    if (at + 4 > block.length) {
      const c = Buffer.alloc(8)
      c.writeBigUInt64BE(BigInt(counter++))
      block = createHash('sha256').update(seed).update(c).digest()
      at = 0
    }
    const w = block.readUInt32BE(at)
    at += 4
    return w
  }
}
