// A datanet's manifest: an append-only log of signed entries, hash-linked through
// `prev`, stored as dag-cbor blocks. It is a Merkle-CRDT: appends on different peers
// at once create several heads; merging is a set union, so every peer that holds the
// same entries has the same heads and, ordering by (clock, CID), the same order.
//
// A *version* names an exact set of entries: the head's CID when there is one head,
// else the CID of the dag-cbor block { datanet, heads } (stored, so anyone resolves it).
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { getBlock, putDagCbor, type BlockStore, type GetOptions } from '../blocks.ts'
import type { Payload } from '../datanet/records.ts'
import type { RecordSigner } from '../signing.ts'
import { decodeEntry, encodeEntry, MAX_PREV, signEntry, sortCids, type StoredEntry } from './entry.ts'
import { InvalidEntryLinkError, ManifestTooLargeError, MissingEntryError } from './errors.ts'

export const DEFAULT_MAX_ENTRIES = 100_000

export interface LogOptions {
  /** Refuse to grow past this many entries (a remote peer must not fill our disk). */
  maxEntries?: number
}

export interface MergeOptions extends GetOptions {
  /** Where missing entries are fetched from (e.g. a networked blockstore); default: the log's own store. */
  source?: BlockStore
}

export class ManifestLog {
  readonly id: string
  private readonly store: BlockStore
  private readonly maxEntries: number
  private readonly entries = new Map<string, StoredEntry>()
  private headSet = new Set<string>()

  private constructor (store: BlockStore, id: string, opts: LogOptions) {
    this.store = store
    this.id = id
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES
  }

  /** Start a new datanet: sign and store its genesis entry. */
  static async create (store: BlockStore, genesis: Extract<Payload, { kind: 'genesis' }>, signer: RecordSigner, now = Date.now(), opts: LogOptions = {}): Promise<ManifestLog> {
    const entry = signEntry({ v: 1, datanet: null, prev: [], clock: 0, ts: now, payload: genesis }, signer)
    const { cid, bytes } = await encodeEntry(entry)
    await store.put(cid, bytes)
    const log = new ManifestLog(store, cid.toString(), opts)
    log.entries.set(log.id, await decodeEntry(cid, bytes))
    log.headSet.add(log.id)
    return log
  }

  /**
   * Load a datanet from its id and known heads, reading (and, through a networked
   * blockstore, fetching) every entry reachable from them, each checked.
   */
  static async open (store: BlockStore, id: string, heads: CID[], opts: LogOptions & MergeOptions = {}): Promise<ManifestLog> {
    const log = new ManifestLog(store, id, opts)
    const genesisCid = CID.parse(id)
    const genesis = await decodeEntry(genesisCid, await log.fetch(genesisCid, opts))
    if (genesis.entry.payload.kind !== 'genesis') throw new InvalidEntryLinkError('datanet id is not a genesis entry', { id })
    await store.put(genesisCid, genesis.bytes)
    log.entries.set(id, genesis)
    log.headSet.add(id)
    await log.merge(heads.length > 0 ? heads : [genesisCid], opts)
    return log
  }

  get genesis (): StoredEntry { return this.entries.get(this.id)! }
  get size (): number { return this.entries.size }
  get heads (): CID[] { return sortCids([...this.headSet].map(s => this.entries.get(s)!.cid)) }
  has (cid: CID): boolean { return this.entries.has(cid.toString()) }
  get (cid: CID): StoredEntry | undefined { return this.entries.get(cid.toString()) }

  /** Sign and store a new entry on top of the current heads. */
  async append (payload: Exclude<Payload, { kind: 'genesis' }>, signer: RecordSigner, now = Date.now()): Promise<StoredEntry> {
    if (this.entries.size >= this.maxEntries) throw new ManifestTooLargeError('manifest is full', { max: this.maxEntries })
    const prev = this.heads.slice(0, MAX_PREV)
    const clock = 1 + Math.max(...prev.map(c => this.entries.get(c.toString())!.entry.clock))
    const entry = signEntry({ v: 1, datanet: this.id, prev, clock, ts: now, payload }, signer)
    const { cid, bytes } = await encodeEntry(entry)
    const stored = await decodeEntry(cid, bytes, this.id) // the same checks a receiver makes
    await this.store.put(cid, bytes)
    this.add(stored)
    return stored
  }

  /**
   * Union with everything reachable from `heads`. Missing entries are read from the
   * blockstore (a networked one fetches them from peers); each is fully checked
   * before it joins. Returns the entries added, in log order.
   */
  async merge (heads: CID[], opts: MergeOptions = {}): Promise<StoredEntry[]> {
    const pending = new Map<string, StoredEntry>()
    const stack = heads.filter(h => !this.entries.has(h.toString()))
    while (stack.length > 0) {
      const cid = stack.pop()!
      const key = cid.toString()
      if (this.entries.has(key) || pending.has(key)) continue
      if (this.entries.size + pending.size >= this.maxEntries) throw new ManifestTooLargeError('manifest would exceed its limit', { max: this.maxEntries })
      const stored = await decodeEntry(cid, await this.fetch(cid, opts), this.id)
      pending.set(key, stored)
      for (const p of stored.entry.prev) if (!this.entries.has(p.toString()) && !pending.has(p.toString())) stack.push(p)
    }
    // Check clocks parents-first, then admit: a bad entry taints everything above it.
    const added = [...pending.values()].sort(compareEntries)
    for (const e of added) {
      const parents = e.entry.prev.map(p => this.entries.get(p.toString()) ?? pending.get(p.toString()))
      if (parents.some(p => p == null)) throw new MissingEntryError('entry links to an unknown entry', { cid: e.cid.toString() })
      const expected = 1 + Math.max(...parents.map(p => p!.entry.clock))
      if (e.entry.clock !== expected) throw new InvalidEntryLinkError('entry clock does not follow its links', { cid: e.cid.toString(), clock: e.entry.clock, expected })
    }
    for (const e of added) {
      await this.store.put(e.cid, e.bytes) // as received: its CID is of these bytes
      this.add(e)
    }
    return added
  }

  private add (e: StoredEntry): void {
    this.entries.set(e.cid.toString(), e)
    for (const p of e.entry.prev) this.headSet.delete(p.toString())
    // An entry already linked from a later one is not a head (merge admits parents first).
    this.headSet.add(e.cid.toString())
  }

  private async fetch (cid: CID, opts: MergeOptions): Promise<Uint8Array> {
    try {
      return await getBlock(opts.source ?? this.store, cid, { signal: opts.signal })
    } catch (err) {
      throw new MissingEntryError('manifest entry not available', { cid: cid.toString(), cause: (err as Error).message })
    }
  }

  /** Every entry, in the order all peers agree on: by clock, then by CID. */
  ordered (): StoredEntry[] {
    return [...this.entries.values()].sort(compareEntries)
  }

  /** The version naming exactly the current entries; stored so others can resolve it. */
  async version (): Promise<CID> {
    const heads = this.heads
    if (heads.length === 1) return heads[0]
    return (await putDagCbor(this.store, { datanet: this.id, heads })).cid
  }
}

export function compareEntries (a: StoredEntry, b: StoredEntry): number {
  if (a.entry.clock !== b.entry.clock) return a.entry.clock - b.entry.clock
  const x = a.cid.toString()
  const y = b.cid.toString()
  return x < y ? -1 : x > y ? 1 : 0
}

/** Heads named by a version CID (a head itself, or a { datanet, heads } block). */
export async function resolveVersion (store: BlockStore, version: CID, opts: GetOptions = {}): Promise<CID[]> {
  if (version.code !== dagCbor.code) throw new InvalidEntryLinkError('a version is a dag-cbor CID', { version: version.toString() })
  const value = dagCbor.decode(await getBlock(store, version, opts)) as { heads?: unknown }
  if (Array.isArray(value.heads) && value.heads.every(h => CID.asCID(h) != null)) return value.heads as CID[]
  return [version]
}
