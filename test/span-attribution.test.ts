import assert from 'node:assert/strict'
import { attributeSpans, type Attribution } from '../compute/attribution/span-attribution.ts'
import { SpanIndex, SEPARATOR, type SpanDocument } from '../compute/attribution/span-index.ts'
import { buildSuffixArray, checkSuffixArray } from '../compute/attribution/suffix-array.ts'
import { BadTrainingDataError, InvalidRequestError, MalformedArtifactError } from '../compute/errors.ts'
import { Rng } from '../compute/random.ts'
import { sotuTexts } from '../compute/tokenizer/corpus-text.ts'
import { trainBpe } from '../compute/tokenizer/train.ts'
import { expectThrows } from './helpers/expect-throws.ts'

/** Reference: sort suffix starts with a plain comparison (a proper prefix sorts first). */
function naiveSuffixArray (s: ArrayLike<number>): number[] {
  const n = s.length
  return [...Array(n).keys()].sort((a, b) => {
    while (a < n && b < n) {
      if (s[a] !== s[b]) return s[a] - s[b]
      a++
      b++
    }
    return a === n ? -1 : 1
  })
}

/** Reference: every document position where the pattern starts, in joined-text coordinates. */
function naiveFind (docs: SpanDocument[], pattern: number[]): number[] {
  const out: number[] = []
  let base = 0
  for (const d of docs) {
    for (let p = 0; p + pattern.length <= d.tokens.length; p++) {
      if (pattern.every((t, k) => d.tokens[p + k] === t)) out.push(base + p)
    }
    base += d.tokens.length + 1
  }
  return out
}

function randomTokens (rng: Rng, n: number, alphabet: number): Int32Array {
  const out = new Int32Array(n)
  for (let i = 0; i < n; i++) out[i] = rng.int(alphabet)
  return out
}

/** Random text with repeats: random runs, periodic stretches and copies of earlier stretches. */
function repetitiveTokens (rng: Rng, n: number, alphabet: number): Int32Array {
  const out = new Int32Array(n)
  let i = 0
  while (i < n) {
    const kind = rng.int(3)
    const len = Math.min(n - i, 1 + rng.int(20))
    if (kind === 0 || i === 0) {
      for (let k = 0; k < len; k++) out[i + k] = rng.int(alphabet)
    } else if (kind === 1) {
      const period = 1 + rng.int(3)
      for (let k = 0; k < len; k++) out[i + k] = k < period ? rng.int(alphabet) : out[i + k - period]
    } else {
      const from = rng.int(i)
      for (let k = 0; k < len; k++) out[i + k] = out[from + k]
    }
    i += len
  }
  return out
}

function sumOfShares (a: Attribution): number {
  return a.shares.reduce((s, x) => s + x.share, 0) + a.baseShare
}

function shareOf (a: Attribution, contribution: string): number {
  return a.shares.find(s => s.contribution === contribution)?.share ?? 0
}

describe('span attribution (suffix array, exact span matching)', function () {
  this.timeout(30_000)

  describe('suffix array', () => {
    it('equals a naive sort on random small sequences, with repeats and small alphabets', () => {
      for (let seed = 1; seed <= 6; seed++) {
        const rng = new Rng(seed)
        for (let trial = 0; trial < 60; trial++) {
          const n = rng.int(300)
          const alphabet = 1 + rng.int(seed)
          const s = trial % 2 === 0 ? randomTokens(rng, n, alphabet) : repetitiveTokens(rng, n, alphabet)
          const sa = buildSuffixArray(s, alphabet)
          assert.deepEqual([...sa], naiveSuffixArray(s), `seed ${seed} trial ${trial}: ${[...s].join(',')}`)
          assert.equal(checkSuffixArray(s, sa), -1)
        }
      }
      for (const s of [[], [0], [0, 0], [1, 0], [0, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0, 2]]) {
        assert.deepEqual([...buildSuffixArray(Int32Array.from(s), 3)], naiveSuffixArray(s))
      }
    })

    it('the linear check refuses a swapped pair, a repeated rank and a wrong length', () => {
      const rng = new Rng(9)
      for (let trial = 0; trial < 50; trial++) {
        const s = repetitiveTokens(rng, 20 + rng.int(200), 1 + rng.int(4))
        const sa = buildSuffixArray(s, 5)
        const r = 1 + rng.int(sa.length - 1)
        const swapped = sa.slice()
        swapped[r - 1] = sa[r]
        swapped[r] = sa[r - 1]
        assert.notEqual(checkSuffixArray(s, swapped), -1)
        const repeated = sa.slice()
        repeated[r] = sa[r - 1]
        assert.notEqual(checkSuffixArray(s, repeated), -1)
      }
      assert.notEqual(checkSuffixArray(Int32Array.of(1, 2), Int32Array.of(0)), -1)
    })

    it('refuses values outside the alphabet', () => {
      assert.throws(() => buildSuffixArray(Int32Array.of(0, 3), 3), RangeError)
      assert.throws(() => buildSuffixArray(Int32Array.of(0, -1), 3), RangeError)
    })
  })

  describe('SpanIndex count/find', () => {
    it('equal a naive scan, and no match crosses documents', () => {
      for (let seed = 1; seed <= 4; seed++) {
        const rng = new Rng(100 + seed)
        const alphabet = 2 + seed
        const docs: SpanDocument[] = []
        for (let d = 0; d < 12; d++) docs.push({ contribution: `c${d % 5}`, tokens: repetitiveTokens(rng, rng.int(80), alphabet) })
        const index = SpanIndex.build(docs, { vocabSize: alphabet })
        assert.equal(index.length, docs.reduce((s, d) => s + d.tokens.length + 1, 0))
        for (let q = 0; q < 200; q++) {
          const len = 1 + rng.int(8)
          let pattern: number[]
          if (q % 2 === 0) {
            // From the text, possibly straddling a document boundary (then it must not match there).
            const at = rng.int(index.length)
            pattern = [...index.text.subarray(at, at + len)].map(t => (t === SEPARATOR ? rng.int(alphabet) : t))
          } else {
            pattern = [...randomTokens(rng, len, alphabet)]
          }
          const expected = naiveFind(docs, pattern)
          assert.equal(index.count(pattern), expected.length, `pattern ${pattern.join(',')}`)
          assert.deepEqual([...index.find(pattern)], expected)
        }
      }
    })

    it('locates positions in their documents and contributions', () => {
      const index = SpanIndex.build([
        { contribution: 'a', tokens: Int32Array.of(1, 2, 3) },
        { contribution: 'b', tokens: Int32Array.of() },
        { contribution: 'a', tokens: Int32Array.of(4, 5) }
      ], { vocabSize: 8 })
      assert.deepEqual(index.contributions, ['a', 'b'])
      assert.deepEqual(index.locate(2), { document: 0, offset: 2, contribution: 'a' })
      assert.deepEqual(index.locate(4), { document: 1, offset: 0, contribution: 'b' })
      assert.deepEqual(index.locate(6), { document: 2, offset: 1, contribution: 'a' })
      assert.deepEqual([...index.find([4, 5])], [5])
      assert.equal(index.count([3, 4]), 0, 'document 0 ends before 4')
      expectThrows(() => index.locate(8), InvalidRequestError)
    })
  })

  describe('attributeSpans', () => {
    // Tokens 1..60 are "words"; each document is a distinct run so spans are unambiguous.
    const run = (from: number, n: number) => Array.from({ length: n }, (_, k) => from + k)
    const docs: SpanDocument[] = [
      { contribution: 'alice', tokens: Int32Array.from([...run(1, 12), ...run(40, 6)]) },
      { contribution: 'bob', tokens: Int32Array.from([...run(20, 10), ...run(40, 6)]) },
      { contribution: 'carol', tokens: Int32Array.from(run(50, 8)) },
      { contribution: 'carol', tokens: Int32Array.from(run(50, 8)) },
      { contribution: 'dave', tokens: Int32Array.from(run(60, 5)) },
      { contribution: 'erin', tokens: Int32Array.from(run(63, 9)) }
    ]
    const index = SpanIndex.build(docs, { vocabSize: 100 })

    it('credits the contribution a span was copied from, and the base with the rest', () => {
      const answer = [90, 91, ...run(3, 8), 92, 93]
      const a = attributeSpans(index, answer)
      assert.deepEqual(a.shares, [{ contribution: 'alice', share: 8 / 12, spans: 1, longest: 8 }])
      assert.equal(a.baseShare, 4 / 12)
      assert.deepEqual(a.spans, [{ start: 2, length: 8, contributions: ['alice'], occurrences: 1, credited: 8 }])
      assert.ok(Math.abs(sumOfShares(a) - 1) < 1e-9)
    })

    it('splits a span found in two contributions evenly; a contribution repeating a span gets no more', () => {
      const a = attributeSpans(index, [...run(40, 6), 95, ...run(50, 8)])
      assert.deepEqual(a.spans.map(s => [s.start, s.length, s.contributions, s.occurrences]), [[0, 6, ['alice', 'bob'], 2], [7, 8, ['carol'], 2]])
      assert.equal(shareOf(a, 'alice'), 3 / 15)
      assert.equal(shareOf(a, 'bob'), 3 / 15)
      assert.equal(shareOf(a, 'carol'), 8 / 15)
      assert.equal(a.baseShare, 1 / 15)
      assert.deepEqual(a.shares.map(s => s.contribution), ['carol', 'alice', 'bob'], 'by share, ties by id')
      assert.ok(Math.abs(sumOfShares(a) - 1) < 1e-9)
    })

    it('ignores spans shorter than minSpan and credits each token through the longest span covering it', () => {
      // 20..22 (bob, 3 tokens) then 5..9 (alice): with minSpan 4 only alice counts.
      const short = attributeSpans(index, [...run(20, 3), ...run(5, 5)])
      assert.deepEqual(short.shares.map(s => [s.contribution, s.share]), [['alice', 5 / 8]])
      assert.equal(attributeSpans(index, [...run(20, 3), ...run(5, 5)], { minSpan: 3 }).shares.length, 2)
      // dave holds 60..64, erin 63..71: the answer 60..71 matches both, overlapping on 63, 64.
      const overlap = attributeSpans(index, run(60, 12))
      assert.deepEqual(overlap.spans.map(s => [s.start, s.length, s.contributions, s.credited]), [[0, 5, ['dave'], 3], [3, 9, ['erin'], 9]])
      assert.deepEqual(overlap.shares.map(s => [s.contribution, s.share]), [['erin', 9 / 12], ['dave', 3 / 12]])
      assert.equal(overlap.baseShare, 0)
    })

    it('a copy longer than maxSpan is credited through few spans', () => {
      const long = SpanIndex.build([{ contribution: 'x', tokens: Int32Array.from(run(0, 40)) }], { vocabSize: 64 })
      const a = attributeSpans(long, run(0, 40), { maxSpan: 8, minSpan: 4 })
      assert.deepEqual(a.spans.map(s => [s.start, s.credited]), [[0, 8], [8, 8], [16, 8], [24, 8], [32, 8]])
      assert.deepEqual(a.shares, [{ contribution: 'x', share: 1, spans: 5, longest: 8 }])
      assert.equal(a.baseShare, 0)
    })

    it('a span too common to attribute credits the base', () => {
      const a = attributeSpans(index, run(50, 8), { maxOccurrences: 1 })
      assert.equal(a.baseShare, 1)
      assert.deepEqual(a.shares, [])
      assert.deepEqual(a.spans[0].contributions, [])
    })

    it('an empty answer is all base; bad tokens, oversize answers and bad options are refused', () => {
      assert.deepEqual(attributeSpans(index, new Int32Array(0)), { shares: [], baseShare: 1, spans: [], answerTokens: 0 })
      const empty = SpanIndex.build([], { vocabSize: 10 })
      assert.equal(attributeSpans(empty, [1, 2, 3, 4, 5]).baseShare, 1)
      for (const bad of [[1, 100], [1, -1], [1.5], [Number.NaN], ['3' as unknown as number]]) {
        expectThrows(() => attributeSpans(index, bad), InvalidRequestError)
      }
      expectThrows(() => attributeSpans(index, new Int32Array(11), { maxAnswerTokens: 10 }), InvalidRequestError)
      expectThrows(() => attributeSpans(index, [1], { minSpan: 0 }), InvalidRequestError)
      expectThrows(() => attributeSpans(index, [1], { minSpan: 4, maxSpan: 3 }), InvalidRequestError)
      expectThrows(() => attributeSpans(index, null as unknown as number[]), InvalidRequestError)
      expectThrows(() => index.count([100]), InvalidRequestError)
    })

    it('refuses documents it cannot index', () => {
      expectThrows(() => SpanIndex.build([{ contribution: 'a', tokens: [1, 10] }], { vocabSize: 10 }), BadTrainingDataError)
      expectThrows(() => SpanIndex.build([{ contribution: '', tokens: [1] }], { vocabSize: 10 }), BadTrainingDataError)
      expectThrows(() => SpanIndex.build([{ contribution: 'a', tokens: new Int32Array(10) }], { vocabSize: 10, maxTokens: 10 }), BadTrainingDataError)
      expectThrows(() => SpanIndex.build([], { vocabSize: 0 }), BadTrainingDataError)
    })
  })

  describe('bytes', () => {
    const rng = new Rng(7)
    const docs: SpanDocument[] = []
    for (let d = 0; d < 6; d++) docs.push({ contribution: `bafy-${d % 4}`, tokens: repetitiveTokens(rng, 30 + rng.int(50), 6) })
    const index = SpanIndex.build(docs, { vocabSize: 6 })
    const bytes = index.toBytes()
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true))
    const dataStart = 8 + headerLen
    const n = index.length
    const D = index.documentCount
    const header = () => JSON.parse(new TextDecoder().decode(bytes.subarray(8, dataStart))) as Record<string, unknown>
    const withHeader = (h: Record<string, unknown>) => {
      let json = new TextEncoder().encode(JSON.stringify(h))
      const pad = (4 - (json.length % 4)) % 4
      json = Uint8Array.from([...json, ...new Array(pad).fill(0x20)])
      const out = new Uint8Array(8 + json.length + bytes.length - dataStart)
      new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
      out.set(json, 8)
      out.set(bytes.subarray(dataStart), 8 + json.length)
      return out
    }
    const setInt = (b: Uint8Array, section: number, i: number, v: number) => {
      new DataView(b.buffer, b.byteOffset).setInt32(dataStart + 4 * (section + i), v, true)
    }
    const getInt = (b: Uint8Array, section: number, i: number) => new DataView(b.buffer, b.byteOffset).getInt32(dataStart + 4 * (section + i), true)
    const TEXT = 0
    const SA = n
    const STARTS = 2 * n
    const CONTRIB = 2 * n + D + 1

    it('round-trips, byte for byte, from an unaligned copy', () => {
      const shifted = new Uint8Array(bytes.length + 1)
      shifted.set(bytes, 1)
      const back = SpanIndex.fromBytes(shifted.subarray(1))
      assert.deepEqual(back.toBytes(), bytes)
      assert.deepEqual(back.contributions, index.contributions)
      const answer = [...index.text.subarray(docs[0].tokens.length + 1, docs[0].tokens.length + 13)]
      assert.deepEqual(attributeSpans(back, answer), attributeSpans(index, answer))
    })

    it('refuses corrupted bytes', () => {
      const cases: Array<[string, Uint8Array | (() => Uint8Array)]> = [
        ['truncated', bytes.subarray(0, bytes.length - 4)],
        ['trailing byte', Uint8Array.from([...bytes, 0])],
        ['too short', bytes.subarray(0, 5)],
        ['header length', (() => { const b = bytes.slice(); new DataView(b.buffer).setBigUint64(0, 1n << 40n, true); return b })()],
        ['not JSON', (() => { const b = bytes.slice(); b[8] = 0x7b; b[9] = 0x7b; return b })()],
        ['unknown key', () => withHeader({ ...header(), extra: 1 })],
        ['other format', () => withHeader({ ...header(), format: 'openledger/span-index/2' })],
        ['token count', () => withHeader({ ...header(), tokens: n - 1 })],
        ['vocab too small for the text', () => withHeader({ ...header(), vocabSize: 3 })],
        ['contribution listed twice', () => withHeader({ ...header(), contributions: ['bafy-0', 'bafy-0', 'bafy-2', 'bafy-3'] })],
        ['unused contribution', () => withHeader({ ...header(), contributions: [...index.contributions, 'bafy-9'] })],
        ['token out of range', () => { const b = bytes.slice(); setInt(b, TEXT, 0, 6); return b }],
        ['separator inside a document', () => { const b = bytes.slice(); setInt(b, TEXT, 1, SEPARATOR); return b }],
        ['separator missing', () => { const b = bytes.slice(); setInt(b, TEXT, n - 1, 0); return b }],
        ['suffix array not a permutation', () => { const b = bytes.slice(); setInt(b, SA, 3, getInt(b, SA, 4)); return b }],
        ['suffix array out of range', () => { const b = bytes.slice(); setInt(b, SA, 0, n); return b }],
        ['suffix array unsorted', () => {
          const b = bytes.slice()
          const x = getInt(b, SA, 10)
          setInt(b, SA, 10, getInt(b, SA, 11))
          setInt(b, SA, 11, x)
          return b
        }],
        ['document starts', () => { const b = bytes.slice(); setInt(b, STARTS, 0, 1); return b }],
        ['document starts decreasing', () => { const b = bytes.slice(); setInt(b, STARTS, 2, getInt(b, STARTS, 1)); return b }],
        ['contribution out of range', () => { const b = bytes.slice(); setInt(b, CONTRIB, 0, 4); return b }]
      ]
      for (const [what, make] of cases) {
        const b = typeof make === 'function' ? make() : make
        const err = expectThrows(() => SpanIndex.fromBytes(b), MalformedArtifactError)
        assert.equal(err.name, 'MalformedArtifactError', what)
      }
      expectThrows(() => SpanIndex.fromBytes(bytes, { maxBytes: bytes.length - 1 }), MalformedArtifactError)
      expectThrows(() => SpanIndex.fromBytes(bytes, { maxTokens: n - 1 }), MalformedArtifactError)
    })
  })

  describe('on State of the Union addresses tokenized with the BPE tokenizer', () => {
    const picks = ['1862_abraham_lincoln_r', '1934_franklin_d_roosevelt_d', '1962_john_f_kennedy_d', '2002_george_w_bush_r', '2014_barack_obama_d']
    const addresses = sotuTexts().filter(t => picks.includes(t.name))
    const tokenizer = trainBpe(addresses.map(a => a.text), { vocabSize: 1024 })
    const index = SpanIndex.build(addresses.map(a => ({ contribution: a.name, tokens: tokenizer.encode(a.text) })), { vocabSize: tokenizer.vocabSize })

    it('credits most of an answer to the address it copies a sentence from', () => {
      assert.equal(addresses.length, picks.length)
      for (const source of addresses) {
        // The first sentence of 20 to 40 words past the address's first quarter.
        const sentences = source.text.slice(Math.floor(source.text.length / 4)).split(/(?<=[.?!])\s+/)
        const sentence = sentences.find(s => s.split(/\s+/).length >= 20 && s.split(/\s+/).length <= 40)
        assert.ok(sentence !== undefined, source.name)
        const answer = tokenizer.encode(`Zebras juggle marmalade. ${sentence} Purple zeppelins hum.`)
        const a = attributeSpans(index, answer)
        assert.ok(Math.abs(sumOfShares(a) - 1) < 1e-9)
        assert.equal(a.shares[0].contribution, source.name, JSON.stringify(a.shares))
        const copiedTokens = tokenizer.encode(sentence).length
        assert.ok(a.shares[0].share > 0.5, `${source.name}: ${a.shares[0].share}`)
        assert.ok(a.shares[0].share >= 0.9 * copiedTokens / answer.length, `${source.name}: ${a.shares[0].share}`)
        assert.ok(a.shares[0].longest >= Math.floor(copiedTokens * 0.8), 'one span covers most of the sentence')
        assert.ok(a.baseShare > 0.1, `the novel words go to the base: ${a.baseShare}`)
        const copied = shareOf(a, source.name)
        const others = a.shares.reduce((s, x) => s + (x.contribution === source.name ? 0 : x.share), 0)
        assert.ok(copied > 4 * others, `${source.name}: ${copied} vs ${others} to the others`)
      }
    })

    it('round-trips the real index through bytes', () => {
      const back = SpanIndex.fromBytes(index.toBytes())
      const answer = tokenizer.encode('the state of the Union is strong, and we will keep it so.')
      assert.deepEqual(attributeSpans(back, answer), attributeSpans(index, answer))
    })
  })
})
