// The signed envelope every message travels in.
//
// Wire form (msgpack array): [version, type, signer, nonce, ts, body, signature]
//   version    1
//   type       registered message type, e.g. 'capacity-advert/1'
//   signer     33-byte compressed secp256k1 public key (the sender's peer key)
//   nonce      16 random bytes, unique per signer inside the replay window
//   ts         sender's clock, ms since the Unix epoch
//   body       msgpack bytes of the message body (signed as bytes: no canonicalisation)
//   signature  64-byte compact low-S ECDSA over keccak256(preimage)
//
// preimage = utf8("openledger/envelope/1/" + network) || 0x00 || u8 version
//            || u16be len(type) || type || signer || nonce || u64be ts || body
// The network name in the domain tag keeps devnet messages from replaying elsewhere.
//
// openEnvelope checks cheapest-first: size, shape, version, type, body cap, time
// window, signature, admission (a rate limit), nonce, schema; the nonce is remembered
// only when all pass.
import { keccak_256 } from '@noble/hashes/sha3.js'
import { bytesToHex, randomBytes, toPlain } from './bytes.ts'
import { decode, encode } from './codec.ts'
import {
  InvalidBodyError, InvalidSignatureError, MalformedMessageError, MessageTooLargeError,
  UnexpectedMessageTypeError, UnsupportedVersionError
} from './errors.ts'
import type { MessageRegistry } from './registry.ts'
import { ReplayGuard } from './replay-guard.ts'
import { verifyDigest, type Signer } from './signer.ts'

export const ENVELOPE_VERSION = 1
export const NONCE_BYTES = 16
const SIGNER_BYTES = 33
const SIGNATURE_BYTES = 64
const MAX_TYPE_LENGTH = 64
/** Envelope bytes beyond the body: fields, msgpack headers, the type name. */
const ENVELOPE_OVERHEAD = 256

export interface Envelope<T = unknown> {
  readonly version: number
  readonly type: string
  readonly signer: Uint8Array
  readonly nonce: Uint8Array
  readonly ts: number
  readonly body: T
  readonly bodyBytes: Uint8Array
  readonly signature: Uint8Array
  /** Hex of the signed digest: a stable id for logs and dedup. */
  readonly id: string
}

export interface SealOptions {
  network: string
  type: string
  body: unknown
  signer: Signer
  /** Checks the body against its type before sending (recommended). */
  registry?: MessageRegistry
  now?: number
  nonce?: Uint8Array
}

export interface OpenOptions {
  network: string
  registry: MessageRegistry
  /**
   * Checks the time window and nonce. Omit only where replays and old messages are
   * harmless (e.g. reading back one's own file): without it neither is checked.
   */
  replayGuard?: ReplayGuard
  /** Message types allowed on this topic / protocol; others are rejected. */
  accept?: readonly string[]
  /**
   * Called with the signer once the signature verified, before the nonce and schema:
   * throws to refuse (a rate limit per key). A forgery never reaches it, so it cannot
   * spend someone else's allowance.
   */
  admit?: (signer: Uint8Array) => void
  now?: number
}

export function maxEnvelopeBytes (registry: MessageRegistry): number {
  return registry.maxBodyBytes + ENVELOPE_OVERHEAD
}

const encoder = new TextEncoder()
const domainCache = new Map<string, Uint8Array>()

function domainTag (network: string): Uint8Array {
  let tag = domainCache.get(network)
  if (tag == null) {
    tag = encoder.encode(`openledger/envelope/${ENVELOPE_VERSION}/${network}\0`)
    domainCache.set(network, tag)
  }
  return tag
}

export function envelopeDigest (network: string, version: number, type: string, signer: Uint8Array,
  nonce: Uint8Array, ts: number, body: Uint8Array): Uint8Array {
  const domain = domainTag(network)
  const typeBytes = encoder.encode(type)
  const pre = new Uint8Array(domain.byteLength + 1 + 2 + typeBytes.byteLength + signer.byteLength +
    nonce.byteLength + 8 + body.byteLength)
  const view = new DataView(pre.buffer)
  let o = 0
  pre.set(domain, o); o += domain.byteLength
  view.setUint8(o, version); o += 1
  view.setUint16(o, typeBytes.byteLength); o += 2
  pre.set(typeBytes, o); o += typeBytes.byteLength
  pre.set(signer, o); o += signer.byteLength
  pre.set(nonce, o); o += nonce.byteLength
  view.setBigUint64(o, BigInt(ts)); o += 8
  pre.set(body, o)
  return keccak_256(pre)
}

export function sealEnvelope (opts: SealOptions): Uint8Array {
  const ts = opts.now ?? Date.now()
  const nonce = opts.nonce ?? randomBytes(NONCE_BYTES)
  if (!Number.isSafeInteger(ts) || ts < 0) throw new TypeError(`timestamp must be a non-negative integer, got ${ts}`)
  if (nonce.byteLength !== NONCE_BYTES) throw new TypeError(`nonce must be ${NONCE_BYTES} bytes`)
  let body = opts.body
  if (opts.registry != null) {
    const parsed = opts.registry.get(opts.type).schema.safeParse(opts.body)
    if (!parsed.success) throw new InvalidBodyError('body does not match its type', { type: opts.type, issues: parsed.error.issues })
    // Send what the schema accepted (unknown keys stripped), not whatever came in.
    body = parsed.data
  }
  const bodyBytes = encode(body)
  if (opts.registry != null) {
    const max = opts.registry.get(opts.type).maxBodyBytes
    if (bodyBytes.byteLength > max) throw new MessageTooLargeError('body too large for its type', { type: opts.type, size: bodyBytes.byteLength, max })
  }
  const digest = envelopeDigest(opts.network, ENVELOPE_VERSION, opts.type, opts.signer.publicKey, nonce, ts, bodyBytes)
  const signature = opts.signer.sign(digest)
  return encode([ENVELOPE_VERSION, opts.type, opts.signer.publicKey, nonce, ts, bodyBytes, signature])
}

function isBytes (v: unknown, len?: number): v is Uint8Array {
  return v instanceof Uint8Array && (len == null || v.byteLength === len)
}

export function openEnvelope<T = unknown> (bytes: Uint8Array, opts: OpenOptions): Envelope<T> {
  const now = opts.now ?? Date.now()
  const raw = decode(bytes, maxEnvelopeBytes(opts.registry))
  if (!Array.isArray(raw) || raw.length !== 7) throw new MalformedMessageError('envelope is not a 7-element array')
  const [version, type, signer, nonce, ts, bodyBytes, signature] = raw as unknown[]
  if (typeof version !== 'number') throw new MalformedMessageError('bad envelope version field')
  if (version !== ENVELOPE_VERSION) throw new UnsupportedVersionError('unsupported envelope version', { version })
  if (typeof type !== 'string' || type.length === 0 || type.length > MAX_TYPE_LENGTH) throw new MalformedMessageError('bad type field')
  if (!isBytes(signer, SIGNER_BYTES)) throw new MalformedMessageError('bad signer field')
  if (!isBytes(nonce, NONCE_BYTES)) throw new MalformedMessageError('bad nonce field')
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) throw new MalformedMessageError('bad timestamp field')
  if (!isBytes(bodyBytes)) throw new MalformedMessageError('bad body field')
  if (!isBytes(signature, SIGNATURE_BYTES)) throw new MalformedMessageError('bad signature field')

  const spec = opts.registry.get(type)
  if (opts.accept != null && !opts.accept.includes(type)) {
    throw new UnexpectedMessageTypeError('message type not accepted here', { type, accept: opts.accept })
  }
  if (bodyBytes.byteLength > spec.maxBodyBytes) {
    throw new MessageTooLargeError('body too large for its type', { type, size: bodyBytes.byteLength, max: spec.maxBodyBytes })
  }
  opts.replayGuard?.checkTime(ts, now)

  const digest = envelopeDigest(opts.network, version, type, signer, nonce, ts, bodyBytes)
  if (!verifyDigest(signature, digest, signer)) throw new InvalidSignatureError('signature does not verify', { type })
  opts.admit?.(signer)

  const replayKey = bytesToHex(signer) + bytesToHex(nonce)
  opts.replayGuard?.checkNonce(replayKey)

  let decodedBody: unknown
  try {
    decodedBody = decode(bodyBytes, spec.maxBodyBytes)
  } catch (err) {
    throw new InvalidBodyError('body is not valid msgpack', { type, cause: (err as Error).message })
  }
  const parsed = spec.schema.safeParse(decodedBody)
  if (!parsed.success) throw new InvalidBodyError('body does not match its type', { type, issues: parsed.error.issues.slice(0, 5) })

  opts.replayGuard?.record(replayKey, ts, now)
  return {
    version,
    type,
    signer: toPlain(signer),
    nonce: toPlain(nonce),
    ts,
    body: parsed.data as T,
    bodyBytes: toPlain(bodyBytes),
    signature: toPlain(signature),
    id: bytesToHex(digest)
  }
}
