// The one key a participant has: secp256k1, signing 32-byte digests. Envelopes carry
// the 33-byte compressed public key, so verification needs no key recovery.
import { secp256k1 } from '@noble/curves/secp256k1.js'

export interface Signer {
  /** 33-byte compressed secp256k1 public key. */
  readonly publicKey: Uint8Array
  /** 64-byte compact (r || s) low-S signature over a 32-byte digest. */
  sign (digest: Uint8Array): Uint8Array
}

export function signerFromPrivateKey (privateKey: Uint8Array): Signer {
  if (privateKey.byteLength !== 32) throw new TypeError('secp256k1 private key must be 32 bytes')
  const publicKey = secp256k1.getPublicKey(privateKey, true)
  return {
    publicKey,
    sign: (digest) => secp256k1.sign(digest, privateKey, { prehash: false })
  }
}

export function verifyDigest (signature: Uint8Array, digest: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    return secp256k1.verify(signature, digest, publicKey, { prehash: false })
  } catch {
    // Malformed keys or signatures are simply invalid, not crashes.
    return false
  }
}
