// Trains the byte-level BPE merges on this machine, from the corpora the model will
// pretrain on. Texts are cut into pieces and only distinct pieces (with their counts)
// are kept; each merge then touches only the pieces that contain the chosen pair, and
// the best pair comes from a heap whose stale entries are re-pushed when popped (a
// count only falls, except for pairs with the new token, pushed after each merge).
//
// Deterministic: the chosen pair is the one with the highest count; ties go to the
// lexicographically smallest (left id, right id). The order of the texts does not
// change the result. Within a piece a merge is applied left to right without overlap
// ('aaa' with (a, a) gives [aa, a]), exactly as Tokenizer.encode applies it.

import { BadTrainingDataError } from '../errors.ts'
import { Tokenizer } from './bpe.ts'
import { pretokenize } from './pretokenize.ts'
import { FIRST_MERGE_ID, MAX_VOCAB, pairKey, type MergePair } from './serialize.ts'

export interface TrainBpeOptions {
  /** Wanted vocabulary size, specials included (258 .. 65536). Training stops early if pairs run out. */
  vocabSize: number
  /** A pair seen fewer times than this is never merged. Default 2. */
  minFrequency?: number
  /** Refuse more input than this many UTF-16 code units. Default 2^28. */
  maxChars?: number
  /**
   * Pieces longer than this many UTF-8 bytes are left out of training (they still
   * encode). A word is rewritten once per merge it takes part in, so this bounds the
   * work per word; no piece of the pretraining corpora is over 32 bytes. Default 128.
   */
  maxPieceBytes?: number
}

export const DEFAULT_TRAIN_MAX_CHARS = 2 ** 28
export const DEFAULT_MAX_PIECE_BYTES = 128

export function trainBpe (texts: Iterable<string>, opts: TrainBpeOptions): Tokenizer {
  return new Tokenizer(trainMerges(texts, opts))
}

/** The merges trainBpe would build, in rank order. */
export function trainMerges (texts: Iterable<string>, opts: TrainBpeOptions): MergePair[] {
  const { vocabSize } = opts
  const minFrequency = opts.minFrequency ?? 2
  const maxChars = opts.maxChars ?? DEFAULT_TRAIN_MAX_CHARS
  const maxPieceBytes = opts.maxPieceBytes ?? DEFAULT_MAX_PIECE_BYTES
  if (!Number.isInteger(vocabSize) || vocabSize < FIRST_MERGE_ID || vocabSize > MAX_VOCAB) {
    throw new BadTrainingDataError('vocabSize must be an integer in [258, 65536]', { vocabSize })
  }
  if (!Number.isInteger(minFrequency) || minFrequency < 1) throw new BadTrainingDataError('minFrequency must be a positive integer', { minFrequency })
  if (!Number.isInteger(maxChars) || maxChars < 1) throw new BadTrainingDataError('maxChars must be a positive integer', { maxChars })
  if (!Number.isInteger(maxPieceBytes) || maxPieceBytes < 2) throw new BadTrainingDataError('maxPieceBytes must be an integer of at least 2', { maxPieceBytes })

  // Distinct pieces and how often each occurs.
  const counts = new Map<string, number>()
  let chars = 0
  let index = 0
  for (const text of texts) {
    if (typeof text !== 'string') throw new BadTrainingDataError('training texts must be strings', { index, type: typeof text })
    chars += text.length
    if (chars > maxChars) throw new BadTrainingDataError('too much text to train the tokenizer on', { chars, max: maxChars })
    for (const piece of pretokenize(text)) counts.set(piece, (counts.get(piece) ?? 0) + 1)
    index++
  }
  if (chars === 0) throw new BadTrainingDataError('no text to train the tokenizer on', { texts: index })

  const encoder = new TextEncoder()
  const words: number[][] = []
  const freq: number[] = []
  for (const [piece, c] of counts) {
    const bytes = encoder.encode(piece)
    if (bytes.length < 2 || bytes.length > maxPieceBytes) continue
    words.push(Array.from(bytes))
    freq.push(c)
  }
  counts.clear()

  // Pair counts, and for each pair the words that may contain it (may be stale).
  const pairCount = new Map<number, number>()
  const where = new Map<number, number[]>()
  for (let w = 0; w < words.length; w++) {
    const s = words[w]
    const f = freq[w]
    for (let i = 0; i + 1 < s.length; i++) {
      const k = pairKey(s[i], s[i + 1])
      pairCount.set(k, (pairCount.get(k) ?? 0) + f)
      const list = where.get(k)
      if (list === undefined) where.set(k, [w])
      else if (list[list.length - 1] !== w) list.push(w)
    }
  }
  const heap = new PairHeap()
  for (const [k, c] of pairCount) heap.push(c, k)

  const merges: MergePair[] = []
  const target = vocabSize - FIRST_MERGE_ID
  const stamp = new Int32Array(words.length).fill(-1)
  const fresh = new Set<number>()
  while (merges.length < target && heap.size > 0) {
    const { count, key } = heap.pop()
    const current = pairCount.get(key) ?? 0
    if (current !== count) {
      if (current > 0) heap.push(current, key)
      continue
    }
    if (count < minFrequency) break
    const a = Math.floor(key / MAX_VOCAB)
    const b = key - a * MAX_VOCAB
    const id = FIRST_MERGE_ID + merges.length
    merges.push([a, b])
    const list = where.get(key) ?? []
    where.delete(key)
    fresh.clear()
    for (const w of list) {
      if (stamp[w] === id) continue
      stamp[w] = id
      const s = words[w]
      let found = false
      for (let i = 0; i + 1 < s.length; i++) {
        if (s[i] === a && s[i + 1] === b) {
          found = true
          break
        }
      }
      if (!found) continue
      const f = freq[w]
      for (let i = 0; i + 1 < s.length; i++) {
        const k = pairKey(s[i], s[i + 1])
        const c = (pairCount.get(k) as number) - f
        if (c === 0) pairCount.delete(k)
        else pairCount.set(k, c)
      }
      const merged: number[] = []
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          merged.push(id)
          i++
        } else {
          merged.push(s[i])
        }
      }
      words[w] = merged
      for (let i = 0; i + 1 < merged.length; i++) {
        const x = merged[i]
        const y = merged[i + 1]
        const k = pairKey(x, y)
        pairCount.set(k, (pairCount.get(k) ?? 0) + f)
        // Pairs without the new token were already in this word, and listed.
        if (x === id || y === id) {
          fresh.add(k)
          const l = where.get(k)
          if (l === undefined) where.set(k, [w])
          else if (l[l.length - 1] !== w) l.push(w)
        }
      }
    }
    for (const k of fresh) {
      const c = pairCount.get(k)
      if (c !== undefined) heap.push(c, k)
    }
  }
  return merges
}

/** Max-heap of (count, pair key): higher count first, then smaller key. */
class PairHeap {
  private counts: number[] = []
  private keys: number[] = []

  get size (): number {
    return this.counts.length
  }

  push (count: number, key: number): void {
    const cs = this.counts
    const ks = this.keys
    let i = cs.length
    cs.push(count)
    ks.push(key)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!before(count, key, cs[p], ks[p])) break
      cs[i] = cs[p]
      ks[i] = ks[p]
      i = p
    }
    cs[i] = count
    ks[i] = key
  }

  pop (): { count: number, key: number } {
    const cs = this.counts
    const ks = this.keys
    const top = { count: cs[0], key: ks[0] }
    const lc = cs.pop() as number
    const lk = ks.pop() as number
    const n = cs.length
    if (n > 0) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && before(cs[r], ks[r], cs[l], ks[l]) ? r : l
        if (!before(cs[c], ks[c], lc, lk)) break
        cs[i] = cs[c]
        ks[i] = ks[c]
        i = c
      }
      cs[i] = lc
      ks[i] = lk
    }
    return top
  }
}

function before (c1: number, k1: number, c2: number, k2: number): boolean {
  return c1 > c2 || (c1 === c2 && k1 < k2)
}
