// Suffix arrays over token sequences, for exact span matching at inference time (as
// infini-gram does): every occurrence of a span of tokens in an indexed corpus is a
// contiguous range of the suffix array, found by binary search without an LCP array.
//
// Construction is SA-IS (Nong, Zhang & Chan 2009), linear time, over typed arrays only
// (a port of the AtCoder Library's sa_is). Order: tokens compare as integers and a
// suffix that is a prefix of another sorts first (the end of the text is below every
// token). checkSuffixArray verifies a suffix array fully in linear time (Burkhardt &
// Kärkkäinen's check), so one read from a peer never has to be trusted.

/** Below every token and separator: what a suffix holds past the end of the text. */
export const END_OF_TEXT = -2147483648

/** Below this many suffixes a comparison sort is simpler and as fast. */
const NAIVE_BELOW = 10

/**
 * The suffix array of `text`, whose values must be integers in [0, alphabetSize):
 * sa[r] is the start of the r-th smallest suffix. Throws RangeError on a value out of
 * range (callers check their input first; this guards the bucket arrays).
 */
export function buildSuffixArray (text: Int32Array, alphabetSize: number): Int32Array {
  if (!Number.isInteger(alphabetSize) || alphabetSize < 1) throw new RangeError(`alphabetSize must be a positive integer, got ${alphabetSize}`)
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c < 0 || c >= alphabetSize) throw new RangeError(`text[${i}] = ${c} is outside [0, ${alphabetSize})`)
  }
  return saIs(text, alphabetSize - 1)
}

function saNaive (s: Int32Array): Int32Array {
  const n = s.length
  const idx = Array.from({ length: n }, (_, i) => i)
  idx.sort((a, b) => {
    if (a === b) return 0
    while (a < n && b < n) {
      if (s[a] !== s[b]) return s[a] - s[b]
      a++
      b++
    }
    return a === n ? -1 : 1
  })
  return Int32Array.from(idx)
}

// s holds values in [0, upper]. Suffix types: S (ls = 1) if smaller than the next
// suffix, else L; the last suffix is L. LMS positions are S positions after an L.
function saIs (s: Int32Array, upper: number): Int32Array {
  const n = s.length
  if (n === 0) return new Int32Array(0)
  if (n === 1) return Int32Array.of(0)
  if (n === 2) return s[0] < s[1] ? Int32Array.of(0, 1) : Int32Array.of(1, 0)
  if (n < NAIVE_BELOW) return saNaive(s)

  const sa = new Int32Array(n)
  const ls = new Uint8Array(n)
  for (let i = n - 2; i >= 0; i--) ls[i] = s[i] === s[i + 1] ? ls[i + 1] : (s[i] < s[i + 1] ? 1 : 0)

  // sumL[c]: where bucket c starts (its L suffixes come first); sumS[c]: where its S suffixes start.
  const sumL = new Int32Array(upper + 2)
  const sumS = new Int32Array(upper + 2)
  for (let i = 0; i < n; i++) {
    if (ls[i] === 0) sumS[s[i]]++
    else sumL[s[i] + 1]++
  }
  for (let c = 0; c <= upper; c++) {
    sumS[c] += sumL[c]
    if (c < upper) sumL[c + 1] += sumS[c]
  }
  const buf = new Int32Array(upper + 2)

  // Induced sorting: LMS suffixes (in the given order) at the ends of their buckets'
  // S parts, then L suffixes left to right, then S suffixes right to left.
  const induce = (lms: Int32Array): void => {
    sa.fill(-1)
    buf.set(sumS)
    for (let k = 0; k < lms.length; k++) {
      const d = lms[k]
      sa[buf[s[d]]++] = d
    }
    buf.set(sumL)
    sa[buf[s[n - 1]]++] = n - 1
    for (let i = 0; i < n; i++) {
      const v = sa[i]
      if (v >= 1 && ls[v - 1] === 0) sa[buf[s[v - 1]]++] = v - 1
    }
    buf.set(sumL)
    for (let i = n - 1; i >= 0; i--) {
      const v = sa[i]
      if (v >= 1 && ls[v - 1] === 1) sa[--buf[s[v - 1] + 1]] = v - 1
    }
  }

  const lmsMap = new Int32Array(n + 1).fill(-1)
  let m = 0
  for (let i = 1; i < n; i++) if (ls[i - 1] === 0 && ls[i] === 1) lmsMap[i] = m++
  const lms = new Int32Array(m)
  for (let i = 1, k = 0; i < n; i++) if (ls[i - 1] === 0 && ls[i] === 1) lms[k++] = i

  induce(lms)

  if (m > 0) {
    const sortedLms = new Int32Array(m)
    for (let i = 0, k = 0; i < n; i++) {
      const v = sa[i]
      if (lmsMap[v] !== -1) sortedLms[k++] = v
    }
    // Name each LMS substring by its rank among the distinct ones; equal substrings share a name.
    const recS = new Int32Array(m)
    let recUpper = 0
    recS[lmsMap[sortedLms[0]]] = 0
    for (let i = 1; i < m; i++) {
      let l = sortedLms[i - 1]
      let r = sortedLms[i]
      const endL = lmsMap[l] + 1 < m ? lms[lmsMap[l] + 1] : n
      const endR = lmsMap[r] + 1 < m ? lms[lmsMap[r] + 1] : n
      let same = true
      if (endL - l !== endR - r) {
        same = false
      } else {
        while (l < endL) {
          if (s[l] !== s[r]) break
          l++
          r++
        }
        if (l === n || s[l] !== s[r]) same = false
      }
      if (!same) recUpper++
      recS[lmsMap[sortedLms[i]]] = recUpper
    }
    const recSa = saIs(recS, recUpper)
    for (let i = 0; i < m; i++) sortedLms[i] = lms[recSa[i]]
    induce(sortedLms)
  }
  return sa
}

/**
 * Checks that `sa` is exactly the suffix array of `text` (any integer values, compared
 * as integers) in O(n): a permutation whose adjacent suffixes (a, b) have text[a] <
 * text[b], or equal first tokens and rank(a + 1) < rank(b + 1), with the empty suffix
 * ranked lowest. Returns -1 if it is, else the first rank where it is not.
 */
export function checkSuffixArray (text: Int32Array, sa: Int32Array): number {
  const n = text.length
  if (sa.length !== n) return 0
  const rank = new Int32Array(n).fill(-1)
  for (let r = 0; r < n; r++) {
    const p = sa[r]
    if (p < 0 || p >= n || rank[p] !== -1) return r
    rank[p] = r
  }
  for (let r = 1; r < n; r++) {
    const a = sa[r - 1]
    const b = sa[r]
    const ta = text[a]
    const tb = text[b]
    if (ta < tb) continue
    if (ta > tb) return r
    const ra = a + 1 < n ? rank[a + 1] : -1
    const rb = b + 1 < n ? rank[b + 1] : -1
    if (ra >= rb) return r
  }
  return -1
}

/**
 * The first rank in [lo, hi) whose suffix has a token >= `token` at offset `depth`
 * (hi if none). The suffixes in [lo, hi) must share their first `depth` tokens.
 */
export function lowerBound (text: Int32Array, sa: Int32Array, lo: number, hi: number, depth: number, token: number): number {
  const n = text.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const p = sa[mid] + depth
    const v = p < n ? text[p] : END_OF_TEXT
    if (v < token) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** As lowerBound, for the first rank whose token at `depth` is > `token`. */
export function upperBound (text: Int32Array, sa: Int32Array, lo: number, hi: number, depth: number, token: number): number {
  const n = text.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const p = sa[mid] + depth
    const v = p < n ? text[p] : END_OF_TEXT
    if (v <= token) lo = mid + 1
    else hi = mid
  }
  return lo
}

export interface SuffixRange {
  /** First rank of the suffixes that start with the pattern. */
  lo: number
  /** One past the last; hi - lo is the number of occurrences. */
  hi: number
}

/**
 * The ranks [lo, hi) of the suffixes that start with `pattern`, narrowed one token at
 * a time (two binary searches per token, within the previous range). An empty pattern
 * matches every suffix; no occurrence gives lo === hi.
 */
export function findRange (text: Int32Array, sa: Int32Array, pattern: ArrayLike<number>): SuffixRange {
  let lo = 0
  let hi = sa.length
  for (let k = 0; k < pattern.length && lo < hi; k++) {
    const t = pattern[k]
    const a = lowerBound(text, sa, lo, hi, k, t)
    hi = upperBound(text, sa, a, hi, k, t)
    lo = a
  }
  return { lo, hi }
}
