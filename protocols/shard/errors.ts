// Typed errors of /openledger/shard/1.0.0 beyond those shared with other protocols
// (protocols/errors.ts: MalformedMessageError, MessageTooLargeError, RemoteError,
// RequestTimeoutError; rate-limiter.ts: RateLimitedError) and with the storage engine
// (storage/unixfs/errors.ts: BlockHashMismatchError, UnsupportedCidError,
// MalformedDagError), which are reused as they are.
import { WireError } from '../errors.ts'

/** The responder does not hold a requested root, or a block its DAG links to. */
export class NotFoundError extends WireError {}

/** A block the requester did not ask for: not a requested root, not linked from a
 *  block already received, or sent twice. */
export class UnexpectedBlockError extends WireError {}

/** The DAG has more blocks than the limit allows. */
export class TooManyBlocksError extends WireError {}

/** The stream ended (or the responder said it was done) before every block of the
 *  DAG had arrived, or it was reset part way. */
export class IncompleteTransferError extends WireError {}
