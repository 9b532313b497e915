// Why a manifest entry was refused. Entries arrive from other peers: each check
// failing is one of these, never a crash.
import { StorageError } from '../errors.ts'

/** Not dag-cbor, too large, or not shaped like an entry. */
export class MalformedEntryError extends StorageError {}
/** The signature does not verify for the entry's signer. */
export class InvalidEntrySignatureError extends StorageError {}
/** The entry claims a contributor (or creator) address other than its signer's. */
export class ForgedContributorError extends StorageError {}
/** The entry belongs to another datanet, or links wrongly (clock, genesis rules). */
export class InvalidEntryLinkError extends StorageError {}
/** An entry the log needs could not be found locally or fetched in time. */
export class MissingEntryError extends StorageError {}
/** A merge would take the log past its size limit. */
export class ManifestTooLargeError extends StorageError {}
