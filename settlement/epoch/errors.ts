// Typed errors of the epoch builder. The class name is the `name`, so the peer can tell
// a refused receipt (tell the sender) from a store problem (stop and page someone) from a
// chain disagreement (another aggregator posted something else); `details` has the specifics.
import { SettlementError } from '../errors.ts'

export class EpochError extends SettlementError {}

/** A receipt the builder will not journal: malformed, or one its fee split refuses. */
export class InvalidReceiptError extends EpochError {}

/** The journal has a damaged line that is not its torn tail: acknowledged data is gone. */
export class JournalCorruptError extends EpochError {}

/** The store on disk is not one this builder can read (format, first epoch, a missing file). */
export class EpochStoreError extends EpochError {}

/** The operation does not fit the epoch's state (seal a future epoch, post an unsealed one, post out of order). */
export class EpochStateError extends EpochError {}

/** Nobody has earned anything yet, so there is no tree to seal. */
export class EmptyEpochError extends EpochError {}

/** The chain holds a different root (or total) for the epoch than this ledger: never overwrite, never post over it. */
export class RootConflictError extends EpochError {}

/** Fewer signers answered with a well-formed signature than the quorum needs. */
export class QuorumNotReachedError extends EpochError {}

/** A signature list that cannot be packed: not 65 bytes, a bad signer address, a signer twice. */
export class InvalidSignatureError extends EpochError {}
