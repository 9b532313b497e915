// Small byte helpers used across the wire code.
export { bytesToHex, hexToBytes, concatBytes, randomBytes } from '@noble/curves/utils.js'

/** Plain Uint8Array of the same bytes (msgpackr hands out Buffers). */
export function toPlain (bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
