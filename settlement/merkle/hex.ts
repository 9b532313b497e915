// Hex at the edges only: bytes inside the tree, 0x strings for JSON, the chain and OZ.
import { InvalidLeafError } from './errors.ts'

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
const ADDRESS = /^0x[0-9a-fA-F]{40}$/
const WORD = /^0x[0-9a-fA-F]{64}$/

/** 0x-prefixed lowercase hex of bytes[off, off + len). */
export function toHex (bytes: Uint8Array, off = 0, len = bytes.length - off): string {
  let s = '0x'
  for (let i = off; i < off + len; i++) s += HEX[bytes[i]]
  return s
}

function nibble (c: number): number {
  // '0'-'9', 'A'-'F', 'a'-'f'; callers have checked the characters
  return c <= 57 ? c - 48 : (c | 32) - 87
}

/** Writes the bytes of a 0x hex string (already validated) at off. */
export function writeHex (hex: string, dst: Uint8Array, off: number): void {
  for (let i = 2, j = off; i < hex.length; i += 2, j++) {
    dst[j] = (nibble(hex.charCodeAt(i)) << 4) | nibble(hex.charCodeAt(i + 1))
  }
}

export function fromHex (hex: string): Uint8Array {
  if (!/^0x([0-9a-fA-F]{2})*$/.test(hex)) throw new InvalidLeafError('not 0x-prefixed hex', { value: hex })
  const out = new Uint8Array((hex.length - 2) / 2)
  writeHex(hex, out, 0)
  return out
}

/**
 * The one spelling of an address used everywhere in settlement: lowercase. Any case is
 * accepted (EIP-55 checksums are not checked: the bytes are what the contract sees).
 */
export function normalizeAddress (account: unknown): string {
  if (typeof account !== 'string' || !ADDRESS.test(account)) {
    throw new InvalidLeafError('account must be a 0x-prefixed 20-byte hex address', { account })
  }
  return account.toLowerCase()
}

export function isWord (hex: unknown): hex is string {
  return typeof hex === 'string' && WORD.test(hex)
}
