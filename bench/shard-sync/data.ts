// Shared by the bench and its provider process. The bench's file: deterministic
// pseudo-random bytes (a ChaCha20 keystream keyed by sha256(seed), as Kubo's own tests
// make large files), so no two chunks dedupe and every run moves the same bytes.
import { createCipheriv, createHash } from 'node:crypto'

export const MIB = 1 << 20

/** Baseline (a): the provider writes the file's bytes on one stream of this protocol. */
export const RAW_PROTOCOL = '/openledger-bench/raw/1.0.0'
/** ... in writes of this size, waiting for 'drain' whenever send() returns false. */
export const RAW_WRITE_BYTES = 64 * 1024

export function deterministicBytes (size: number, seed: string): Uint8Array {
  const key = createHash('sha256').update(seed).digest()
  const cipher = createCipheriv('chacha20', key, Buffer.alloc(16))
  const out = cipher.update(Buffer.alloc(size))
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}
