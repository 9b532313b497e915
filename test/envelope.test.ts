import assert from 'node:assert/strict'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { bytesToNumberBE, numberToBytesBE } from '@noble/curves/utils.js'
import { z } from 'zod'
import { bytesToHex } from '../protocols/bytes.ts'
import { decode, encode } from '../protocols/codec.ts'
import {
  ENVELOPE_VERSION, envelopeDigest, maxEnvelopeBytes, NONCE_BYTES, openEnvelope, sealEnvelope,
  type OpenOptions, type SealOptions
} from '../protocols/envelope.ts'
import {
  FutureTimestampError, InvalidBodyError, InvalidSignatureError, MalformedMessageError, MessageTooLargeError,
  ReplayedNonceError, StaleTimestampError, UnexpectedMessageTypeError, UnknownMessageTypeError,
  UnsupportedVersionError, WireError
} from '../protocols/errors.ts'
import { identityOf } from '../protocols/identity.ts'
import { CapacityAdvertMessage, capacityAdvertSchema, type CapacityAdvert } from '../protocols/messages/capacity-advert.ts'
import { defaultRegistry } from '../protocols/messages/index.ts'
import { defineMessage, MessageRegistry } from '../protocols/registry.ts'
import { ReplayGuard } from '../protocols/replay-guard.ts'
import { signerFromPrivateKey, verifyDigest, type Signer } from '../protocols/signer.ts'
import { expectThrows } from './helpers/expect-throws.ts'


const NETWORK = 'openledger-test'
/** A fixed clock: every seal and open gets `now` explicitly. */
const NOW = 1_750_000_000_000
const N = secp256k1.Point.CURVE().n

const alice = signerFromPrivateKey(new Uint8Array(32).fill(0x11))
const bob = signerFromPrivateKey(new Uint8Array(32).fill(0x22))

// The real advert type, plus test types: a copy of the advert one byte away in name,
// a tiny type (64-byte bodies) and a blob type whose cap equals the registry maximum.
const ADVERT = CapacityAdvertMessage.type // 'capacity-advert/1'
const ADVERT_3 = 'capacity-advert/3' // '1' ^ 0x02 === '3'
const NoteMessage = defineMessage({ type: 'note/1', maxBodyBytes: 64, schema: z.object({ text: z.string().max(10_000) }) })
const BlobMessage = defineMessage({ type: 'blob/1', maxBodyBytes: 8 * 1024, schema: z.string() })
const registry = new MessageRegistry([
  CapacityAdvertMessage,
  defineMessage({ ...CapacityAdvertMessage, type: ADVERT_3 }),
  NoteMessage,
  BlobMessage
])
const MAX_ENVELOPE = maxEnvelopeBytes(registry)

/** What a real 16-core workstation with one GPU would advertise. */
function advertFixture (signer: Signer = alice): CapacityAdvert {
  const { peerId } = identityOf(signer.publicKey)
  return {
    seq: 42,
    ttlMs: 60_000,
    agent: 'openledger/0.1.0',
    addrs: [`/ip4/192.168.1.20/tcp/4001/p2p/${peerId}`, `/ip6/::1/tcp/4001/p2p/${peerId}`],
    slots: { total: 8, free: 6 },
    cpu: {
      cores: 16,
      model: 'AMD Ryzen 9 7950X 16-Core Processor',
      flags: { avx: true, avx2: true, avx512f: true, fma: true, sse4_2: true, neon: false }
    },
    memory: { totalBytes: 68_719_476_736, freeBytes: 41_231_686_041 },
    disk: { totalBytes: 2_000_398_934_016, freeBytes: 1_234_567_890_123 },
    ort: { version: '1.30.0', providers: ['CPUExecutionProvider'], matmulGflops: 412.7, matmulSize: 512, threads: 16 },
    gpus: [{ name: 'NVIDIA GeForce RTX 4090', memoryMiB: 24_564 }],
    measuredAt: NOW - 5_000
  }
}

function nonceOf (byte: number): Uint8Array {
  return new Uint8Array(NONCE_BYTES).fill(byte)
}

function seal (overrides: Partial<SealOptions> = {}): Uint8Array {
  return sealEnvelope({ network: NETWORK, type: ADVERT, body: advertFixture(), signer: alice, registry, now: NOW, ...overrides })
}

function open<T = unknown> (bytes: Uint8Array, overrides: Partial<OpenOptions> = {}) {
  return openEnvelope<T>(bytes, { network: NETWORK, registry, now: NOW, ...overrides })
}

/** The seven wire fields of an envelope, for tampering. */
function fieldsOf (bytes: Uint8Array): unknown[] {
  const raw = decode(bytes, 1 << 20)
  assert.ok(Array.isArray(raw) && raw.length === 7)
  return [...raw]
}

/** The envelope with field i replaced. */
function withField (bytes: Uint8Array, i: number, value: unknown): Uint8Array {
  const f = fieldsOf(bytes)
  f[i] = value
  return encode(f)
}

/** A copy of a byte field with one bit flipped at index at. */
function flipped (bytes: Uint8Array, at: number, mask = 0x01): Uint8Array {
  const copy = new Uint8Array(bytes)
  copy[at] ^= mask
  return copy
}

/** A correctly signed envelope around arbitrary body bytes (bypasses sealEnvelope's encode). */
function signRaw (signer: Signer, type: string, bodyBytes: Uint8Array, opts: { nonce?: Uint8Array, ts?: number, network?: string } = {}): Uint8Array {
  const nonce = opts.nonce ?? nonceOf(0x5a)
  const ts = opts.ts ?? NOW
  const digest = envelopeDigest(opts.network ?? NETWORK, ENVELOPE_VERSION, type, signer.publicKey, nonce, ts, bodyBytes)
  return encode([ENVELOPE_VERSION, type, signer.publicKey, nonce, ts, bodyBytes, signer.sign(digest)])
}

/** Length of an ASCII string whose msgpack encoding is exactly `size` bytes. */
function stringLengthEncodingTo (size: number): number {
  for (let len = size - 5; len <= size; len++) if (encode('a'.repeat(len)).byteLength === size) return len
  throw new Error(`no string encodes to ${size} bytes`)
}

describe('protocols/envelope', () => {
  describe('seal / open round trip', () => {
    it('the capacity-advert fixture is a valid body well under its cap', () => {
      const parsed = capacityAdvertSchema.safeParse(advertFixture())
      assert.ok(parsed.success, JSON.stringify(parsed.error?.issues))
      assert.ok(encode(advertFixture()).byteLength < CapacityAdvertMessage.maxBodyBytes)
    })

    it('gives back body, type, signer, ts, nonce and version', () => {
      const nonce = nonceOf(7)
      const bytes = seal({ nonce })
      const env = open<CapacityAdvert>(bytes, { replayGuard: new ReplayGuard(), accept: [ADVERT] })
      assert.deepEqual(env.body, advertFixture())
      assert.equal(env.type, ADVERT)
      assert.equal(env.version, ENVELOPE_VERSION)
      assert.equal(env.ts, NOW)
      assert.deepEqual(env.signer, alice.publicKey)
      assert.deepEqual(env.nonce, nonce)
      assert.equal(env.signature.byteLength, 64)
      // The body is signed as bytes: exactly the msgpack of what was sealed.
      assert.deepEqual([...env.bodyBytes], [...encode(advertFixture())])
      // Byte fields are plain Uint8Arrays, not msgpackr's Buffers.
      for (const b of [env.signer, env.nonce, env.bodyBytes, env.signature]) assert.equal(b.constructor, Uint8Array)
      // The signer key maps to the peer id inside the advert's addresses.
      assert.ok(env.body.addrs[0].endsWith(`/p2p/${identityOf(env.signer).peerId}`))
    })

    it('byte fields are plain: deep-equal to fresh copies, no extra properties, input left untouched', () => {
      const bytes = seal({ nonce: nonceOf(11) })
      const before = Object.keys(bytes)
      const env = open(bytes)
      for (const b of [env.signer, env.nonce, env.bodyBytes, env.signature]) {
        assert.deepEqual(Object.keys(b), Object.keys(new Uint8Array(b)), 'no own properties besides the indices')
        assert.deepEqual(b, new Uint8Array(b))
      }
      assert.deepEqual(Object.keys(bytes), before, 'openEnvelope must not add properties to its input')
    })

    it('id is the hex digest, and the same envelope always has the same id', () => {
      const nonce = nonceOf(8)
      const bytes = seal({ nonce })
      const a = open(bytes)
      const b = open(bytes, { replayGuard: new ReplayGuard() })
      assert.match(a.id, /^[0-9a-f]{64}$/)
      assert.equal(a.id, b.id)
      const digest = envelopeDigest(NETWORK, ENVELOPE_VERSION, ADVERT, alice.publicKey, nonce, NOW, encode(advertFixture()))
      assert.equal(a.id, bytesToHex(digest))
      assert.ok(verifyDigest(a.signature, digest, alice.publicKey))
    })

    it('sealing is deterministic for a fixed nonce and clock, and differs with the nonce', () => {
      const one = seal({ nonce: nonceOf(9) })
      assert.deepEqual(seal({ nonce: nonceOf(9) }), one)
      const other = open(seal({ nonce: nonceOf(10) }))
      assert.notEqual(other.id, open(one).id)
    })

    it('a default nonce is 16 fresh random bytes', () => {
      const a = open(seal())
      const b = open(seal())
      assert.equal(a.nonce.byteLength, NONCE_BYTES)
      assert.notDeepEqual(a.nonce, b.nonce)
      assert.notEqual(a.id, b.id)
    })

    it('works with the default registry as a node uses it', () => {
      const reg = defaultRegistry()
      const bytes = sealEnvelope({ network: NETWORK, type: ADVERT, body: advertFixture(bob), signer: bob, registry: reg, now: NOW })
      const env = openEnvelope<CapacityAdvert>(bytes, { network: NETWORK, registry: reg, replayGuard: new ReplayGuard(), accept: [ADVERT], now: NOW })
      assert.deepEqual(env.signer, bob.publicKey)
      assert.equal(env.body.cpu.cores, 16)
    })

    it('signatures are 64-byte compact low-S, and the signer needs a 32-byte key', () => {
      const { signature } = open(seal())
      assert.ok(bytesToNumberBE(signature.subarray(32)) <= N / 2n)
      assert.throws(() => signerFromPrivateKey(new Uint8Array(31).fill(1)), TypeError)
      assert.equal(alice.publicKey.byteLength, 33)
    })
  })

  describe('MalformedMessageError', () => {
    const good = seal({ nonce: nonceOf(1) })

    const notMsgpack: Array<[string, Uint8Array]> = [
      ['empty bytes', new Uint8Array(0)],
      ['a truncated array', new Uint8Array([0x97, 0x01])],
      ['a valid envelope plus a stray byte', new Uint8Array([...good, 0x00])],
      ['a valid envelope cut short', good.subarray(0, good.byteLength - 1)]
    ]
    for (const [label, bytes] of notMsgpack) {
      it(`not msgpack: ${label}`, () => {
        const err = expectThrows(() => open(bytes), MalformedMessageError)
        assert.ok(err instanceof WireError)
      })
    }

    const notSevenArray: Array<[string, unknown]> = [
      ['a map', { version: 1 }],
      ['a string', 'hello'],
      ['null', null],
      ['a number', 1],
      ['binary', new Uint8Array(7)],
      ['a 3-array', [1, ADVERT, alice.publicKey]],
      ['the first 6 fields', fieldsOf(good).slice(0, 6)],
      ['8 fields', [...fieldsOf(good), 0]]
    ]
    for (const [label, value] of notSevenArray) {
      it(`msgpack that is not a 7-array: ${label}`, () => {
        const err = expectThrows(() => open(encode(value)), MalformedMessageError)
        assert.match(err.message, /7-element array/)
      })
    }

    const badFields: Array<[string, number, unknown]> = [
      ['version as a string', 0, '1'],
      ['version null', 0, null],
      ['type as a number', 1, 7],
      ['type empty', 1, ''],
      ['type longer than 64 characters', 1, 'a'.repeat(65)],
      ['type as bytes', 1, new TextEncoder().encode(ADVERT)],
      ['signer of 32 bytes', 2, alice.publicKey.subarray(1)],
      ['signer of 34 bytes', 2, new Uint8Array([...alice.publicKey, 0])],
      ['signer as an array of numbers', 2, [...alice.publicKey]],
      ['signer as a hex string', 2, bytesToHex(alice.publicKey)],
      ['nonce of 15 bytes', 3, new Uint8Array(15)],
      ['nonce of 17 bytes', 3, new Uint8Array(17)],
      ['nonce as a number', 3, 12345],
      ['ts negative', 4, -1],
      ['ts fractional', 4, NOW + 0.5],
      ['ts as a string', 4, String(NOW)],
      ['ts beyond 2^53', 4, 2 ** 53],
      ['ts null', 4, null],
      ['body as a string', 5, 'body'],
      ['body as a map', 5, { seq: 1 }],
      ['body as an array of numbers', 5, [0x80]],
      ['signature of 63 bytes', 6, new Uint8Array(63)],
      ['signature of 65 bytes', 6, new Uint8Array(65)],
      ['signature as a string', 6, 'sig']
    ]
    for (const [label, i, value] of badFields) {
      it(`wrong field type or length: ${label}`, () => {
        expectThrows(() => open(withField(good, i, value), { replayGuard: new ReplayGuard() }), MalformedMessageError)
      })
    }

    it('the untampered envelope used above opens (control)', () => {
      open(good, { replayGuard: new ReplayGuard() })
      open(encode(fieldsOf(good)), { replayGuard: new ReplayGuard() })
    })
  })

  describe('MessageTooLargeError', () => {
    it('the envelope cap is the largest body cap plus fixed overhead', () => {
      assert.equal(MAX_ENVELOPE, 8 * 1024 + 256)
      assert.equal(maxEnvelopeBytes(new MessageRegistry([NoteMessage])), 64 + 256)
    })

    it('an envelope over the cap is refused before decoding (garbage is too large, not malformed)', () => {
      const garbage = new Uint8Array(MAX_ENVELOPE + 1).fill(0xc1)
      const err = expectThrows(() => open(garbage), MessageTooLargeError)
      assert.equal(err.details.size, MAX_ENVELOPE + 1)
      assert.equal(err.details.max, MAX_ENVELOPE)
    })

    it('a validly signed envelope over the global cap is refused', () => {
      const body = 'a'.repeat(MAX_ENVELOPE)
      const bytes = sealEnvelope({ network: NETWORK, type: 'blob/1', body, signer: alice, now: NOW })
      assert.ok(bytes.byteLength > MAX_ENVELOPE)
      const err = expectThrows(() => open(bytes, { replayGuard: new ReplayGuard() }), MessageTooLargeError)
      assert.equal(err.details.max, MAX_ENVELOPE)
    })

    it('a body over its type cap is refused while the envelope is under the global cap', () => {
      const bytes = sealEnvelope({ network: NETWORK, type: 'note/1', body: { text: 'x'.repeat(200) }, signer: alice, now: NOW })
      assert.ok(bytes.byteLength < MAX_ENVELOPE)
      const err = expectThrows(() => open(bytes, { replayGuard: new ReplayGuard() }), MessageTooLargeError)
      assert.equal(err.details.type, 'note/1')
      assert.equal(err.details.max, 64)
      assert.ok((err.details.size as number) > 64)
    })

    it('the body cap is checked before the signature', () => {
      const bytes = sealEnvelope({ network: NETWORK, type: 'note/1', body: { text: 'x'.repeat(200) }, signer: alice, now: NOW })
      const sig = fieldsOf(bytes)[6] as Uint8Array
      expectThrows(() => open(withField(bytes, 6, flipped(sig, 10))), MessageTooLargeError)
    })

    it('a body of exactly its cap is accepted; one byte more is refused', () => {
      const len = stringLengthEncodingTo(BlobMessage.maxBodyBytes)
      const atCap = seal({ type: 'blob/1', body: 'a'.repeat(len) })
      assert.ok(atCap.byteLength <= MAX_ENVELOPE)
      assert.equal(open<string>(atCap, { replayGuard: new ReplayGuard() }).body.length, len)

      const overCap = seal({ type: 'blob/1', body: 'a'.repeat(len + 1), registry: undefined })
      assert.ok(overCap.byteLength <= MAX_ENVELOPE, 'the envelope itself is under the global cap')
      const err = expectThrows(() => open(overCap, { replayGuard: new ReplayGuard() }), MessageTooLargeError)
      assert.equal(err.details.type, 'blob/1')
    })
  })

  describe('sealEnvelope with a registry', () => {
    it('refuses a body that fails the schema with InvalidBodyError', () => {
      const body = { ...advertFixture(), seq: -1 }
      const err = expectThrows(() => seal({ body }), InvalidBodyError)
      assert.equal(err.details.type, ADVERT)
      assert.ok(Array.isArray(err.details.issues) && err.details.issues.length > 0)
    })

    it('refuses a schema-valid body over the type cap with MessageTooLargeError', () => {
      const gpuName = 'NVIDIA H100 80GB HBM3 '.padEnd(128, '#')
      const body: CapacityAdvert = { ...advertFixture(), gpus: Array.from({ length: 64 }, () => ({ name: gpuName, memoryMiB: 81_559 })) }
      assert.ok(capacityAdvertSchema.safeParse(body).success, 'the oversize body is schema-valid')
      const err = expectThrows(() => seal({ body }), MessageTooLargeError)
      assert.equal(err.details.type, ADVERT)
      assert.equal(err.details.max, CapacityAdvertMessage.maxBodyBytes)
      assert.ok((err.details.size as number) > CapacityAdvertMessage.maxBodyBytes)
    })

    it('refuses a type the registry does not know', () => {
      expectThrows(() => seal({ type: 'nope/1' }), UnknownMessageTypeError)
    })

    it('without a registry it seals anything (the receiver must then refuse it)', () => {
      const bytes = seal({ body: { ...advertFixture(), seq: -1 }, registry: undefined })
      expectThrows(() => open(bytes), InvalidBodyError)
    })
  })

  describe('UnsupportedVersionError', () => {
    const good = seal({ nonce: nonceOf(2) })
    for (const version of [0, 2, 255]) {
      it(`version ${version}`, () => {
        const err = expectThrows(() => open(withField(good, 0, version)), UnsupportedVersionError)
        assert.equal(err.details.version, version)
      })
    }
  })

  describe('UnknownMessageTypeError / UnexpectedMessageTypeError', () => {
    it('a well-formed, correctly signed envelope of an unregistered type is unknown', () => {
      const bytes = sealEnvelope({ network: NETWORK, type: 'nope/1', body: { a: 1 }, signer: alice, now: NOW })
      const err = expectThrows(() => open(bytes, { replayGuard: new ReplayGuard() }), UnknownMessageTypeError)
      assert.equal(err.details.type, 'nope/1')
    })

    it('a known type that is not in the accept list is unexpected', () => {
      const bytes = seal()
      const err = expectThrows(() => open(bytes, { accept: ['note/1'] }), UnexpectedMessageTypeError)
      assert.equal(err.details.type, ADVERT)
      assert.deepEqual(err.details.accept, ['note/1'])
      expectThrows(() => open(bytes, { accept: [] }), UnexpectedMessageTypeError)
      // The same bytes pass when the type is accepted.
      open(bytes, { accept: ['note/1', ADVERT] })
    })
  })

  describe('InvalidSignatureError', () => {
    const nonce = nonceOf(3)
    const good = seal({ nonce })
    const f = fieldsOf(good)
    const signer = f[2] as Uint8Array
    const sig = f[6] as Uint8Array
    const body = f[5] as Uint8Array
    const bad = (bytes: Uint8Array): InvalidSignatureError =>
      expectThrows(() => open(bytes, { replayGuard: new ReplayGuard() }), InvalidSignatureError)

    it('the untampered envelope verifies (control)', () => {
      open(good, { replayGuard: new ReplayGuard() })
    })

    it('one flipped byte in the signature (r and s halves)', () => {
      bad(withField(good, 6, flipped(sig, 0)))
      bad(withField(good, 6, flipped(sig, 40)))
      bad(withField(good, 6, flipped(sig, 63, 0x80)))
    })

    it('one flipped bit in the last byte of the raw envelope (inside the signature)', () => {
      bad(flipped(good, good.byteLength - 1))
    })

    it('one flipped byte in the body, which still decodes to a schema-valid advert', () => {
      const at = Buffer.from(body).indexOf('openledger/0.1.0')
      assert.ok(at > 0)
      const tampered = flipped(body, at, 0x01) // 'o' -> 'n'
      const parsed = capacityAdvertSchema.safeParse(decode(tampered, 8192))
      assert.ok(parsed.success)
      assert.equal(parsed.data.agent, 'npenledger/0.1.0')
      bad(withField(good, 5, tampered))
    })

    it('a changed timestamp (still inside the window)', () => {
      bad(withField(good, 4, NOW + 1))
      bad(withField(good, 4, NOW - 1_000))
    })

    it('one flipped byte in the nonce', () => {
      bad(withField(good, 3, flipped(nonce, 0)))
      bad(withField(good, 3, flipped(nonce, 15, 0x80)))
    })

    it('one flipped byte in the type, onto another registered type', () => {
      const t = new TextEncoder().encode(ADVERT)
      const other = new TextDecoder().decode(flipped(t, t.byteLength - 1, 0x02))
      assert.equal(other, ADVERT_3)
      const err = bad(withField(good, 1, other))
      assert.equal(err.details.type, ADVERT_3)
    })

    it('another key\'s public key in the signer field', () => {
      bad(withField(good, 2, bob.publicKey))
    })

    it('a signature by another key over the same fields', () => {
      const bobs = fieldsOf(seal({ nonce, signer: bob }))[6] as Uint8Array
      bad(withField(good, 6, bobs))
      // And bob's own envelope with alice's key swapped in.
      bad(withField(seal({ nonce, signer: bob }), 2, alice.publicKey))
    })

    it('the same envelope opened under another network name (domain separation)', () => {
      const devnet = seal({ nonce, network: 'devnet' })
      open(devnet, { network: 'devnet', replayGuard: new ReplayGuard() })
      const err = expectThrows(() => open(devnet, { network: 'mainnet', replayGuard: new ReplayGuard() }), InvalidSignatureError)
      assert.equal(err.details.type, ADVERT)
      expectThrows(() => open(devnet, { network: 'devnet2', replayGuard: new ReplayGuard() }), InvalidSignatureError)
      expectThrows(() => open(devnet, { network: '', replayGuard: new ReplayGuard() }), InvalidSignatureError)
      // The digest itself differs by network.
      const d1 = envelopeDigest('devnet', 1, ADVERT, signer, nonce, NOW, body)
      const d2 = envelopeDigest('mainnet', 1, ADVERT, signer, nonce, NOW, body)
      assert.notDeepEqual(d1, d2)
    })

    it('a high-S signature (s\' = n - s) is rejected: no malleability', () => {
      const r = sig.subarray(0, 32)
      const s = bytesToNumberBE(sig.subarray(32))
      const highS = new Uint8Array([...r, ...numberToBytesBE(N - s, 32)])
      // The malleated signature is mathematically valid for the digest...
      const digest = envelopeDigest(NETWORK, ENVELOPE_VERSION, ADVERT, signer, nonce, NOW, body)
      assert.equal(secp256k1.verify(highS, digest, signer, { prehash: false, lowS: false }), true)
      // ...but the envelope refuses it, so the same message cannot get a second id/encoding.
      assert.equal(verifyDigest(highS, digest, signer), false)
      bad(withField(good, 6, highS))
    })

    it('garbage keys and signatures are invalid, not crashes', () => {
      bad(withField(good, 6, new Uint8Array(64))) // r = s = 0
      bad(withField(good, 6, new Uint8Array(64).fill(0xff))) // r, s >= n
      bad(withField(good, 2, new Uint8Array([0x02, ...new Uint8Array(32).fill(0xff)]))) // x >= p
      bad(withField(good, 2, new Uint8Array([0x05, ...signer.subarray(1)]))) // bad prefix
      bad(withField(good, 2, new Uint8Array(33))) // all zero
    })
  })

  describe('StaleTimestampError / FutureTimestampError', () => {
    const guard = (): ReplayGuard => new ReplayGuard() // 120 s back, 30 s ahead

    it('older than the window is stale', () => {
      const err = expectThrows(() => open(seal({ now: NOW - 120_001 }), { replayGuard: guard() }), StaleTimestampError)
      assert.equal(err.details.ts, NOW - 120_001)
      assert.equal(err.details.now, NOW)
    })

    it('further ahead than the skew is future', () => {
      expectThrows(() => open(seal({ now: NOW + 30_001 }), { replayGuard: guard() }), FutureTimestampError)
    })

    it('the exact window edges are accepted', () => {
      open(seal({ now: NOW - 120_000 }), { replayGuard: guard() })
      open(seal({ now: NOW + 30_000 }), { replayGuard: guard() })
    })

    it('time is checked before the (costlier) signature', () => {
      const stale = seal({ now: NOW - 200_000 })
      const sig = fieldsOf(stale)[6] as Uint8Array
      expectThrows(() => open(withField(stale, 6, flipped(sig, 5)), { replayGuard: guard() }), StaleTimestampError)
    })

    it('the guard clock is opts.now, not the sender\'s', () => {
      const bytes = seal({ now: NOW })
      open(bytes, { replayGuard: guard(), now: NOW + 120_000 })
      expectThrows(() => open(bytes, { replayGuard: guard(), now: NOW + 120_001 }), StaleTimestampError)
      expectThrows(() => open(bytes, { replayGuard: guard(), now: NOW - 30_001 }), FutureTimestampError)
    })
  })

  describe('ReplayedNonceError', () => {
    it('the same envelope twice through one guard', () => {
      const g = new ReplayGuard()
      const bytes = seal()
      open(bytes, { replayGuard: g })
      const err = expectThrows(() => open(bytes, { replayGuard: g }), ReplayedNonceError)
      assert.ok(err instanceof WireError)
      assert.equal(g.size, 1)
    })

    it('a different body (and timestamp) re-signed with the same nonce', () => {
      const g = new ReplayGuard()
      const nonce = nonceOf(4)
      open(seal({ nonce }), { replayGuard: g })
      const other = seal({ nonce, body: { ...advertFixture(), seq: 43 }, now: NOW + 1_000 })
      expectThrows(() => open(other, { replayGuard: g, now: NOW + 1_000 }), ReplayedNonceError)
      const note = seal({ nonce, type: 'note/1', body: { text: 'hi' } })
      expectThrows(() => open(note, { replayGuard: g }), ReplayedNonceError)
    })

    it('the same nonce from a different signer is a different message', () => {
      const g = new ReplayGuard()
      const nonce = nonceOf(5)
      open(seal({ nonce }), { replayGuard: g })
      open(seal({ nonce, signer: bob, body: advertFixture(bob) }), { replayGuard: g })
      assert.equal(g.size, 2)
    })

    it('without a guard nothing is remembered (documented: only where replays are harmless)', () => {
      const bytes = seal({ now: NOW - 10 * 60_000 })
      assert.equal(open(bytes).id, open(bytes).id)
    })
  })

  describe('InvalidBodyError', () => {
    it('a valid signature over a body that fails the schema', () => {
      const bytes = seal({ body: { ...advertFixture(), ttlMs: 10 }, registry: undefined })
      const err = expectThrows(() => open(bytes, { replayGuard: new ReplayGuard() }), InvalidBodyError)
      assert.equal(err.details.type, ADVERT)
      assert.ok(Array.isArray(err.details.issues))
      const issues = err.details.issues as Array<{ path: unknown[] }>
      assert.ok(issues.length >= 1 && issues.length <= 5)
      assert.deepEqual(issues[0].path, ['ttlMs'])
    })

    it('a valid signature over a body of the wrong shape entirely', () => {
      for (const body of [null, 'advert', [1, 2, 3], {}]) {
        const bytes = seal({ body, registry: undefined })
        expectThrows(() => open(bytes, { replayGuard: new ReplayGuard() }), InvalidBodyError)
      }
    })

    it('a valid signature over body bytes that are not msgpack', () => {
      for (const bodyBytes of [new Uint8Array([0x92, 0x01]), new Uint8Array(0), new Uint8Array([0x80, 0x00])]) {
        const bytes = signRaw(alice, ADVERT, bodyBytes)
        const err = expectThrows(() => open(bytes, { replayGuard: new ReplayGuard() }), InvalidBodyError)
        assert.equal(err.details.type, ADVERT)
        assert.match(err.message, /msgpack/)
      }
    })

    it('signRaw builds envelopes that open when the body is fine (control)', () => {
      open(signRaw(alice, ADVERT, encode(advertFixture())), { replayGuard: new ReplayGuard() })
    })
  })

  describe('a rejected message does not consume its nonce', () => {
    it('after an invalid body, a valid message with that nonce is accepted once', () => {
      const g = new ReplayGuard()
      const nonce = nonceOf(6)
      const invalid = seal({ nonce, body: { ...advertFixture(), seq: -1 }, registry: undefined })
      expectThrows(() => open(invalid, { replayGuard: g }), InvalidBodyError)
      assert.equal(g.size, 0)
      const valid = seal({ nonce, now: NOW + 1 })
      open(valid, { replayGuard: g, now: NOW + 1 })
      assert.equal(g.size, 1)
      // Now something valid has used it: the nonce is spent for any later message.
      expectThrows(() => open(seal({ nonce, now: NOW + 2, body: { ...advertFixture(), seq: 43 } }), { replayGuard: g, now: NOW + 2 }), ReplayedNonceError)
      expectThrows(() => open(invalid, { replayGuard: g }), ReplayedNonceError)
    })

    it('a forgery under someone\'s key (bad signature) cannot burn their nonce', () => {
      const g = new ReplayGuard()
      const nonce = nonceOf(7)
      const real = seal({ nonce })
      const forged = withField(real, 5, encode({ ...advertFixture(), seq: 999 }))
      expectThrows(() => open(forged, { replayGuard: g }), InvalidSignatureError)
      assert.equal(g.size, 0)
      open(real, { replayGuard: g })
      assert.equal(g.size, 1)
    })

    it('after a stale, future, oversize, or unaccepted copy, the valid one is still accepted', () => {
      const g = new ReplayGuard()
      const nonce = nonceOf(8)
      expectThrows(() => open(seal({ nonce, now: NOW - 200_000 }), { replayGuard: g }), StaleTimestampError)
      expectThrows(() => open(seal({ nonce, now: NOW + 200_000 }), { replayGuard: g }), FutureTimestampError)
      expectThrows(() => open(seal({ nonce, type: 'note/1', body: { text: 'y'.repeat(100) }, registry: undefined }), { replayGuard: g }), MessageTooLargeError)
      expectThrows(() => open(seal({ nonce }), { replayGuard: g, accept: ['note/1'] }), UnexpectedMessageTypeError)
      assert.equal(g.size, 0)
      open(seal({ nonce }), { replayGuard: g })
      assert.equal(g.size, 1)
    })
  })
})
