// msgpack encoding for everything on the wire. One Packr configuration, shared by
// every message, so that encoding is deterministic across peers: plain maps and
// arrays, no msgpackr "records" (a remote peer must never be able to define
// structures in our decoder), binary as Uint8Array.
import { Packr } from 'msgpackr'
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
  try {
    return packr.unpack(bytes)
  } catch (err) {
    throw new MalformedMessageError('not valid msgpack', { cause: (err as Error).message })
  }
}
