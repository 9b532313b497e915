import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readSotuAddresses, readSpamAssassinMails } from '../storage/corpora/index.ts'
import type { SotuAddress } from '../storage/corpora/index.ts'
import {
  estimateSimilarity, jaccard, LshIndex, lshThreshold, minhash, murmur3, normalizeText, shingles,
  signatureFromBytes, signatureToBytes, textSignature
} from '../storage/dedupe/minhash.ts'

/** Replace `count` words of `text`, at deterministic pseudo-random positions. */
function editWords (text: string, count: number, seed: number): string {
  const words = text.split(/\s+/)
  let x = seed >>> 0
  for (let i = 0; i < count; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    words[x % words.length] = `edited${i}`
  }
  return words.join(' ')
}

function editFraction (text: string, fraction: number, seed: number): string {
  return editWords(text, Math.round(text.split(/\s+/).length * fraction), seed)
}

function wordsRange (text: string, from: number, to: number): string {
  const words = text.split(/\s+/)
  return words.slice(Math.floor(words.length * from), Math.floor(words.length * to)).join(' ')
}

describe('storage/dedupe/minhash', function () {
  this.timeout(60_000)
  let speeches: SotuAddress[]

  before(() => {
    speeches = readSotuAddresses()
  })

  describe('normalizing and shingling', () => {
    it('normalizes: NFKC, lower case, punctuation stripped, whitespace collapsed', () => {
      assert.equal(normalizeText('  Ｈｅｌｌｏ,\tWORLD!!  The ﬁle—isn\'t   “here”.\n'), 'hello world the file isnt here')
      assert.equal(normalizeText('...'), '')
    })

    it('word 5-shingles for prose, character shingles for very short texts', () => {
      const text = 'one two three four five six seven eight nine ten eleven twelve'
      const s = shingles(text)
      assert.equal(s.size, 8)
      assert.ok(s.has('one two three four five'))
      assert.ok(s.has('eight nine ten eleven twelve'))
      const short = shingles('Buy now!')
      assert.deepEqual([...short], ['buy n', 'uy no', 'y now'])
      assert.deepEqual([...shingles('Hi')], ['hi'])
      assert.equal(shingles('').size, 0)
    })

    it('murmur3 matches the reference MurmurHash3_x86_32 values', () => {
      const h = (s: string, seed: number): number => { const b = new TextEncoder().encode(s); return murmur3(b, b.length, seed) }
      assert.equal(h('', 0), 0)
      assert.equal(h('', 1), 0x514e28b7)
      assert.equal(h('Hello, world!', 1234), 0xfaf6cdb3)
      assert.equal(h('The quick brown fox jumps over the lazy dog', 0), 0x2e4ff723)
    })
  })

  describe('similarity', () => {
    it('identical texts (also re-cased, re-punctuated, re-spaced) estimate 1.0', () => {
      const text = speeches[100].text
      assert.equal(estimateSimilarity(textSignature(text), textSignature(text)), 1)
      const reformatted = text.toUpperCase().replace(/ /g, '  \n').replace(/\./g, ' ; ')
      assert.equal(estimateSimilarity(textSignature(text), textSignature(reformatted)), 1)
    })

    it('a speech with a few words changed is > 0.7 similar', () => {
      const original = speeches[150].text
      const edited = editWords(original, 10, 42)
      assert.notEqual(edited, original)
      const est = estimateSimilarity(textSignature(original), textSignature(edited))
      assert.ok(est > 0.7, `estimate ${est}`)
    })

    it('a short real mail with a few words changed is > 0.7 similar', () => {
      const mail = readSpamAssassinMails({ limit: 40 }).map(m => m.text.slice(m.text.search(/\r?\n\r?\n/)))
        .find(body => { const n = body.split(/\s+/).length; return n > 150 && n < 400 }) as string
      assert.ok(mail != null)
      const est = estimateSimilarity(textSignature(mail), textSignature(editWords(mail, 3, 7)))
      assert.ok(est > 0.7, `estimate ${est}`)
    })

    it('unrelated speeches (Washington 1790, Biden 2021) are < 0.2 similar', () => {
      const a = speeches[0]
      const b = speeches.at(-1) as SotuAddress
      assert.equal(a.name, '1790-george-washington')
      assert.equal(b.name, '2021-joseph-r-biden')
      const est = estimateSimilarity(textSignature(a.text), textSignature(b.text))
      assert.ok(est < 0.2, `estimate ${est}`)
      // And two consecutive addresses of one president are still different texts.
      const c = speeches.find(s => s.name === '1862-abraham-lincoln') as SotuAddress
      const d = speeches.find(s => s.name === '1863-abraham-lincoln') as SotuAddress
      assert.ok(estimateSimilarity(textSignature(c.text), textSignature(d.text)) < 0.2)
    })

    it('estimates are within ±0.1 of the exact Jaccard of the shingle sets on real text pairs', () => {
      const errors: number[] = []
      for (let i = 0; i < speeches.length - 1; i += 29) {
        const text = speeches[i].text
        const pairs: Array<[string, string, string]> = [
          ['5% of words edited', text, editFraction(text, 0.05, i + 1)],
          ['25% of words edited', text, editFraction(text, 0.25, i + 2)],
          ['overlapping windows 0-70% / 30-100%', wordsRange(text, 0, 0.7), wordsRange(text, 0.3, 1)],
          ['next address', text, speeches[i + 1].text]
        ]
        for (const [what, a, b] of pairs) {
          const sa = shingles(a)
          const sb = shingles(b)
          const exact = jaccard(sa, sb)
          const est = estimateSimilarity(minhash(sa), minhash(sb))
          assert.ok(Math.abs(est - exact) <= 0.1, `${speeches[i].name}, ${what}: estimate ${est}, exact ${exact.toFixed(3)}`)
          errors.push(Math.abs(est - exact))
        }
      }
      const mean = errors.reduce((s, e) => s + e, 0) / errors.length
      assert.ok(mean < 0.04, `mean absolute error ${mean}`)
    })
  })

  describe('determinism and serialization', () => {
    it('the same text gives the same signature on every run (golden value)', () => {
      const text = speeches.find(s => s.name === '1863-abraham-lincoln')?.text as string
      const sig = textSignature(text)
      assert.equal(sig.length, 128)
      assert.deepEqual(textSignature(text), sig)
      // Locks the hash functions, seeds and byte order: a change here breaks every stored signature.
      assert.equal(createHash('sha256').update(signatureToBytes(sig)).digest('hex'), GOLDEN_LINCOLN_1863)
      assert.deepEqual(Array.from(textSignature('The quick brown fox jumps over the lazy dog').subarray(0, 4)), GOLDEN_FOX_HEAD)
    })

    it('signatures round-trip through bytes (4 bytes each, little-endian)', () => {
      const sig = textSignature(speeches[7].text)
      const bytes = signatureToBytes(sig)
      assert.equal(bytes.length, 512)
      assert.equal(bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | ((bytes[3] << 24) >>> 0), sig[0] | 0)
      assert.deepEqual(signatureFromBytes(bytes), sig)
      // From an unaligned view into a bigger buffer, too.
      const framed = new Uint8Array(bytes.length + 3)
      framed.set(bytes, 3)
      assert.deepEqual(signatureFromBytes(framed.subarray(3)), sig)
      assert.throws(() => signatureFromBytes(bytes.subarray(0, 7)), RangeError)
      assert.throws(() => estimateSimilarity(sig, sig.subarray(0, 64)), RangeError)
    })
  })

  describe('LSH index', () => {
    it('finds the near-duplicate of one address among all 233, and nothing for an unrelated query', () => {
      const index = new LshIndex({ bands: 32, rows: 4 })
      for (const s of speeches) index.add(s.name, textSignature(s.text))
      assert.equal(index.size, speeches.length)
      assert.ok(Math.abs(lshThreshold(32, 4) - 0.42) < 0.01)

      const target = speeches[150]
      const hits = index.query(textSignature(editWords(target.text, 10, 42)), 0.7)
      assert.equal(hits.length, 1)
      assert.equal(hits[0].id, target.name)
      assert.ok(hits[0].similarity > 0.7)

      const fresh = 'We hold these truths to be self-evident, that all men are created equal, that they are endowed by their Creator with certain unalienable Rights, that among these are Life, Liberty and the pursuit of Happiness.'
      assert.deepEqual(index.query(textSignature(fresh), 0.5), [])

      // Removing and replacing.
      assert.equal(index.remove(target.name), true)
      assert.deepEqual(index.query(textSignature(target.text), 0.7), [])
      index.add(target.name, textSignature(target.text))
      assert.deepEqual(index.query(textSignature(target.text), 0.99).map(h => h.id), [target.name])
    })
  })
})

// Recorded from this implementation (murmur3 x86_32 seeds from splitmix32(0x6f706c67), 128
// permutations); independent of platform, Node version and run.
const GOLDEN_LINCOLN_1863 = 'd44843e654fb8d754a869730da3df7de46fb99ce13c43799ea5e8ef85158cbeb'
const GOLDEN_FOX_HEAD = [148844457, 138510443, 138166292, 58006276]
