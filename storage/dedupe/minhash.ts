// Near-duplicate text detection: MinHash signatures over word shingles, and an LSH
// index that finds the stored signatures close to a new one without comparing against
// all of them. Everything is integer arithmetic on 32-bit words (Math.imul, >>>), with
// UTF-8 shingle bytes and fixed seeds: the same text gives the same signature on every
// run and every machine, so signatures can be stored in records and compared later.

export const DEFAULT_SHINGLE_WORDS = 5
export const DEFAULT_SHINGLE_CHARS = 5
export const DEFAULT_NUM_PERM = 128
/** 'oplg': the seed every signature of this project uses unless told otherwise. */
export const DEFAULT_SEED = 0x6f706c67

export interface ShingleOptions {
  /** Words per shingle (default 5). */
  k?: number
  /** Characters per shingle for texts too short for word shingles (default 5). */
  charK?: number
  /** Fewest words for word shingles; shorter texts use character shingles (default 2k). */
  minWords?: number
}

export interface MinHashOptions extends ShingleOptions {
  /** Number of hash permutations = signature length (default 128). */
  numPerm?: number
  seed?: number
}

/**
 * Unicode NFKC, lower case, apostrophes dropped (so "don't" is "dont"), every other
 * punctuation or symbol character turned into a space, whitespace runs collapsed.
 */
export function normalizeText (text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/['\u2018\u2019\u02bc`\u00b4]/gu, '')
    .replace(/[\p{P}\p{S}]+/gu, ' ')
    .replace(/\s+/gu, ' ')
    .trim()
}

/**
 * The distinct shingles of a text: runs of k consecutive words of the normalized text,
 * or, when it has fewer than `minWords` words, runs of `charK` characters (a text
 * shorter than that is one shingle; an empty text has none).
 */
export function shingles (text: string, opts: ShingleOptions = {}): Set<string> {
  const k = opts.k ?? DEFAULT_SHINGLE_WORDS
  const charK = opts.charK ?? DEFAULT_SHINGLE_CHARS
  const minWords = opts.minWords ?? 2 * k
  if (!(k >= 1 && charK >= 1)) throw new RangeError('shingle sizes must be >= 1')
  const norm = normalizeText(text)
  const out = new Set<string>()
  if (norm === '') return out
  const words = norm.split(' ')
  if (words.length >= Math.max(minWords, k)) {
    for (let i = 0; i + k <= words.length; i++) out.add(words.slice(i, i + k).join(' '))
    return out
  }
  const chars = Array.from(norm) // code points, not UTF-16 units
  if (chars.length <= charK) {
    out.add(norm)
    return out
  }
  for (let i = 0; i + charK <= chars.length; i++) out.add(chars.slice(i, i + charK).join(''))
  return out
}

/** Exact Jaccard similarity |A ∩ B| / |A ∪ B| (two empty sets: 1). */
export function jaccard<T> (a: ReadonlySet<T>, b: ReadonlySet<T>): number {
  if (a.size === 0 && b.size === 0) return 1
  const [small, large] = a.size <= b.size ? [a, b] : [b, a]
  let inter = 0
  for (const x of small) if (large.has(x)) inter++
  return inter / (a.size + b.size - inter)
}

// --- 32-bit hashing -------------------------------------------------------------

/** murmur3's 32-bit finaliser: every input bit reaches every output bit (hashing ints, not a stream). */
export function fmix32 (h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** MurmurHash3 x86_32 of bytes[0..len). */
export function murmur3 (bytes: Uint8Array, len: number, seed: number): number {
  let h = seed >>> 0
  const tail = len & ~3
  for (let i = 0; i < tail; i += 4) {
    let k = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)
    k = Math.imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, 0x1b873593)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  const rem = len & 3
  if (rem > 0) {
    let k = 0
    if (rem === 3) k ^= bytes[tail + 2] << 16
    if (rem >= 2) k ^= bytes[tail + 1] << 8
    k ^= bytes[tail]
    k = Math.imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, 0x1b873593)
    h ^= k
  }
  h ^= len
  return fmix32(h)
}

/** splitmix32: the stream of constants each permutation is drawn from. */
function splitmix32 (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad)
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97)
    return (z ^ (z >>> 15)) >>> 0
  }
}

interface Permutations { seedA: number, seedB: number, a: Uint32Array, c: Uint32Array, b: Uint32Array }
const permCache = new Map<string, Permutations>()

// Permutation i maps a shingle with hashes (h1, h2) (two murmur3 seeds: a 64-bit key)
// to fmix32(a_i*h1 + c_i*h2 + b_i): a 2-universal step on the key followed by a
// bijective 32-bit finalizer.
function permutations (numPerm: number, seed: number): Permutations {
  const key = `${numPerm}:${seed >>> 0}`
  let p = permCache.get(key)
  if (p == null) {
    const next = splitmix32(seed)
    const a = new Uint32Array(numPerm)
    const c = new Uint32Array(numPerm)
    const b = new Uint32Array(numPerm)
    const seedA = next()
    const seedB = next()
    for (let i = 0; i < numPerm; i++) {
      a[i] = next() | 1
      c[i] = next() | 1
      b[i] = next()
    }
    p = { seedA, seedB, a, c, b }
    permCache.set(key, p)
  }
  return p
}

// --- signatures -----------------------------------------------------------------

/** MinHash signature of a set of shingles. An empty set gives all 0xffffffff. */
export function minhash (items: Iterable<string>, opts: MinHashOptions = {}): Uint32Array {
  const numPerm = opts.numPerm ?? DEFAULT_NUM_PERM
  if (!Number.isInteger(numPerm) || numPerm < 1) throw new RangeError('numPerm must be a positive integer')
  const { seedA, seedB, a, c, b } = permutations(numPerm, opts.seed ?? DEFAULT_SEED)
  const sig = new Uint32Array(numPerm).fill(0xffffffff)
  const enc = new TextEncoder()
  let buf = new Uint8Array(256)
  for (const s of items) {
    if (buf.length < s.length * 3) buf = new Uint8Array(s.length * 3)
    const len = enc.encodeInto(s, buf).written
    const h1 = murmur3(buf, len, seedA)
    const h2 = murmur3(buf, len, seedB)
    for (let i = 0; i < numPerm; i++) {
      const v = fmix32((Math.imul(a[i], h1) + Math.imul(c[i], h2) + b[i]) | 0)
      if (v < sig[i]) sig[i] = v
    }
  }
  return sig
}

/**
 * The near-duplicate sketch datanets store, by format version. Version 1 (5-word
 * shingles) let a copy with one word in 37 dropped fall to ~0.77 similarity, under the
 * 0.8 flag; version 2 uses 3-word shingles, where the same copy stays near 0.9 while
 * unrelated texts stay far apart. Sketches are compared only within one version.
 */
export const SKETCH_VERSION = 2
export const SKETCH_SHINGLE_WORDS: Readonly<Record<number, number>> = { 1: 5, 2: 3 }

export function sketchSignature (text: string, version: number = SKETCH_VERSION): Uint32Array {
  const k = SKETCH_SHINGLE_WORDS[version]
  if (k === undefined) throw new RangeError(`unknown sketch version ${version}`)
  return textSignature(text, { k })
}

/** shingles + minhash: the signature of a text. */
export function textSignature (text: string, opts: MinHashOptions = {}): Uint32Array {
  return minhash(shingles(text, opts), opts)
}

/** Estimated Jaccard similarity: the share of positions where the signatures agree. */
export function estimateSimilarity (a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length || a.length === 0) {
    throw new RangeError(`signatures differ in length (${a.length} vs ${b.length}) or are empty`)
  }
  let same = 0
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++
  return same / a.length
}

/** A signature as bytes: each value as 4 bytes little-endian, on every platform. */
export function signatureToBytes (sig: Uint32Array): Uint8Array {
  const out = new Uint8Array(sig.length * 4)
  const view = new DataView(out.buffer)
  for (let i = 0; i < sig.length; i++) view.setUint32(i * 4, sig[i], true)
  return out
}

export function signatureFromBytes (bytes: Uint8Array): Uint32Array {
  if (bytes.byteLength === 0 || bytes.byteLength % 4 !== 0) {
    throw new RangeError(`a signature is a non-empty multiple of 4 bytes, got ${bytes.byteLength}`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const sig = new Uint32Array(bytes.byteLength / 4)
  for (let i = 0; i < sig.length; i++) sig[i] = view.getUint32(i * 4, true)
  return sig
}

// --- LSH index --------------------------------------------------------------------

export interface LshOptions {
  /** Bands the signature is cut into (default 32). */
  bands?: number
  /** Values per band (default 4); bands * rows must not exceed the signature length. */
  rows?: number
}

export interface LshMatch {
  id: string
  /** estimateSimilarity between the query and the stored signature. */
  similarity: number
}

/**
 * The similarity at which a pair becomes a candidate with probability about 1/2:
 * (1/bands)^(1/rows). 32 x 4 gives ~0.42, so pairs at 0.7 are found with p > 0.99.
 */
export function lshThreshold (bands: number, rows: number): number {
  return Math.pow(1 / bands, 1 / rows)
}

/**
 * Locality-sensitive hashing over MinHash signatures: two signatures that agree on all
 * rows of any one band land in the same bucket. Candidates are then checked against
 * the stored signature, so query() never returns a pair below the threshold.
 */
export class LshIndex {
  readonly bands: number
  readonly rows: number
  readonly #buckets: Array<Map<string, Set<string>>>
  readonly #signatures = new Map<string, Uint32Array>()

  constructor (opts: LshOptions = {}) {
    this.bands = opts.bands ?? 32
    this.rows = opts.rows ?? 4
    if (!Number.isInteger(this.bands) || !Number.isInteger(this.rows) || this.bands < 1 || this.rows < 1) {
      throw new RangeError('bands and rows must be positive integers')
    }
    this.#buckets = Array.from({ length: this.bands }, () => new Map<string, Set<string>>())
  }

  get size (): number {
    return this.#signatures.size
  }

  has (id: string): boolean {
    return this.#signatures.has(id)
  }

  #bandKey (sig: Uint32Array, band: number): string {
    const start = band * this.rows
    let key = ''
    for (let r = 0; r < this.rows; r++) key += (r === 0 ? '' : ',') + sig[start + r].toString(36)
    return key
  }

  #check (sig: Uint32Array): void {
    if (sig.length < this.bands * this.rows) {
      throw new RangeError(`signature of ${sig.length} values is shorter than bands x rows = ${this.bands * this.rows}`)
    }
  }

  /** Index a signature under an id (replacing what the id had). */
  add (id: string, sig: Uint32Array): void {
    this.#check(sig)
    this.remove(id)
    const copy = Uint32Array.from(sig)
    this.#signatures.set(id, copy)
    for (let band = 0; band < this.bands; band++) {
      const key = this.#bandKey(copy, band)
      const table = this.#buckets[band]
      let bucket = table.get(key)
      if (bucket == null) {
        bucket = new Set()
        table.set(key, bucket)
      }
      bucket.add(id)
    }
  }

  remove (id: string): boolean {
    const sig = this.#signatures.get(id)
    if (sig == null) return false
    for (let band = 0; band < this.bands; band++) {
      const key = this.#bandKey(sig, band)
      const table = this.#buckets[band]
      const bucket = table.get(key)
      bucket?.delete(id)
      if (bucket?.size === 0) table.delete(key)
    }
    this.#signatures.delete(id)
    return true
  }

  /** Ids sharing a bucket with `sig` whose estimated similarity is >= threshold, best first. */
  query (sig: Uint32Array, threshold = 0): LshMatch[] {
    this.#check(sig)
    const candidates = new Set<string>()
    for (let band = 0; band < this.bands; band++) {
      const bucket = this.#buckets[band].get(this.#bandKey(sig, band))
      if (bucket != null) for (const id of bucket) candidates.add(id)
    }
    const out: LshMatch[] = []
    for (const id of candidates) {
      const stored = this.#signatures.get(id) as Uint32Array
      const similarity = estimateSimilarity(sig, stored)
      if (similarity >= threshold) out.push({ id, similarity })
    }
    out.sort((x, y) => y.similarity - x.similarity || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
    return out
  }
}
