// Language-model training data: documents tokenised, each followed by the end-of-text
// token, cut into windows of seq+1 tokens (inputs and next-token targets). A short
// window is padded and its padding masked out of the loss. Two cuts:
//  - windowsOf: the documents joined into one stream (pretraining: no token wasted);
//  - documentWindows: each document cut on its own, no window crossing into the next,
//    so the windows (and the adapter trained on them) are the same whatever order the
//    documents come in, and each window belongs to exactly one document (attribution
//    pays per document).

import { BadTrainingDataError } from '../../errors.ts'

export interface LmWindows {
  seq: number
  /** Number of windows (training examples). */
  count: number
  tokens: Int32Array
  padId: number
  /** documentWindows: where each window starts in `tokens` (else at i x seq). */
  starts?: Int32Array
  /** documentWindows: where each window's document ends (no target at or past it). */
  ends?: Int32Array
  /** documentWindows: each window's document. */
  docs?: Int32Array
}

/** Each document on its own (see the header); throws like windowsOf. */
export function documentWindows (docs: readonly Int32Array[], opts: { seq: number, eot: number, pad: number, maxTokens?: number }): LmWindows {
  const { seq, eot, pad } = opts
  let total = 0
  let count = 0
  for (const d of docs) { total += d.length + 1; count += Math.ceil(d.length / seq) }
  if (opts.maxTokens !== undefined && total > opts.maxTokens) throw new BadTrainingDataError('too many tokens for one job', { tokens: total, max: opts.maxTokens })
  if (count === 0) throw new BadTrainingDataError('no text to train on', { tokens: total })
  const tokens = new Int32Array(total)
  const starts = new Int32Array(count)
  const ends = new Int32Array(count)
  const of = new Int32Array(count)
  let at = 0
  let w = 0
  docs.forEach((d, i) => {
    tokens.set(d, at)
    tokens[at + d.length] = eot
    const end = at + d.length + 1
    // A document of L tokens and its end-of-text token give L targets: ceil(L / seq) windows.
    for (let s = at; s < end - 1; s += seq) { starts[w] = s; ends[w] = end; of[w] = i; w++ }
    at = end
  })
  return { seq, count, tokens, padId: pad, starts, ends, docs: of }
}

/** How many targets window `i` has: the tokens its summed loss runs over. */
export function windowTargets (w: LmWindows, i: number): number {
  const start = w.starts?.[i] ?? i * w.seq
  return Math.max(0, Math.min(w.seq, (w.ends?.[i] ?? w.tokens.length) - 1 - start))
}

/** The tokens window `i` reads (inputs and targets): what its training-order key hashes. */
export function windowTokens (w: LmWindows, i: number): Int32Array {
  const start = w.starts?.[i] ?? i * w.seq
  return w.tokens.subarray(start, Math.min(start + w.seq + 1, w.ends?.[i] ?? w.tokens.length))
}

export function windowsOf (docs: readonly Int32Array[], opts: { seq: number, eot: number, pad: number, maxTokens?: number }): LmWindows {
  const { seq, eot, pad } = opts
  let total = 0
  for (const d of docs) total += d.length + 1
  if (opts.maxTokens !== undefined && total > opts.maxTokens) throw new BadTrainingDataError('too many tokens for one job', { tokens: total, max: opts.maxTokens })
  const tokens = new Int32Array(total)
  let at = 0
  for (const d of docs) {
    tokens.set(d, at)
    at += d.length
    tokens[at++] = eot
  }
  if (total < 2) throw new BadTrainingDataError('no text to train on', { tokens: total })
  return { seq, count: Math.ceil((total - 1) / seq), tokens, padId: pad }
}

/** Feeds for the windows at `indices` (a batch of `batch` rows; missing rows masked). */
export function lmBatch (w: LmWindows, indices: readonly number[], batch: number): { tokens: BigInt64Array, targets: BigInt64Array, mask: Float32Array, count: number } {
  const { seq } = w
  const tokens = new BigInt64Array(batch * seq).fill(BigInt(w.padId))
  const targets = new BigInt64Array(batch * seq).fill(BigInt(w.padId))
  const mask = new Float32Array(batch * seq)
  let count = 0
  indices.forEach((idx, row) => {
    if (row >= batch) throw new BadTrainingDataError('more indices than batch rows', { indices: indices.length, batch })
    const start = w.starts?.[idx] ?? idx * seq
    const end = w.ends?.[idx] ?? w.tokens.length
    for (let t = 0; t < seq; t++) {
      const i = start + t
      if (i + 1 >= end) break
      tokens[row * seq + t] = BigInt(w.tokens[i])
      targets[row * seq + t] = BigInt(w.tokens[i + 1])
      mask[row * seq + t] = 1
      count++
    }
  })
  return { tokens, targets, mask, count }
}

/**
 * Which document each window starts in (documentWindows says; for windowsOf, the
 * documents joined as it joins them, each followed by the end-of-text token): how
 * per-window scores are credited to documents.
 */
export function windowDocuments (docLengths: readonly number[], w: LmWindows): Int32Array {
  if (w.docs !== undefined) return w.docs
  const starts: number[] = []
  let at = 0
  for (const len of docLengths) { starts.push(at); at += len + 1 }
  const out = new Int32Array(w.count)
  let doc = 0
  for (let i = 0; i < w.count; i++) {
    const pos = i * w.seq
    while (doc + 1 < starts.length && starts[doc + 1] <= pos) doc++
    out[i] = doc
  }
  return out
}
