// The three faces of one secp256k1 key: the 33-byte public key in envelopes, the
// libp2p PeerId, and the Ethereum address that receives OPEN.
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { computeAddress, hexlify } from 'ethers'

export interface SignerIdentity {
  peerId: string
  address: string
}

const cache = new Map<string, SignerIdentity>()

/** Peer id and checksummed address of a compressed secp256k1 public key. */
export function identityOf (publicKey: Uint8Array): SignerIdentity {
  const hex = hexlify(publicKey)
  let id = cache.get(hex)
  if (id == null) {
    id = {
      peerId: peerIdFromPublicKey(publicKeyFromRaw(publicKey)).toString(),
      address: computeAddress(hex)
    }
    // Bounded: a flood of distinct signers must not grow this forever.
    if (cache.size >= 10_000) cache.clear()
    cache.set(hex, id)
  }
  return id
}
