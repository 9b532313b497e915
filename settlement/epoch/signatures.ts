// The aggregator quorum's signatures in the form the contract checks (QuorumSigned.sol):
// 65 bytes each (r, s, v), concatenated, signers strictly ascending by address, which
// lets the contract reject a repeated signer with one comparison.
import { compareStrings } from '../policy/index.ts'
import { normalizeAddress } from '../merkle/hex.ts'
import { MerkleError } from '../merkle/errors.ts'
import { InvalidSignatureError } from './errors.ts'

export interface RootSignature {
  /** Address that signed (recovered by the contract from the signature). */
  signer: string
  /** 0x + 65 bytes: r, s, v. */
  signature: string
}

const SIGNATURE = /^0x[0-9a-fA-F]{130}$/

/** Sorted by signer, checked, and concatenated into one 0x bytes string. */
export function packSignatures (signatures: readonly RootSignature[]): { signers: string[], packed: string } {
  const list = signatures.map((s, i) => {
    let signer: string
    try {
      signer = normalizeAddress(s?.signer)
    } catch (err) {
      if (err instanceof MerkleError) throw new InvalidSignatureError('signer must be a 0x 20-byte address', { index: i, signer: s?.signer })
      throw err
    }
    if (typeof s.signature !== 'string' || !SIGNATURE.test(s.signature)) {
      throw new InvalidSignatureError('signature must be 65 bytes of 0x hex', { index: i, signer })
    }
    return { signer, signature: s.signature.toLowerCase() }
  })
  // Lowercase hex of equal length: string order is numeric order, the contract's `signer <= last`.
  list.sort((a, b) => compareStrings(a.signer, b.signer))
  for (let i = 1; i < list.length; i++) {
    if (list[i].signer === list[i - 1].signer) throw new InvalidSignatureError('signer listed twice', { signer: list[i].signer })
  }
  return { signers: list.map(s => s.signer), packed: '0x' + list.map(s => s.signature.slice(2)).join('') }
}
