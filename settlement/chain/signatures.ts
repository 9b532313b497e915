// EIP-712 messages the settlement contracts accept, and packing signatures the way
// they check them: 65 bytes each, concatenated, signers strictly ascending by address.
// The type strings here must match the TYPEHASHes in the contracts byte for byte; the
// domain (name, version, chainId, contract address) binds each signature to one
// contract on one chain, so it can't be replayed elsewhere.
import { getAddress, verifyTypedData, type TypedDataDomain, type TypedDataField } from 'ethers'
import { packSignatures as packChecked } from '../epoch/signatures.ts'

/** Anything that signs typed data: an ethers Wallet, or a JSON-RPC signer. */
export interface TypedDataSigner {
  getAddress: () => Promise<string>
  signTypedData: (domain: TypedDataDomain, types: Record<string, TypedDataField[]>, value: Record<string, unknown>) => Promise<string>
}

export const DOMAIN_NAMES = {
  distributor: 'openledger RewardDistributor',
  staking: 'openledger Staking',
  escrow: 'openledger JobEscrow'
} as const

export type DomainContract = keyof typeof DOMAIN_NAMES

export function domain (contract: DomainContract, chainId: number | bigint, verifyingContract: string): TypedDataDomain {
  return { name: DOMAIN_NAMES[contract], version: '1', chainId, verifyingContract }
}

export const TYPES = {
  EpochRoot: [
    { name: 'epoch', type: 'uint64' },
    { name: 'root', type: 'bytes32' },
    { name: 'total', type: 'uint256' },
    { name: 'toBlock', type: 'uint64' }
  ],
  Slash: [
    { name: 'jobId', type: 'bytes32' },
    { name: 'peer', type: 'address' },
    { name: 'role', type: 'uint8' },
    { name: 'amount', type: 'uint256' },
    { name: 'evidence', type: 'bytes32' },
    { name: 'prover', type: 'address' },
    { name: 'resultHash', type: 'bytes32' }
  ],
  Participation: [
    { name: 'jobId', type: 'bytes32' },
    { name: 'resultHash', type: 'bytes32' }
  ],
  Completion: [
    { name: 'jobId', type: 'bytes32' },
    { name: 'worker', type: 'address' },
    { name: 'resultHash', type: 'bytes32' }
  ],
  Assignment: [
    { name: 'jobId', type: 'bytes32' },
    { name: 'worker', type: 'address' },
    { name: 'verifiers', type: 'address[]' },
    { name: 'referee', type: 'address' },
    { name: 'spec', type: 'bytes32' }
  ]
} as const satisfies Record<string, TypedDataField[]>

export type MessageType = keyof typeof TYPES

/** toBlock: the last block whose escrow releases the epoch pays. */
export interface EpochRootMessage { epoch: bigint | number, root: string, total: bigint, toBlock: bigint | number }
export interface SlashMessage { jobId: string, peer: string, role: number, amount: bigint, evidence: string, prover: string, resultHash: string }
/** A worker's delivery of, or a verifier's verdict on, `resultHash` for `jobId`: what makes it answerable for it in a slash. */
export interface ParticipationMessage { jobId: string, resultHash: string }
export interface CompletionMessage { jobId: string, worker: string, resultHash: string }
/** Who a requester assigned to its job (referee: the zero address when none); `spec`: keccak of the job's announce. */
export interface AssignmentMessage { jobId: string, worker: string, verifiers: string[], referee: string, spec: string }

export interface Messages {
  EpochRoot: EpochRootMessage
  Slash: SlashMessage
  Completion: CompletionMessage
  Assignment: AssignmentMessage
  Participation: ParticipationMessage
}

export interface SignedMessage {
  signer: string
  signature: string
}

/** The contract each message type is verified by. */
const CONTRACT_OF: Record<MessageType, DomainContract> = {
  EpochRoot: 'distributor',
  Slash: 'staking',
  Completion: 'escrow',
  Assignment: 'escrow',
  Participation: 'escrow'
}

export async function signMessage<T extends MessageType> (
  signer: TypedDataSigner,
  type: T,
  dom: TypedDataDomain,
  value: Messages[T]
): Promise<SignedMessage> {
  const types = { [type]: [...TYPES[type]] }
  const signature = await signer.signTypedData(dom, types, value as unknown as Record<string, unknown>)
  return { signer: getAddress(await signer.getAddress()), signature }
}

/** Concatenates signatures in strictly ascending signer order, as the contracts require (InvalidSignatureError otherwise). */
export function packSignatures (signed: readonly SignedMessage[]): string {
  return signed.length === 0 ? '0x' : packChecked(signed).packed
}

/** Every signer signs the same message; returns the packed signatures for the contract call. */
export async function signAndPack<T extends MessageType> (
  signers: readonly TypedDataSigner[],
  type: T,
  dom: TypedDataDomain,
  value: Messages[T]
): Promise<string> {
  return packSignatures(await Promise.all(signers.map(async s => await signMessage(s, type, dom, value))))
}

/** Checks one signature off-chain (e.g. an aggregator collecting them before posting). */
export function verifySigned<T extends MessageType> (type: T, dom: TypedDataDomain, value: Messages[T], signed: SignedMessage): boolean {
  try {
    const who = verifyTypedData(dom, { [type]: [...TYPES[type]] }, value as unknown as Record<string, unknown>, signed.signature)
    return getAddress(who) === getAddress(signed.signer)
  } catch {
    return false
  }
}

/** Which contract's domain a message type needs. */
export function domainContractOf (type: MessageType): DomainContract {
  return CONTRACT_OF[type]
}
