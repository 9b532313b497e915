import assert from 'node:assert/strict'
import { Packr } from 'msgpackr'
import { decode, encode } from '../protocols/codec.ts'
import { MalformedMessageError, MessageTooLargeError, WireError } from '../protocols/errors.ts'
import { expectThrows } from './helpers/expect-throws.ts'


const hex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'))
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/** A msgpack fixstr (< 32 bytes). */
function fixstr (s: string): number[] {
  const b = utf8(s)
  assert.ok(b.byteLength < 32)
  return [0xa0 | b.byteLength, ...b]
}

describe('protocols/codec', () => {
  describe('encode / decode', () => {
    it('round-trips nested maps, arrays, strings, numbers, booleans, null and binary', () => {
      const value = {
        s: 'héllo',
        n: 42,
        neg: -7,
        big: 68_719_476_736,
        f: 412.7,
        t: true,
        z: null,
        arr: [1, 'two', [3]],
        bin: new Uint8Array([0, 1, 254, 255]),
        nested: { deeper: { x: 1 } }
      }
      const out = decode(encode(value), 1024) as typeof value
      assert.deepEqual(out.s, 'héllo')
      assert.equal(out.n, 42)
      assert.equal(out.neg, -7)
      assert.equal(out.big, 68_719_476_736)
      assert.equal(out.f, 412.7)
      assert.equal(out.t, true)
      assert.equal(out.z, null)
      assert.deepEqual(out.arr, [1, 'two', [3]])
      assert.ok(out.bin instanceof Uint8Array)
      assert.deepEqual([...out.bin], [0, 1, 254, 255])
      assert.deepEqual(out.nested, { deeper: { x: 1 } })
    })

    it('encode hands out a plain Uint8Array, not a Buffer', () => {
      const bytes = encode({ a: 1 })
      assert.equal(bytes.constructor, Uint8Array)
      assert.ok(!Buffer.isBuffer(bytes))
    })

    it('decode leaves its input untouched and hands out bin values without extra properties', () => {
      const inner = encode({ k: 1 })
      const input = encode({ bin: inner })
      const keysBefore = Object.keys(input)
      const out = decode(input, 100) as { bin: Uint8Array }
      // msgpackr caches a DataView on the source array as an enumerable own property.
      assert.deepEqual(Object.keys(input), keysBefore, 'decode must not add properties to the caller\'s bytes')
      assert.equal(Object.prototype.hasOwnProperty.call(input, 'dataView'), false)
      // A bin value decoded and then decoded again (as openEnvelope does with the body) stays plain.
      assert.deepEqual(decode(out.bin, 100), { k: 1 })
      assert.equal(Object.prototype.hasOwnProperty.call(out.bin, 'dataView'), false)
      assert.deepEqual(out.bin, new Uint8Array(inner))
    })

    it('is deterministic: the same value encodes to the same bytes', () => {
      const v = { seq: 1, name: 'x', list: [1, 2, 3], bin: new Uint8Array([9, 9]) }
      assert.deepEqual([...encode(v)], [...encode(structuredClone(v))])
    })

    it('decodes plain maps as plain objects (no records, no Map)', () => {
      const out = decode(encode({ a: 1 }), 100)
      assert.equal(Object.getPrototypeOf(out), Object.prototype)
      // A msgpack map with a non-string key still becomes a plain object.
      const m = decode(hex('810102'), 100) // {1: 2}
      assert.equal(Object.getPrototypeOf(m), Object.prototype)
      assert.deepEqual(m, { 1: 2 })
    })
  })

  describe('size cap', () => {
    it('accepts input of exactly maxBytes', () => {
      const bytes = encode('a'.repeat(100))
      assert.equal(decode(bytes, bytes.byteLength), 'a'.repeat(100))
    })

    it('refuses valid msgpack one byte over the cap with MessageTooLargeError', () => {
      const bytes = encode('a'.repeat(100))
      const err = expectThrows(() => decode(bytes, bytes.byteLength - 1), MessageTooLargeError)
      assert.ok(err instanceof WireError)
      assert.equal(err.details.size, bytes.byteLength)
      assert.equal(err.details.max, bytes.byteLength - 1)
    })

    it('checks the size before parsing: oversize garbage is too large, not malformed', () => {
      // 0x92 0x01 alone is a truncated array; padded past the cap it must not be parsed at all.
      const garbage = new Uint8Array(65).fill(0xc1)
      garbage[0] = 0x92
      expectThrows(() => decode(garbage, 64), MessageTooLargeError)
      // Below the cap, the same kind of bytes are parsed and rejected as malformed.
      expectThrows(() => decode(new Uint8Array([0x92, 0x01]), 64), MalformedMessageError)
    })

    it('a huge declared length inside a small message does not get past the cap or allocate', () => {
      // array32 claiming 2^32-1 elements, with no elements present.
      expectThrows(() => decode(hex('ddffffffff'), 64), MalformedMessageError)
      // str32 claiming 4 GiB.
      expectThrows(() => decode(hex('dbffffffff41'), 64), MalformedMessageError)
    })
  })

  describe('garbage', () => {
    const cases: Array<[string, Uint8Array]> = [
      ['empty input', new Uint8Array(0)],
      ['a truncated array', hex('9201')],
      ['a truncated string', hex('a5616263')],
      ['a truncated bin', hex('c40a0102')],
      ['trailing bytes after a complete value', hex('010203')],
      ['a complete envelope-like array plus one stray byte', new Uint8Array([...encode([1, 2, 3]), 0x00])],
      ['an unknown extension type', hex('d40500')],
      ['a record reference that was never defined', hex('400506')],
      ['random-looking bytes', hex('ffc7e3d9c8')]
    ]
    for (const [label, bytes] of cases) {
      it(`${label} -> MalformedMessageError`, () => {
        const err = expectThrows(() => decode(bytes, 1024), MalformedMessageError)
        assert.ok(err instanceof WireError)
        assert.equal(typeof err.details.cause, 'string')
      })
    }

    // 0xc1 is the one byte the msgpack spec reserves as "never used": it is not a value.
    // (msgpackr returns an internal C1Type sentinel object for it instead of failing.)
    it('the reserved never-used byte 0xc1, alone or nested -> MalformedMessageError', () => {
      expectThrows(() => decode(hex('c1'), 16), MalformedMessageError)
      expectThrows(() => decode(hex('91c1'), 16), MalformedMessageError)
      expectThrows(() => decode(new Uint8Array([0x81, ...fixstr('k'), 0xc1]), 16), MalformedMessageError)
    })
  })

  describe('hostile structure', () => {
    it('a map with a __proto__ key does not pollute Object.prototype', () => {
      // { "__proto__": { "polluted": true } } written by hand.
      const bytes = new Uint8Array([0x81, ...fixstr('__proto__'), 0x81, ...fixstr('polluted'), 0xc3])
      const out = decode(bytes, 100) as Record<string, unknown>
      assert.equal(({} as Record<string, unknown>).polluted, undefined)
      assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false)
      // The decoded object itself keeps the normal prototype: it was not re-parented.
      assert.equal(Object.getPrototypeOf(out), Object.prototype)
      assert.equal((out as { polluted?: unknown }).polluted, undefined)
      assert.ok(!Object.keys(out).includes('__proto__'))
    })

    it('a __proto__ key produced by JSON.parse round-trips without pollution', () => {
      const evil = JSON.parse('{"__proto__": {"isAdmin": true}, "ok": 1}') as Record<string, unknown>
      const out = decode(encode(evil), 200) as Record<string, unknown>
      assert.equal(out.ok, 1)
      assert.equal(({} as Record<string, unknown>).isAdmin, undefined)
      assert.equal(Object.getPrototypeOf(out), Object.prototype)
      assert.equal((out as { isAdmin?: unknown }).isAdmin, undefined)
    })

    it('a __proto__ key inside a record definition does not pollute either', () => {
      // Record definition 0x40 with keys ['__proto__'], then its value {polluted: true}.
      const bytes = new Uint8Array([0xd4, 0x72, 0x40, 0x91, ...fixstr('__proto__'), 0x81, ...fixstr('polluted'), 0xc3])
      const out = decode(bytes, 100) as Record<string, unknown>
      assert.equal(({} as Record<string, unknown>).polluted, undefined)
      assert.equal(Object.getPrototypeOf(out), Object.prototype)
      assert.equal((out as { polluted?: unknown }).polluted, undefined)
    })

    it('a record structure defined by one message is forgotten before the next one', () => {
      // A sender with records on defines structure 0x40 = [a, b] inside its message...
      const withRecords = new Packr({ useRecords: true }).pack([{ a: 1, b: 2 }, { a: 3, b: 4 }])
      assert.deepEqual(decode(withRecords, 100), [{ a: 1, b: 2 }, { a: 3, b: 4 }])
      // ...but a later message cannot use 0x40 as if our decoder had learnt it.
      expectThrows(() => decode(hex('400506'), 100), MalformedMessageError)
      expectThrows(() => decode(hex('91400506'), 100), MalformedMessageError)
    })
  })
})
