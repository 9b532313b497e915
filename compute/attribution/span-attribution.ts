// Inference-time attribution by exact span matching (infini-gram style): which datanet
// contributions hold, verbatim, the longest spans of the model's answer. The answer's
// share of the credit for each token goes to the contributions whose documents contain
// a long enough span covering it; the rest goes to the base model.
//
// 1. For every answer position i, L[i] = the longest span starting at i that occurs in
//    the index (capped at maxSpan), found by narrowing a suffix-array range one token at
//    a time: O(answer x span x log N), and O(1) per token once one suffix is left.
// 2. Spans are the maximal matches: L[i] >= minSpan and not inside the span at i - 1
//    (L[i] >= L[i - 1]; since L[i] >= L[i - 1] - 1, being inside any earlier span means
//    being inside that one). Their starts and their ends both increase.
// 3. Each answer token is credited through the longest span covering it. On a tie the
//    span that credited the previous token keeps it if it still covers it, else the one
//    reaching farthest; so a long copy cut by maxSpan into overlapping spans of equal
//    length is credited through few of them. Spans that end up crediting no token are
//    not reported. A token no span covers is the base model's.
// 4. A span's tokens are split evenly among the distinct contributions that contain it,
//    however often each contains it: repeating a text within a datanet earns nothing
//    more. A span occurring more than maxOccurrences times is too common to say whose
//    it is: its tokens go to the base model (it is reported with no contributions).
//
// shares[c] = sum over the spans crediting c of (tokens credited / contributions of the
// span) / answer length; shares plus baseShare sum to 1. Shares are sorted by share,
// descending, ties by contribution id (code unit order).

import { InvalidRequestError } from '../errors.ts'
import type { SpanIndex } from './span-index.ts'
import { lowerBound, upperBound } from './suffix-array.ts'

export const DEFAULT_MIN_SPAN = 4
export const DEFAULT_MAX_SPAN = 1024
export const DEFAULT_MAX_ANSWER_TOKENS = 16384
export const DEFAULT_MAX_OCCURRENCES = 100_000
/** No option may raise the answer cap past this. */
export const HARD_MAX_ANSWER_TOKENS = 1 << 20

export interface AttributionOptions {
  /** Shortest span that earns credit, in tokens. Default 4. */
  minSpan?: number
  /** Longest span looked for, in tokens (bounds the work per position). Default 1024. */
  maxSpan?: number
  /** Refuse a longer answer. Default 16384. */
  maxAnswerTokens?: number
  /** A span occurring more often than this credits the base model. Default 100000. */
  maxOccurrences?: number
}

export interface AttributedSpan {
  /** Offset of the span in the answer. */
  start: number
  /** Length of the match, in tokens. */
  length: number
  /** Distinct contributions whose documents contain the span, sorted; empty if too common. */
  contributions: string[]
  /** How many times the span occurs in the index. */
  occurrences: number
  /** How many answer tokens are credited through this span (<= length). */
  credited: number
}

export interface ContributionShare {
  contribution: string
  /** Fraction of the answer's tokens credited to this contribution. */
  share: number
  /** Reported spans that credit it. */
  spans: number
  /** Length of the longest of them. */
  longest: number
}

export interface Attribution {
  shares: ContributionShare[]
  /** Fraction of the answer's tokens credited to the base model. */
  baseShare: number
  /** Spans that credit at least one token, by start. */
  spans: AttributedSpan[]
  answerTokens: number
}

function intOption (name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < min || v > max) throw new InvalidRequestError(`${name} must be an integer in [${min}, ${max}]`, { [name]: v })
  return v
}

/**
 * Credits the answer's tokens to the index's contributions (see the header). Throws
 * InvalidRequestError for bad options, an answer over the cap, or a token that is not
 * an integer in [0, index.vocabSize).
 */
export function attributeSpans (index: SpanIndex, answer: ArrayLike<number>, opts: AttributionOptions = {}): Attribution {
  const minSpan = intOption('minSpan', opts.minSpan, DEFAULT_MIN_SPAN, 1, HARD_MAX_ANSWER_TOKENS)
  const maxSpan = intOption('maxSpan', opts.maxSpan, DEFAULT_MAX_SPAN, minSpan, HARD_MAX_ANSWER_TOKENS)
  const maxAnswer = intOption('maxAnswerTokens', opts.maxAnswerTokens, DEFAULT_MAX_ANSWER_TOKENS, 0, HARD_MAX_ANSWER_TOKENS)
  const maxOccurrences = intOption('maxOccurrences', opts.maxOccurrences, DEFAULT_MAX_OCCURRENCES, 1, Number.MAX_SAFE_INTEGER)
  if (answer == null || typeof answer !== 'object' || !Number.isSafeInteger(answer.length)) throw new InvalidRequestError('answer must be an array of token ids')
  if (answer.length > maxAnswer) throw new InvalidRequestError('answer too long to attribute', { tokens: answer.length, max: maxAnswer })
  index.checkTokens(answer, 'answer')
  const m = answer.length
  if (m === 0) return { shares: [], baseShare: 1, spans: [], answerTokens: 0 }

  // 1. Longest match at every position, with its suffix-array range.
  const { text, sa } = index
  const N = text.length
  const len = new Int32Array(m)
  const rangeLo = new Int32Array(m)
  const rangeHi = new Int32Array(m)
  for (let i = 0; i < m; i++) {
    const limit = Math.min(maxSpan, m - i)
    let lo = 0
    let hi = N
    let k = 0
    while (k < limit && lo < hi) {
      if (hi - lo === 1) {
        const p = sa[lo]
        while (k < limit && p + k < N && text[p + k] === answer[i + k]) k++
        break
      }
      const t = answer[i + k]
      const a = lowerBound(text, sa, lo, hi, k, t)
      const b = upperBound(text, sa, a, hi, k, t)
      if (a === b) break
      lo = a
      hi = b
      k++
    }
    len[i] = k
    rangeLo[i] = lo
    rangeHi[i] = hi
  }

  // 2. Maximal spans.
  const starts: number[] = []
  for (let i = 0; i < m; i++) {
    if (len[i] >= minSpan && (i === 0 || len[i] >= len[i - 1])) starts.push(i)
  }
  const K = starts.length
  const end = (s: number) => starts[s] + len[starts[s]]

  // 3. Each token's span: the covering spans form a window [first, next) of `starts`.
  const credited = new Int32Array(K)
  let uncovered = 0
  let first = 0
  let next = 0
  let owner = -1
  for (let j = 0; j < m; j++) {
    while (first < next && end(first) <= j) first++
    if (owner !== -1 && end(owner) <= j) owner = -1
    if (next < K && starts[next] === j) {
      if (owner !== -1 && len[j] > len[starts[owner]]) owner = next
      next++
    }
    if (owner === -1) {
      for (let s = first; s < next; s++) {
        if (owner === -1 || len[starts[s]] >= len[starts[owner]]) owner = s
      }
    }
    if (owner === -1) uncovered++
    else credited[owner]++
  }

  // 4. Contributions of each crediting span, and the split.
  const C = index.contributions.length
  const stamp = new Int32Array(C).fill(-1)
  const credit = new Float64Array(C)
  const spanCount = new Int32Array(C)
  const longest = new Int32Array(C)
  const spans: AttributedSpan[] = []
  let baseTokens = uncovered
  const found: number[] = []
  for (let s = 0; s < K; s++) {
    if (credited[s] === 0) continue
    const i = starts[s]
    const lo = rangeLo[i]
    const hi = rangeHi[i]
    const occurrences = hi - lo
    found.length = 0
    if (occurrences <= maxOccurrences) {
      for (let r = lo; r < hi; r++) {
        const c = index.docContribution[index.documentOf(sa[r])]
        if (stamp[c] !== s) {
          stamp[c] = s
          found.push(c)
        }
      }
    }
    if (found.length === 0) {
      baseTokens += credited[s]
    } else {
      const each = credited[s] / found.length
      for (const c of found) {
        credit[c] += each
        spanCount[c]++
        if (len[i] > longest[c]) longest[c] = len[i]
      }
    }
    const contributions = found.map(c => index.contributions[c]).sort(byCodeUnits)
    spans.push({ start: i, length: len[i], contributions, occurrences, credited: credited[s] })
  }

  const shares: ContributionShare[] = []
  for (let c = 0; c < C; c++) {
    if (spanCount[c] === 0) continue
    shares.push({ contribution: index.contributions[c], share: credit[c] / m, spans: spanCount[c], longest: longest[c] })
  }
  shares.sort((a, b) => b.share - a.share || byCodeUnits(a.contribution, b.contribution))
  return { shares, baseShare: baseTokens / m, spans, answerTokens: m }
}

function byCodeUnits (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
