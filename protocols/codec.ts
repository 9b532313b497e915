// msgpack encoding for everything on the wire. One Packr configuration, shared by
// every message, so that encoding is deterministic across peers: plain maps and
// arrays, no msgpackr "records" (a remote peer must never be able to define
// structures in our decoder), binary as Uint8Array.
import { C1, Packr } from 'msgpackr'
import { MalformedMessageError, MessageTooLargeError } from './errors.ts'

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  bundleStrings: false,
  int64AsType: 'number'
})

export function encode (value: unknown): Uint8Array {
  const buf = packr.pack(value)
  // Hand out a plain Uint8Array view: Buffer's extra methods must not leak into
  // code that compares or hashes bytes.
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
}

/** Decode untrusted bytes. The size cap is checked before any parsing. */
export function decode (bytes: Uint8Array, maxBytes: number): unknown {
  if (bytes.byteLength > maxBytes) {
    throw new MessageTooLargeError('message too large', { size: bytes.byteLength, max: maxBytes })
  }
  let value: unknown
  try {
    // A fresh view: msgpackr caches a DataView on the array it reads, and the
    // caller's bytes must come back untouched.
    value = packr.unpack(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength))
  } catch (err) {
    throw new MalformedMessageError('not valid msgpack', { cause: (err as Error).message })
  }
  if (containsReserved(value)) throw new MalformedMessageError('not valid msgpack', { cause: 'reserved byte 0xc1' })
  return value
}

/**
 * msgpackr decodes the never-used byte 0xc1 to a shared sentinel object instead of
 * failing; the spec says it is invalid, and a shared mutable object must not reach
 * application code. Inputs are size-capped, so the walk is cheap.
 */
function containsReserved (value: unknown): boolean {
  if (value === C1) return true
  if (value == null || typeof value !== 'object' || ArrayBuffer.isView(value)) return false
  const children = Array.isArray(value) ? value : Object.values(value)
  for (const child of children) if (containsReserved(child)) return true
  return false
}
