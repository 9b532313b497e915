// One manifest entry: a signed, hash-linked dag-cbor block.
//
//   { v: 1, datanet, prev, clock, ts, signer, payload, sig }
//   datanet  the datanet id (CID string of its genesis entry); null in the genesis itself
//   prev     CIDs of the heads the author had seen, sorted: the log's hash links
//   clock    Lamport clock: 0 for genesis, else 1 + the largest clock in prev
//   ts       author's clock, ms (informational: order comes from the links)
//   signer   33-byte compressed secp256k1 key; its address must be the payload's author
//   sig      64-byte signature over keccak256("openledger/manifest-entry/1" 0x00 || dag-cbor of the rest)
//
// dag-cbor is canonical (sorted keys, shortest integers), so anyone re-encoding the
// entry without `sig` gets the exact bytes that were signed. A received block must be
// exactly that canonical encoding of an entry with no key outside the schema: otherwise
// a relay could add a key (or reorder the map) after signing, and the entry would
// verify under a new CID while its stored form no longer matched it.
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { z } from 'zod'
import { dagCborCid } from '../blocks.ts'
import { claimedAuthor, cidSchema, payloadSchema, type Payload } from '../datanet/records.ts'
import { addressOf, domainDigest, verifySignature, type RecordSigner } from '../signing.ts'
import { ForgedContributorError, InvalidEntryLinkError, InvalidEntrySignatureError, MalformedEntryError } from './errors.ts'

export const ENTRY_DOMAIN = 'openledger/manifest-entry/1'
/** Largest entry block accepted: 1,000 files of metadata fit well inside. */
export const MAX_ENTRY_BYTES = 256 * 1024
export const MAX_PREV = 64

const bytesSchema = (len: number) => z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.byteLength === len, `expected ${len} bytes`)

const entrySchema = z.strictObject({
  v: z.literal(1),
  datanet: z.string().min(1).max(128).nullable(),
  prev: z.array(cidSchema).max(MAX_PREV),
  clock: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  ts: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  signer: bytesSchema(33),
  payload: payloadSchema,
  sig: bytesSchema(64)
})

export type ManifestEntry = z.infer<typeof entrySchema>
export type UnsignedEntry = Omit<ManifestEntry, 'sig'>

export interface StoredEntry {
  cid: CID
  entry: ManifestEntry
  /** The block exactly as received (and signed over, with `sig`): what is stored. */
  bytes: Uint8Array
  /** Address of the signer (= the payload's author). */
  author: string
}

export function sortCids (cids: CID[]): CID[] {
  return [...cids].sort((a, b) => a.toString() < b.toString() ? -1 : a.toString() > b.toString() ? 1 : 0)
}

/** dag-cbor refuses `undefined`: optional fields that are absent must be absent keys. */
function dropUndefined<T> (value: T): T {
  if (Array.isArray(value)) return value.map(dropUndefined) as T
  if (value == null || typeof value !== 'object' || value instanceof Uint8Array || CID.asCID(value) != null) return value
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, dropUndefined(v)])) as T
}

export function signEntry (unsigned: Omit<UnsignedEntry, 'signer'>, signer: RecordSigner): ManifestEntry {
  const body: UnsignedEntry = dropUndefined({ ...unsigned, prev: sortCids(unsigned.prev), signer: signer.publicKey })
  const sig = signer.sign(domainDigest(ENTRY_DOMAIN, dagCbor.encode(body)))
  return { ...body, sig }
}

export async function encodeEntry (entry: ManifestEntry): Promise<{ cid: CID, bytes: Uint8Array }> {
  const bytes = dagCbor.encode(entry)
  return { cid: await dagCborCid(bytes), bytes }
}

/**
 * Decode and check an entry that arrived as a block: size, dag-cbor, shape, that the
 * CID matches the bytes, genesis rules, signature, and that the payload's author is
 * the signer. Links (prev exist, clock) are checked by the log, which has them.
 */
export async function decodeEntry (cid: CID, bytes: Uint8Array, datanetId?: string): Promise<StoredEntry> {
  const key = cid.toString()
  if (bytes.byteLength > MAX_ENTRY_BYTES) throw new MalformedEntryError('entry too large', { cid: key, size: bytes.byteLength, max: MAX_ENTRY_BYTES })
  if (cid.code !== dagCbor.code) throw new MalformedEntryError('entry CID is not dag-cbor', { cid: key })
  if (!(await dagCborCid(bytes)).equals(cid)) throw new MalformedEntryError('entry bytes do not match its CID', { cid: key })
  let raw: unknown
  try {
    raw = dagCbor.decode(bytes)
  } catch (err) {
    throw new MalformedEntryError('entry is not dag-cbor', { cid: key, cause: (err as Error).message })
  }
  const parsed = entrySchema.safeParse(raw)
  if (!parsed.success) throw new MalformedEntryError('entry has the wrong shape', { cid: key, issues: parsed.error.issues.slice(0, 5) })
  const entry = parsed.data
  // Nothing the schema dropped or changed, nothing non-canonical: the bytes are the entry.
  if (!equalBytes(dagCbor.encode(entry), bytes)) {
    throw new MalformedEntryError('entry has keys outside the schema or is not canonical dag-cbor', { cid: key })
  }
  const isGenesis = entry.payload.kind === 'genesis'
  if (isGenesis !== (entry.datanet === null) || isGenesis !== (entry.prev.length === 0) || (isGenesis && entry.clock !== 0)) {
    throw new InvalidEntryLinkError('only a genesis entry has no datanet and no prev', { cid: key })
  }
  if (datanetId != null && !isGenesis && entry.datanet !== datanetId) {
    throw new InvalidEntryLinkError('entry belongs to another datanet', { cid: key, datanet: entry.datanet })
  }
  const { sig, ...unsigned } = entry
  if (!verifySignature(sig, domainDigest(ENTRY_DOMAIN, dagCbor.encode(unsigned)), entry.signer)) {
    throw new InvalidEntrySignatureError('entry signature does not verify', { cid: key })
  }
  const author = addressOf(entry.signer)
  if (claimedAuthor(entry.payload as Payload).toLowerCase() !== author.toLowerCase()) {
    throw new ForgedContributorError('entry names an author other than its signer', { cid: key, claimed: claimedAuthor(entry.payload as Payload), signer: author })
  }
  return { cid, entry, bytes, author }
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0
}
