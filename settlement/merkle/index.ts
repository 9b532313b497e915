// The cumulative-earnings Merkle tree (OpenZeppelin StandardMerkleTree encoding), one import.
export {
  buildCumulativeTree, CumulativeTree, cumulativeLeafHash, verifyCumulativeProof, verifyCumulativeMultiProof,
  CUMULATIVE_TREE_FORMAT, type CumulativeEntry, type CumulativeMultiProof, type CumulativeTreeDump
} from './cumulative-tree.ts'
export { normalizeAddress, toHex, fromHex } from './hex.ts'
export { keccak256 } from './keccak.ts'
export {
  MerkleError, InvalidLeafError, DuplicateAccountError, UnknownAccountError, EmptyTreeError, InvalidTreeDumpError
} from './errors.ts'
