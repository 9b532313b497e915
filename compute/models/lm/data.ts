// Language-model training data: documents tokenised and joined by the end-of-text
// token into one stream, cut into windows of seq+1 tokens (inputs and next-token
// targets). A short tail window is padded and its padding masked out of the loss.

import { BadTrainingDataError } from '../../errors.ts'

export interface LmWindows {
  seq: number
  /** Number of windows (training examples). */
  count: number
  tokens: Int32Array
  padId: number
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
    const start = idx * seq
    for (let t = 0; t < seq; t++) {
      const i = start + t
      if (i + 1 >= w.tokens.length) break
      tokens[row * seq + t] = BigInt(w.tokens[i])
      targets[row * seq + t] = BigInt(w.tokens[i + 1])
      mask[row * seq + t] = 1
      count++
    }
  })
  return { tokens, targets, mask, count }
}

/**
 * Which document each window starts in (documents joined as windowsOf joins them, each
 * followed by the end-of-text token): how per-window scores are credited to documents.
 */
export function windowDocuments (docLengths: readonly number[], w: LmWindows): Int32Array {
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
