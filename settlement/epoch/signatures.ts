// The aggregator quorum's signatures in the form the contract checks (QuorumSigned.sol):
// 65 bytes each (r, s, v), concatenated, signers strictly ascending by address, which
// lets the contract reject a repeated signer with one comparison.
import { compareStrings } from '../policy/index.ts'
import { normalizeAddress } from '../merkle/hex.ts'
import { MerkleError } from '../merkle/errors.ts'
import { InvalidSignatureError, QuorumNotReachedError } from './errors.ts'

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

/** What an aggregator signs: EpochRoot(epoch, root, total, toBlock). */
export interface RootMessage { epoch: bigint, root: string, total: bigint, toBlock: bigint }

/**
 * Asks every signer at once and packs the good answers: a signer that fails, signs twice
 * or whose signature `verify` refuses counts as one that did not answer (one bad signature
 * would make the whole postRoot revert). Throws QuorumNotReachedError below `quorum`.
 */
export async function gatherQuorum (
  signers: ReadonlyArray<{ sign: (epoch: bigint, root: string, total: bigint, toBlock: bigint) => Promise<RootSignature> }>,
  quorum: number,
  m: RootMessage,
  verify?: (epoch: bigint, root: string, total: bigint, toBlock: bigint, signature: RootSignature) => boolean
): Promise<{ signers: string[], packed: string }> {
  const settled = await Promise.allSettled(signers.map(s => s.sign(m.epoch, m.root, m.total, m.toBlock)))
  const good = new Map<string, RootSignature>()
  const failures: string[] = []
  for (const [i, s] of settled.entries()) {
    if (s.status === 'rejected') {
      failures.push(`signer ${i}: ${(s.reason as Error)?.message ?? String(s.reason)}`)
      continue
    }
    try {
      const { signers: [signer] } = packSignatures([s.value])
      if (good.has(signer)) failures.push(`signer ${i}: ${signer} signed twice`)
      else if (verify !== undefined && !verify(m.epoch, m.root, m.total, m.toBlock, s.value)) failures.push(`signer ${i}: ${signer}: signature does not verify`)
      else good.set(signer, s.value)
    } catch (err) {
      failures.push(`signer ${i}: ${(err as Error).message}`)
    }
  }
  if (good.size < quorum) throw new QuorumNotReachedError('too few root signatures', { epoch: Number(m.epoch), got: good.size, quorum, failures })
  return packSignatures([...good.values()])
}
