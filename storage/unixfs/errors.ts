// Why a UnixFS file could not be imported, read or verified. DAGs arrive from other
// peers: every check that fails is one of these, never a crash or a hang.
import { StorageError } from '../errors.ts'

/** A stored block's bytes do not hash to the multihash in its CID (corrupt or tampered). */
export class BlockHashMismatchError extends StorageError {}
/** A block the DAG links to is not in the blockstore. */
export class MissingBlockError extends StorageError {}
/** The CID names something other than a UnixFS file (a directory, symlink, HAMT shard,
 *  dag-cbor value…), or a path given to importPath is not a regular file. */
export class NotAFileError extends StorageError {}
/** The blocks hash correctly but do not form a valid UnixFS file: undecodable dag-pb,
 *  sizes that disagree with the children, too deep a tree. */
export class MalformedDagError extends StorageError {}
/** A CID with a codec or hash function this engine does not handle (only dag-pb / raw
 *  blocks under sha2-256 are accepted). */
export class UnsupportedCidError extends StorageError {}
/** The file is larger than the caller's `maxBytes`. */
export class FileTooLargeError extends StorageError {}
