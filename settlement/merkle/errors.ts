// Typed errors of the cumulative Merkle tree. The class name is the `name`, so the epoch
// builder and the peer can branch on it; `details` says which account or field.
import { SettlementError } from '../errors.ts'

export class MerkleError extends SettlementError {}

/** An entry the tree refuses: not a 20-byte hex address, or an amount outside [0, 2^256). */
export class InvalidLeafError extends MerkleError {}

/** The same account twice (compared case-insensitively): one account must have one balance. */
export class DuplicateAccountError extends MerkleError {}

/** A proof was asked for an account that is not in the tree. */
export class UnknownAccountError extends MerkleError {}

/** A tree needs at least one leaf (as OpenZeppelin's does): there is no root of nothing. */
export class EmptyTreeError extends MerkleError {}

/** A dump that is malformed or whose entries do not hash to the root it records. */
export class InvalidTreeDumpError extends MerkleError {}
