// A byte-level BPE tokenizer (GPT-2 style) for the language model: text is cut into
// pieces (pretokenize.ts), each piece's UTF-8 bytes start as ids 0..255 and the learned
// merges are applied lowest rank first, so any string encodes and nothing is unknown.
//
// Special tokens <|endoftext|> and <|pad|> have fixed ids and are never produced by
// encode: text that spells "<|endoftext|>" is encoded as plain bytes, so an untrusted
// prompt cannot inject a control token. Callers that want one append the id.
//
// decode(encode(s)) === s for every well-formed string. Lone surrogates are not
// representable in UTF-8: they encode as U+FFFD's bytes, so for such input the round
// trip gives s.toWellFormed(). Token ids that end mid-character (a model may generate
// them) decode with U+FFFD for the broken sequence; decodeBytes gives the raw bytes.

import { InvalidRequestError } from '../errors.ts'
import { pretokenize, PRETOKENIZER } from './pretokenize.ts'
import {
  BYTE_TOKENS, EOT_ID, EOT_TOKEN, FIRST_MERGE_ID, PAD_ID, PAD_TOKEN, TOKENIZER_FORMAT,
  checkMerges, pairKey, parseTokenizerJson, type MergePair, type TokenizerJson
} from './serialize.ts'

export interface DecodeOptions {
  /** Leave special tokens out instead of writing their literal text. Default false. */
  skipSpecial?: boolean
}

/** Pieces up to this many UTF-8 bytes are cached once encoded (most words are). */
const CACHE_PIECE_CHARS = 64
const CACHE_ENTRIES = 1 << 16
/** Heap entries pack (rank, position) as rank * POS + position. */
const POS = 2 ** 32

const utf8 = new TextEncoder()
// ignoreBOM: a leading U+FEFF is text to keep, not a byte-order mark to drop.
const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true })

export class Tokenizer {
  readonly vocabSize: number
  readonly eot: number = EOT_ID
  readonly pad: number = PAD_ID
  readonly specials: Readonly<Record<string, number>> = Object.freeze({ [EOT_TOKEN]: EOT_ID, [PAD_TOKEN]: PAD_ID })

  /** Merge i joins left[i] and right[i] into id FIRST_MERGE_ID + i. */
  private readonly left: Int32Array
  private readonly right: Int32Array
  private readonly ranks = new Map<number, number>()
  /** The bytes of token id t are flat[offsets[t] .. offsets[t + 1]). */
  private readonly flat: Uint8Array
  private readonly offsets: Int32Array
  private readonly cache = new Map<string, Int32Array>()
  private scratch = new Uint8Array(256)

  /** Throws MalformedArtifactError unless the merges are valid (see serialize.ts). */
  constructor (merges: readonly MergePair[]) {
    checkMerges(merges)
    const n = merges.length
    this.vocabSize = FIRST_MERGE_ID + n
    this.left = new Int32Array(n)
    this.right = new Int32Array(n)
    const lengths = new Int32Array(this.vocabSize)
    lengths.fill(1, 0, BYTE_TOKENS)
    const eotBytes = utf8.encode(EOT_TOKEN)
    const padBytes = utf8.encode(PAD_TOKEN)
    lengths[EOT_ID] = eotBytes.length
    lengths[PAD_ID] = padBytes.length
    for (let i = 0; i < n; i++) {
      const [a, b] = merges[i]
      this.left[i] = a
      this.right[i] = b
      this.ranks.set(pairKey(a, b), i)
      lengths[FIRST_MERGE_ID + i] = lengths[a] + lengths[b]
    }
    this.offsets = new Int32Array(this.vocabSize + 1)
    for (let t = 0; t < this.vocabSize; t++) this.offsets[t + 1] = this.offsets[t] + lengths[t]
    this.flat = new Uint8Array(this.offsets[this.vocabSize])
    for (let t = 0; t < BYTE_TOKENS; t++) this.flat[t] = t
    this.flat.set(eotBytes, this.offsets[EOT_ID])
    this.flat.set(padBytes, this.offsets[PAD_ID])
    for (let i = 0; i < n; i++) {
      const at = this.offsets[FIRST_MERGE_ID + i]
      const a = this.left[i]
      const b = this.right[i]
      this.flat.copyWithin(at, this.offsets[a], this.offsets[a + 1])
      this.flat.copyWithin(at + lengths[a], this.offsets[b], this.offsets[b + 1])
    }
  }

  /** Validates a parsed JSON value strictly; throws MalformedArtifactError. */
  static fromJSON (value: unknown): Tokenizer {
    const t = parseTokenizerJson(value)
    return new Tokenizer(t.merges)
  }

  toJSON (): TokenizerJson {
    const merges: Array<[number, number]> = []
    for (let i = 0; i < this.left.length; i++) merges.push([this.left[i], this.right[i]])
    return {
      format: TOKENIZER_FORMAT,
      vocabSize: this.vocabSize,
      pretokenizer: PRETOKENIZER,
      specials: { '<|endoftext|>': EOT_ID, '<|pad|>': PAD_ID },
      merges
    }
  }

  get mergeCount (): number {
    return this.left.length
  }

  isSpecial (id: number): boolean {
    return id === EOT_ID || id === PAD_ID
  }

  /** Token ids of `text`. Never yields a special token (see the header). */
  encode (text: string): Int32Array {
    if (typeof text !== 'string') throw new InvalidRequestError('text to encode must be a string', { type: typeof text })
    let out = new Int32Array(Math.max(16, text.length >>> 1))
    let at = 0
    for (const piece of pretokenize(text)) {
      const ids = this.encodePiece(piece)
      if (at + ids.length > out.length) {
        const grown = new Int32Array(Math.max(out.length * 2, at + ids.length))
        grown.set(out.subarray(0, at))
        out = grown
      }
      for (let k = 0; k < ids.length; k++) out[at++] = ids[k]
    }
    return out.slice(0, at)
  }

  /** The bytes of the tokens; throws InvalidRequestError for an id out of range. */
  decodeBytes (ids: ArrayLike<number>, opts: DecodeOptions = {}): Uint8Array {
    const skip = opts.skipSpecial === true
    let total = 0
    for (let k = 0; k < ids.length; k++) {
      const t = ids[k]
      if (!Number.isInteger(t) || t < 0 || t >= this.vocabSize) throw new InvalidRequestError('token id out of range', { index: k, id: String(t), vocabSize: this.vocabSize })
      if (skip && this.isSpecial(t)) continue
      total += this.offsets[t + 1] - this.offsets[t]
    }
    const out = new Uint8Array(total)
    let at = 0
    for (let k = 0; k < ids.length; k++) {
      const t = ids[k]
      if (skip && this.isSpecial(t)) continue
      const end = this.offsets[t + 1]
      for (let p = this.offsets[t]; p < end; p++) out[at++] = this.flat[p]
    }
    return out
  }

  /** The text of the tokens (special tokens as their literal text unless skipped). */
  decode (ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    return utf8Decoder.decode(this.decodeBytes(ids, opts))
  }

  private encodePiece (piece: string): Int32Array {
    const hit = this.cache.get(piece)
    if (hit !== undefined) return hit
    if (this.scratch.length < piece.length * 3) this.scratch = new Uint8Array(piece.length * 3)
    const { written } = utf8.encodeInto(piece, this.scratch)
    const ids = this.mergeBytes(this.scratch, written)
    if (piece.length <= CACHE_PIECE_CHARS) {
      if (this.cache.size >= CACHE_ENTRIES) this.cache.clear()
      this.cache.set(piece, ids)
    }
    return ids
  }

  // Applies the merges to one piece, lowest rank first and, within a rank, leftmost
  // first; the same result as applying merge 0, 1, 2, ... in turn left to right (the
  // way training did), in O(n log n): a doubly linked list of symbols and a heap of
  // candidate pairs, stale candidates skipped when popped.
  private mergeBytes (bytes: Uint8Array, n: number): Int32Array {
    const sym = new Int32Array(n)
    for (let i = 0; i < n; i++) sym[i] = bytes[i]
    if (n < 2 || this.left.length === 0) return sym
    const next = new Int32Array(n)
    const prev = new Int32Array(n)
    for (let i = 0; i < n; i++) {
      next[i] = i + 1
      prev[i] = i - 1
    }
    const heap: number[] = []
    for (let i = 0; i + 1 < n; i++) {
      const r = this.ranks.get(pairKey(sym[i], sym[i + 1]))
      if (r !== undefined) heapPush(heap, r * POS + i)
    }
    let count = n
    while (heap.length > 0) {
      const top = heapPop(heap)
      const rank = Math.floor(top / POS)
      const i = top - rank * POS
      if (sym[i] !== this.left[rank]) continue
      const j = next[i]
      if (j >= n || sym[j] !== this.right[rank]) continue
      sym[i] = FIRST_MERGE_ID + rank
      sym[j] = -1
      const k = next[j]
      next[i] = k
      if (k < n) prev[k] = i
      count--
      const p = prev[i]
      if (p >= 0) {
        const r = this.ranks.get(pairKey(sym[p], sym[i]))
        if (r !== undefined) heapPush(heap, r * POS + p)
      }
      if (k < n) {
        const r = this.ranks.get(pairKey(sym[i], sym[k]))
        if (r !== undefined) heapPush(heap, r * POS + i)
      }
    }
    const out = new Int32Array(count)
    let at = 0
    for (let i = 0; i < n; i = next[i]) out[at++] = sym[i]
    return out
  }
}

function heapPush (h: number[], v: number): void {
  let i = h.length
  h.push(v)
  while (i > 0) {
    const parent = (i - 1) >> 1
    if (h[parent] <= v) break
    h[i] = h[parent]
    i = parent
  }
  h[i] = v
}

function heapPop (h: number[]): number {
  const top = h[0]
  const last = h.pop() as number
  const n = h.length
  if (n > 0) {
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && h[r] < h[l] ? r : l
      if (h[c] >= last) break
      h[i] = h[c]
      i = c
    }
    h[i] = last
  }
  return top
}
