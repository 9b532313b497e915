// Signatures inside stored records. The engine takes any signer of the participant's
// secp256k1 key (peer/ passes the same one that signs envelopes) and checks records
// with the public key they carry; the Ethereum address is derived from that key, so
// a record cannot name a contributor other than its signer.
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { computeAddress, hexlify } from 'ethers'

export interface RecordSigner {
  /** 33-byte compressed secp256k1 public key. */
  readonly publicKey: Uint8Array
  /** 64-byte compact low-S signature of a 32-byte digest. */
  sign (digest: Uint8Array): Uint8Array
}

const encoder = new TextEncoder()

/** keccak256(domain || 0x00 || bytes): a digest that cannot be replayed in another context. */
export function domainDigest (domain: string, bytes: Uint8Array): Uint8Array {
  const tag = encoder.encode(domain + '\0')
  const pre = new Uint8Array(tag.byteLength + bytes.byteLength)
  pre.set(tag)
  pre.set(bytes, tag.byteLength)
  return keccak_256(pre)
}

export function verifySignature (signature: Uint8Array, digest: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    return secp256k1.verify(signature, digest, publicKey, { prehash: false })
  } catch {
    return false
  }
}

/** Checksummed Ethereum address of a public key. */
export function addressOf (publicKey: Uint8Array): string {
  return computeAddress(hexlify(publicKey))
}
