// The tokenizer's id layout and its JSON form. A tokenizer travels inside model files
// fetched from peers, so reading one is strict: unknown keys, ids out of range, merges
// of ids not yet defined, duplicate merges and oversize vocabularies are refused with a
// MalformedArtifactError before any table is built.
//
// Layout (fixed by format 1): ids 0..255 are the single bytes, 256 is <|endoftext|>,
// 257 is <|pad|>, and merge i (0-based) defines id 258 + i from two earlier non-special
// ids. So vocabSize = 258 + merges.length.

import { z } from 'zod'
import { MalformedArtifactError } from '../errors.ts'
import { PRETOKENIZER } from './pretokenize.ts'

export const TOKENIZER_FORMAT = 'openledger/bpe/1'
export const EOT_TOKEN = '<|endoftext|>'
export const PAD_TOKEN = '<|pad|>'
export const BYTE_TOKENS = 256
export const EOT_ID = 256
export const PAD_ID = 257
export const FIRST_MERGE_ID = 258
/** Ids must fit in 16 bits. */
export const MAX_VOCAB = 65536
export const MAX_MERGES = MAX_VOCAB - FIRST_MERGE_ID

export type MergePair = readonly [number, number]

export interface TokenizerJson {
  format: typeof TOKENIZER_FORMAT
  vocabSize: number
  pretokenizer: typeof PRETOKENIZER
  specials: { '<|endoftext|>': typeof EOT_ID, '<|pad|>': typeof PAD_ID }
  merges: Array<[number, number]>
}

const id = z.number().int().min(0).max(MAX_VOCAB - 1)

const TokenizerSchema = z.strictObject({
  format: z.literal(TOKENIZER_FORMAT),
  vocabSize: z.number().int().min(FIRST_MERGE_ID).max(MAX_VOCAB),
  pretokenizer: z.literal(PRETOKENIZER),
  specials: z.strictObject({ '<|endoftext|>': z.literal(EOT_ID), '<|pad|>': z.literal(PAD_ID) }),
  merges: z.array(z.tuple([id, id])).max(MAX_MERGES)
})

/** Merge pairs as one number, for maps; ids are below 2^16. */
export function pairKey (a: number, b: number): number {
  return a * MAX_VOCAB + b
}

/** Throws MalformedArtifactError unless every merge joins two earlier non-special ids and no pair repeats. */
export function checkMerges (merges: readonly MergePair[]): void {
  if (merges.length > MAX_MERGES) throw new MalformedArtifactError('tokenizer has too many merges', { merges: merges.length, max: MAX_MERGES })
  const seen = new Map<number, number>()
  for (let i = 0; i < merges.length; i++) {
    const pair = merges[i]
    const defined = FIRST_MERGE_ID + i
    if (!Array.isArray(pair) || pair.length !== 2) throw new MalformedArtifactError('tokenizer merge is not a pair of ids', { index: i })
    for (const t of pair) {
      if (!Number.isInteger(t) || t < 0 || t >= MAX_VOCAB) throw new MalformedArtifactError('tokenizer merge has an id out of range', { index: i, pair: [...pair] })
      if (t === EOT_ID || t === PAD_ID) throw new MalformedArtifactError('tokenizer merge uses a special token', { index: i, pair: [...pair] })
      if (t >= defined) throw new MalformedArtifactError('tokenizer merge refers to an id not yet defined', { index: i, pair: [...pair], defines: defined })
    }
    const key = pairKey(pair[0], pair[1])
    const first = seen.get(key)
    if (first !== undefined) throw new MalformedArtifactError('tokenizer has a duplicate merge', { index: i, first, pair: [...pair] })
    seen.set(key, i)
  }
}

/** Validates a parsed JSON value as a tokenizer; returns it typed, or throws MalformedArtifactError. */
export function parseTokenizerJson (value: unknown): TokenizerJson {
  // Refuse an oversize merge list before zod walks every element of it.
  if (value != null && typeof value === 'object' && 'merges' in value) {
    const m = (value as { merges: unknown }).merges
    if (Array.isArray(m) && m.length > MAX_MERGES) throw new MalformedArtifactError('tokenizer has too many merges', { merges: m.length, max: MAX_MERGES })
  }
  const r = TokenizerSchema.safeParse(value)
  if (!r.success) {
    throw new MalformedArtifactError('tokenizer is invalid', { issues: r.error.issues.slice(0, 5).map(i => `${i.path.join('.')}: ${i.message}`) })
  }
  const t = r.data
  if (t.vocabSize !== FIRST_MERGE_ID + t.merges.length) {
    throw new MalformedArtifactError('tokenizer vocabSize does not match its merges', { vocabSize: t.vocabSize, merges: t.merges.length, expected: FIRST_MERGE_ID + t.merges.length })
  }
  checkMerges(t.merges)
  return t
}
