// Hashed n-gram features for the text classifier: word unigrams and bigrams, hashed
// into a fixed number of buckets (the hashing trick), so the model needs no vocabulary
// and any text maps to at most `maxFeatures` (bucket, weight) pairs.

export interface FeatureConfig {
  /** Number of hash buckets: rows of the embedding table. */
  buckets: number
  /** Features kept per document (the most frequent). */
  maxFeatures: number
  /** Only the first this many characters of a document are read. */
  maxChars: number
}

export interface Features {
  /** Bucket ids, `maxFeatures` per document, padded with 0. */
  ids: BigInt64Array
  /** Their weights (log-scaled counts, summing to 1 per document; 0 on padding). */
  weights: Float32Array
}

const WORD = /[a-z0-9$!@'%-]+/g

export function featurize (texts: readonly string[], cfg: FeatureConfig): Features {
  const k = cfg.maxFeatures
  const ids = new BigInt64Array(texts.length * k)
  const weights = new Float32Array(texts.length * k)
  texts.forEach((text, doc) => {
    const counts = new Map<number, number>()
    const words = text.slice(0, cfg.maxChars).toLowerCase().match(WORD) ?? []
    let prev = ''
    for (const word of words) {
      bump(counts, fnv1a(word, 0x811c9dc5) % cfg.buckets)
      if (prev !== '') bump(counts, fnv1a(`${prev} ${word}`, 0x01000193) % cfg.buckets)
      prev = word
    }
    // Most frequent first; ties by bucket id, so the choice is deterministic.
    const top = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, k)
    let total = 0
    for (const [, c] of top) total += Math.log1p(c)
    top.forEach(([bucket, c], i) => {
      ids[doc * k + i] = BigInt(bucket)
      weights[doc * k + i] = Math.log1p(c) / total
    })
  })
  return { ids, weights }
}

function bump (counts: Map<number, number>, key: number): void {
  counts.set(key, (counts.get(key) ?? 0) + 1)
}

/** FNV-1a over UTF-16 code units, 32-bit. */
function fnv1a (s: string, seed: number): number {
  let h = seed >>> 0
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}
