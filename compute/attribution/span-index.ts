// The exact-match index of one datanet version: its documents' tokens joined into one
// text (each document followed by a separator that no query token equals, so no match
// crosses documents), the suffix array of that text, where each document starts and
// which contribution it belongs to. Built once per version, queried per model answer
// (span-attribution.ts), shipped between peers as bytes.
//
// Bytes: an 8-byte little-endian header length, a JSON header (format, vocabSize,
// counts, the contribution ids), then four little-endian int32 sections: text (tokens,
// -1 for a separator), suffix array, document starts (documents + 1, the last = text
// length), each document's contribution (an index into the header's list). Decoding
// trusts nothing: sizes, the JSON, every value's range, the separators' places, and the
// suffix array (a permutation, and sorted: checked in full, in linear time).

import { z } from 'zod'
import { BadTrainingDataError, InvalidRequestError, MalformedArtifactError } from '../errors.ts'
import { buildSuffixArray, checkSuffixArray, findRange, type SuffixRange } from './suffix-array.ts'

export const SPAN_INDEX_FORMAT = 'openledger/span-index/1'
/** The separator after each document in the joined text. Never a valid token. */
export const SEPARATOR = -1
/** Default cap on the joined text (tokens plus one separator per document): 64 Mi positions, 512 MiB as bytes. */
export const DEFAULT_MAX_INDEX_TOKENS = 1 << 26
/** No build or decode goes past this many positions, whatever the options say (int32 offsets). */
export const HARD_MAX_INDEX_TOKENS = 1 << 30
/** Largest vocabulary an index accepts; bounds the suffix-array builder's bucket arrays. */
export const MAX_INDEX_VOCAB = 1 << 20
export const MAX_CONTRIBUTION_CHARS = 256
const MAX_HEADER_BYTES = 64 * 1024 * 1024
/** Default cap on an index file: the default token cap's sections plus a full header. */
export const DEFAULT_MAX_INDEX_BYTES = 8 + MAX_HEADER_BYTES + 16 * DEFAULT_MAX_INDEX_TOKENS + 8

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1

export interface SpanDocument {
  /** The contribution (e.g. its CID) the document belongs to; several documents may share one. */
  contribution: string
  tokens: ArrayLike<number>
}

export interface SpanIndexOptions {
  /** Token ids are integers in [0, vocabSize). */
  vocabSize: number
  /** Refuse a joined text longer than this. Default DEFAULT_MAX_INDEX_TOKENS. */
  maxTokens?: number
}

export interface DecodeSpanIndexOptions {
  /** Refuse more bytes than this. Default DEFAULT_MAX_INDEX_BYTES. */
  maxBytes?: number
  /** Refuse a joined text longer than this. Default DEFAULT_MAX_INDEX_TOKENS. */
  maxTokens?: number
}

export interface SpanLocation {
  /** Index of the document, in build order. */
  document: number
  /** Offset of the position inside its document. */
  offset: number
  contribution: string
}

const HeaderSchema = z.strictObject({
  format: z.literal(SPAN_INDEX_FORMAT),
  vocabSize: z.number().int().min(1).max(MAX_INDEX_VOCAB),
  tokens: z.number().int().min(0).max(HARD_MAX_INDEX_TOKENS),
  documents: z.number().int().min(0).max(HARD_MAX_INDEX_TOKENS),
  contributions: z.array(z.string().min(1).max(MAX_CONTRIBUTION_CHARS))
})

type Header = z.infer<typeof HeaderSchema>

interface Parts {
  vocabSize: number
  text: Int32Array
  sa: Int32Array
  docStarts: Int32Array
  docContribution: Int32Array
  contributions: string[]
}

export class SpanIndex {
  readonly vocabSize: number
  /** Documents' tokens, each followed by SEPARATOR. Do not modify. */
  readonly text: Int32Array
  /** Suffix array of text. Do not modify. */
  readonly sa: Int32Array
  /** Document d occupies text[docStarts[d] .. docStarts[d + 1] - 1), its separator at docStarts[d + 1] - 1. */
  readonly docStarts: Int32Array
  /** Index into contributions of each document's contribution. */
  readonly docContribution: Int32Array
  /** Distinct contribution ids, in order of first appearance. */
  readonly contributions: readonly string[]

  private constructor (p: Parts) {
    this.vocabSize = p.vocabSize
    this.text = p.text
    this.sa = p.sa
    this.docStarts = p.docStarts
    this.docContribution = p.docContribution
    this.contributions = Object.freeze(p.contributions)
  }

  /** Throws BadTrainingDataError for bad options, documents or tokens, or too much text. */
  static build (documents: readonly SpanDocument[], opts: SpanIndexOptions): SpanIndex {
    const { vocabSize } = opts
    const maxTokens = opts.maxTokens ?? DEFAULT_MAX_INDEX_TOKENS
    if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > MAX_INDEX_VOCAB) {
      throw new BadTrainingDataError('vocabSize must be an integer in [1, 2^20]', { vocabSize })
    }
    if (!Number.isInteger(maxTokens) || maxTokens < 0 || maxTokens > HARD_MAX_INDEX_TOKENS) {
      throw new BadTrainingDataError('maxTokens must be an integer in [0, 2^30]', { maxTokens })
    }
    if (!Array.isArray(documents)) throw new BadTrainingDataError('documents must be an array')
    let total = 0
    for (let d = 0; d < documents.length; d++) {
      const doc = documents[d] as SpanDocument | null | undefined
      if (doc == null || typeof doc !== 'object') throw new BadTrainingDataError('document is not an object', { document: d })
      const c = doc.contribution
      if (typeof c !== 'string' || c.length === 0 || c.length > MAX_CONTRIBUTION_CHARS) {
        throw new BadTrainingDataError(`contribution ids must be strings of 1 to ${MAX_CONTRIBUTION_CHARS} characters`, { document: d })
      }
      const len = (doc.tokens as ArrayLike<number> | null | undefined)?.length
      if (!Number.isSafeInteger(len) || (len as number) < 0) throw new BadTrainingDataError('document tokens must be an array of ids', { document: d })
      total += (len as number) + 1
      if (total > maxTokens) throw new BadTrainingDataError('documents too large to index', { positions: total, max: maxTokens })
    }

    const text = new Int32Array(total)
    const docStarts = new Int32Array(documents.length + 1)
    const docContribution = new Int32Array(documents.length)
    const contributions: string[] = []
    const ids = new Map<string, number>()
    let at = 0
    for (let d = 0; d < documents.length; d++) {
      const { contribution, tokens } = documents[d]
      let id = ids.get(contribution)
      if (id === undefined) {
        id = contributions.length
        ids.set(contribution, id)
        contributions.push(contribution)
      }
      docContribution[d] = id
      docStarts[d] = at
      for (let k = 0; k < tokens.length; k++) {
        const t = tokens[k]
        if (!Number.isInteger(t) || t < 0 || t >= vocabSize) {
          throw new BadTrainingDataError('document token is not an id in the vocabulary', { document: d, index: k, token: String(t), vocabSize })
        }
        text[at++] = t
      }
      text[at++] = SEPARATOR
    }
    docStarts[documents.length] = at

    // Shift by one so the separator is 0 and every token is in [1, vocabSize]: the
    // order is the same, so the binary searches can work on `text` itself.
    const shifted = new Int32Array(total)
    for (let i = 0; i < total; i++) shifted[i] = text[i] + 1
    const sa = buildSuffixArray(shifted, vocabSize + 1)
    return new SpanIndex({ vocabSize, text, sa, docStarts, docContribution, contributions })
  }

  /** Positions in the joined text, separators included. */
  get length (): number {
    return this.text.length
  }

  get documentCount (): number {
    return this.docContribution.length
  }

  /** Suffix-array ranks of the occurrences of `pattern` (checked: InvalidRequestError). */
  range (pattern: ArrayLike<number>): SuffixRange {
    this.checkTokens(pattern, 'pattern')
    return findRange(this.text, this.sa, pattern)
  }

  /** How many times `pattern` occurs (0 for an empty pattern: it is no span). */
  count (pattern: ArrayLike<number>): number {
    if (pattern.length === 0) return 0
    const { lo, hi } = this.range(pattern)
    return hi - lo
  }

  /** Positions in the joined text where `pattern` starts, ascending; past `limit` occurrences, the first `limit` in suffix order. */
  find (pattern: ArrayLike<number>, limit = Infinity): Int32Array {
    if (pattern.length === 0) return new Int32Array(0)
    const { lo, hi } = this.range(pattern)
    const out = this.sa.slice(lo, Math.min(hi, lo + limit))
    return out.sort()
  }

  /** The document containing text position `position` (a separator counts as its document's). */
  documentOf (position: number): number {
    let lo = 0
    let hi = this.docContribution.length
    // Last d with docStarts[d] <= position.
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1
      if (this.docStarts[mid] <= position) lo = mid
      else hi = mid
    }
    return lo
  }

  locate (position: number): SpanLocation {
    if (!Number.isInteger(position) || position < 0 || position >= this.text.length) {
      throw new InvalidRequestError('position is outside the index', { position, length: this.text.length })
    }
    const document = this.documentOf(position)
    return { document, offset: position - this.docStarts[document], contribution: this.contributions[this.docContribution[document]] }
  }

  /** Throws InvalidRequestError unless every value is an integer id in [0, vocabSize). */
  checkTokens (tokens: ArrayLike<number>, what = 'tokens'): void {
    if (tokens == null || typeof tokens !== 'object' || !Number.isSafeInteger(tokens.length)) {
      throw new InvalidRequestError(`${what} must be an array of token ids`)
    }
    for (let k = 0; k < tokens.length; k++) {
      const t = tokens[k]
      if (!Number.isInteger(t) || t < 0 || t >= this.vocabSize) {
        throw new InvalidRequestError(`${what} has a token outside the vocabulary`, { index: k, token: String(t), vocabSize: this.vocabSize })
      }
    }
  }

  toBytes (): Uint8Array {
    if (!LITTLE_ENDIAN) throw new MalformedArtifactError('span index files are little-endian; this machine is not')
    const header: Header = {
      format: SPAN_INDEX_FORMAT,
      vocabSize: this.vocabSize,
      tokens: this.text.length,
      documents: this.docContribution.length,
      contributions: [...this.contributions]
    }
    let json = Buffer.from(JSON.stringify(header), 'utf8')
    if (json.length > MAX_HEADER_BYTES) throw new MalformedArtifactError('span index header too large', { bytes: json.length, max: MAX_HEADER_BYTES })
    const padded = Math.ceil(json.length / 4) * 4
    if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)])
    const sections = [this.text, this.sa, this.docStarts, this.docContribution]
    const dataBytes = sections.reduce((s, a) => s + a.byteLength, 0)
    const out = new Uint8Array(8 + json.length + dataBytes)
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
    out.set(json, 8)
    let at = 8 + json.length
    for (const a of sections) {
      out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at)
      at += a.byteLength
    }
    return out
  }

  /** Decodes and fully validates an index; throws MalformedArtifactError. */
  static fromBytes (bytes: Uint8Array, opts: DecodeSpanIndexOptions = {}): SpanIndex {
    const bad = (message: string, details: Record<string, unknown> = {}) => new MalformedArtifactError(message, details)
    const maxBytes = opts.maxBytes ?? DEFAULT_MAX_INDEX_BYTES
    const maxTokens = Math.min(opts.maxTokens ?? DEFAULT_MAX_INDEX_TOKENS, HARD_MAX_INDEX_TOKENS)
    if (!LITTLE_ENDIAN) throw bad('span index files are little-endian; this machine is not')
    if (!(bytes instanceof Uint8Array)) throw bad('span index must be bytes')
    if (bytes.byteLength > maxBytes) throw bad('span index too large', { bytes: bytes.byteLength, max: maxBytes })
    if (bytes.byteLength < 8) throw bad('span index truncated', { bytes: bytes.byteLength })
    const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true))
    if (headerLen > MAX_HEADER_BYTES || headerLen % 4 !== 0 || 8 + headerLen > bytes.byteLength) {
      throw bad('span index header length is out of range', { headerLen, bytes: bytes.byteLength })
    }
    let raw: unknown
    try {
      raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)))
    } catch (err) {
      throw bad('span index header is not JSON', { cause: (err as Error).message })
    }
    const parsed = HeaderSchema.safeParse(raw)
    if (!parsed.success) throw bad('span index header is invalid', { issues: parsed.error.issues.slice(0, 3).map(i => `${i.path.join('.')}: ${i.message}`) })
    const h = parsed.data
    if (h.tokens > maxTokens) throw bad('span index holds too many positions', { tokens: h.tokens, max: maxTokens })
    if (h.documents > h.tokens) throw bad('span index has more documents than positions', { documents: h.documents, tokens: h.tokens })
    if (h.contributions.length > h.documents) throw bad('span index has more contributions than documents', { contributions: h.contributions.length, documents: h.documents })
    if (new Set(h.contributions).size !== h.contributions.length) throw bad('span index lists a contribution twice')

    const n = h.tokens
    const D = h.documents
    const dataStart = 8 + headerLen
    const expected = 4 * (2 * n + 2 * D + 1)
    if (bytes.byteLength - dataStart !== expected) throw bad('span index sections do not match the header', { dataBytes: bytes.byteLength - dataStart, expected })
    // Copy: the bytes need not be 4-byte aligned, and the caller may reuse them.
    let at = dataStart
    const section = (len: number): Int32Array => {
      const a = new Int32Array(len)
      new Uint8Array(a.buffer).set(bytes.subarray(at, at + 4 * len))
      at += 4 * len
      return a
    }
    const text = section(n)
    const sa = section(n)
    const docStarts = section(D + 1)
    const docContribution = section(D)

    if (docStarts[0] !== 0 || docStarts[D] !== n) throw bad('span index document starts do not span the text', { first: docStarts[0], last: docStarts[D], tokens: n })
    for (let d = 0; d < D; d++) {
      if (docStarts[d + 1] <= docStarts[d]) throw bad('span index document starts are not increasing', { document: d })
    }
    const used = new Uint8Array(h.contributions.length)
    for (let d = 0; d < D; d++) {
      const c = docContribution[d]
      if (c < 0 || c >= h.contributions.length) throw bad('span index document names no listed contribution', { document: d, contribution: c })
      used[c] = 1
    }
    if (used.includes(0)) throw bad('span index lists a contribution no document belongs to', { contribution: h.contributions[used.indexOf(0)] })
    // A separator exactly at the last position of each document, nowhere else.
    for (let d = 0; d < D; d++) {
      const sep = docStarts[d + 1] - 1
      for (let p = docStarts[d]; p < sep; p++) {
        const t = text[p]
        if (t < 0 || t >= h.vocabSize) throw bad('span index text has a value outside the vocabulary', { position: p, value: t })
      }
      if (text[sep] !== SEPARATOR) throw bad('span index document does not end with a separator', { document: d, position: sep })
    }
    const wrong = checkSuffixArray(text, sa)
    if (wrong !== -1) throw bad('span index suffix array is not the sorted suffixes of its text', { rank: wrong })
    return new SpanIndex({ vocabSize: h.vocabSize, text, sa, docStarts, docContribution, contributions: h.contributions })
  }
}
