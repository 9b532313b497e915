// keccak256 for Merkle trees, where every input is one sponge block (64 bytes for a
// leaf's abi.encode, 32 for its second hash, 64 for a node). noble's permutation runs on
// one reused state, so hashing a node allocates nothing: a 100,000-leaf tree is 300,000
// hashes, and noble's hasher object per call costs about as much as the permutation.
import { keccak_256, keccakP } from '@noble/hashes/sha3.js'

const RATE = 136
const state = new Uint32Array(50)
const state8 = new Uint8Array(state.buffer)
// noble's state is little-endian 32-bit words; byte-wise absorption below assumes the
// host agrees (every platform Node ships on does). Otherwise fall back to the hasher.
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/** keccak256(src[srcOff, srcOff + len)) into dst[dstOff, dstOff + 32). */
export function keccakInto (src: Uint8Array, srcOff: number, len: number, dst: Uint8Array, dstOff: number): void {
  if (!LITTLE_ENDIAN || len >= RATE) {
    dst.set(keccak_256(src.subarray(srcOff, srcOff + len)), dstOff)
    return
  }
  state.fill(0)
  for (let i = 0; i < len; i++) state8[i] = src[srcOff + i]
  state8[len] ^= 0x01
  state8[RATE - 1] ^= 0x80
  keccakP(state)
  for (let i = 0; i < 32; i++) dst[dstOff + i] = state8[i]
}

/**
 * The OpenZeppelin node hash: keccak256 of the two 32-byte children, smaller first
 * (bytewise), what MerkleProof.sol recomputes. Reads nodes at byte offsets a and b of
 * src, writes 32 bytes at dstOff of dst.
 */
export function nodeHashInto (src: Uint8Array, a: number, b: number, dst: Uint8Array, dstOff: number): void {
  if (compare32(src, a, src, b) > 0) {
    const t = a
    a = b
    b = t
  }
  if (!LITTLE_ENDIAN) {
    const buf = new Uint8Array(64)
    buf.set(src.subarray(a, a + 32), 0)
    buf.set(src.subarray(b, b + 32), 32)
    dst.set(keccak_256(buf), dstOff)
    return
  }
  state.fill(0)
  for (let i = 0; i < 32; i++) state8[i] = src[a + i]
  for (let i = 0; i < 32; i++) state8[32 + i] = src[b + i]
  state8[64] ^= 0x01
  state8[RATE - 1] ^= 0x80
  keccakP(state)
  for (let i = 0; i < 32; i++) dst[dstOff + i] = state8[i]
}

/** Bytewise comparison of two 32-byte words: the order OpenZeppelin sorts leaves and children by. */
export function compare32 (x: Uint8Array, xo: number, y: Uint8Array, yo: number): number {
  for (let i = 0; i < 32; i++) {
    const d = x[xo + i] - y[yo + i]
    if (d !== 0) return d
  }
  return 0
}

export function keccak256 (data: Uint8Array): Uint8Array {
  const out = new Uint8Array(32)
  keccakInto(data, 0, data.length, out, 0)
  return out
}
