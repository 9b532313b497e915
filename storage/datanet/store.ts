// All the datanets a peer follows. Each is a manifest log whose entries live in the
// blockstore; the only other state is its current heads and why it is followed, in
// <dir>/<id>.json, written atomically after the entries are stored, so a kill -9 loses
// at most the append in flight and never leaves heads pointing at missing entries.
//
// A peer follows only what it chose: datanets it wrote to ('own'), that its user asked
// for ('follow': `datanet follow`, `datanet get`), or that a job it takes part in names
// ('job'). Heads announcements cost nothing to make, so hearing of a datanet follows
// nothing: merging one not followed is refused. A followed datanet whose genesis could
// not be fetched yet is kept as pending (its heads file has no heads) and opened when
// its heads come by.
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { readJsonIfExists, writeJsonAtomic } from '../atomic-file.ts'
import { getBlock, putDagCbor, type BlockStore } from '../blocks.ts'
import { StorageError } from '../errors.ts'
import type { StoredEntry } from '../manifest/entry.ts'
import { decodeEntry } from '../manifest/entry.ts'
import { InvalidEntryLinkError, MissingEntryError } from '../manifest/errors.ts'
import { ManifestLog, resolveVersion } from '../manifest/log.ts'
import type { RecordSigner } from '../signing.ts'
import { addressOf } from '../signing.ts'
import { SKETCH_SHINGLE_WORDS, SKETCH_VERSION } from '../dedupe/minhash.ts'
import type { IngestedFile } from './ingest.ts'
import { genesisSchema, type Attribution, type Genesis, type TrainingCycle } from './records.ts'
import { deriveView, type CreditEntitlement, type DatanetView, type Sketches } from './view.ts'

/** No datanet has that id or name here. */
export class UnknownDatanetError extends StorageError {}
/** A name that several datanets share: use the id. */
export class AmbiguousDatanetError extends StorageError {}
/** A name, description or licence a genesis record cannot hold. */
export class InvalidDatanetFieldsError extends StorageError {}
/** This peer follows as many datanets as it will. */
export class TooManyDatanetsError extends StorageError {}
/** Heads of a datanet this peer does not follow: nothing is fetched or kept. */
export class NotFollowedError extends StorageError {}
/** A datanet id is the CID of a dag-cbor genesis entry. */
export class InvalidDatanetIdError extends StorageError {}

const SKETCH_BYTES = 128 * 4

/** Why a peer keeps a datanet: it wrote to it, its user asked for it, or a job it takes part in names it. */
export const FOLLOW_REASONS = ['own', 'follow', 'job'] as const
export type FollowReason = typeof FOLLOW_REASONS[number]

/** `follow` is absent in files written before follow lists, when a peer kept every datanet it heard of. */
interface HeadsFile { id: string, heads: string[], follow?: FollowReason[] }

export interface DatanetStoreOptions {
  /** Folder for the heads files. */
  dir: string
  /** The peer's own blocks (never asks the network). */
  blockstore: BlockStore
  maxDatanets?: number
  /** This peer's address: of the datanets an older layout kept, those it wrote to stay followed. */
  self?: string
}

export class DatanetStore {
  private readonly opts: DatanetStoreOptions
  private readonly logs = new Map<string, ManifestLog>()
  /** Every followed datanet (opened or pending) and why. */
  private readonly chosen = new Map<string, Set<FollowReason>>()
  private readonly locks = new Map<string, Promise<unknown>>()

  constructor (opts: DatanetStoreOptions) {
    this.opts = opts
  }

  /**
   * Open every datanet recorded in dir from local blocks. Datanets nobody chose are
   * evicted (their heads files removed) and returned, so their shards can be unpinned.
   */
  async load (): Promise<{ evicted: ManifestLog[] }> {
    let names: string[] = []
    try { names = await readdir(this.opts.dir) } catch {}
    const evicted: ManifestLog[] = []
    for (const name of names.filter(n => n.endsWith('.json'))) {
      const path = join(this.opts.dir, name)
      const file = await readJsonIfExists<HeadsFile>(path)
      if (file == null) continue
      const reasons = new Set((file.follow ?? []).filter(r => (FOLLOW_REASONS as readonly string[]).includes(r)))
      let log: ManifestLog | undefined
      try {
        if (file.heads.length > 0) log = await ManifestLog.open(this.opts.blockstore, file.id, file.heads.map(h => CID.parse(h)), { signal: AbortSignal.timeout(60_000) })
      } catch {
        // A followed datanet that does not open from local blocks waits, pending, for its heads; one nobody chose goes.
        if (file.follow == null) { await rm(path, { force: true }); continue }
      }
      if (file.follow == null && log != null && this.opts.self !== undefined && log.ordered().some(e => e.author.toLowerCase() === this.opts.self!.toLowerCase())) reasons.add('own')
      if (reasons.size === 0) {
        await rm(path, { force: true })
        if (log != null) evicted.push(log)
        continue
      }
      this.chosen.set(file.id, reasons)
      if (log != null) {
        this.logs.set(log.id, log)
        if (file.follow == null) await this.persist(log)
      }
    }
    return { evicted }
  }

  /** The followed datanets that are open (pending ones are not). */
  list (): ManifestLog[] { return [...this.logs.values()] }
  has (id: string): boolean { return this.logs.has(id) }
  /** Whether this peer follows the datanet (open or pending): only then are its heads merged. */
  follows (id: string): boolean { return this.chosen.has(id) }
  /** Why this peer follows the datanet; empty when it does not. */
  reasons (id: string): FollowReason[] { return [...(this.chosen.get(id) ?? [])].sort() }
  /** Followed datanets whose genesis has not been fetched yet. */
  pending (): string[] { return [...this.chosen.keys()].filter(id => !this.logs.has(id)) }

  /** By id, or by name when exactly one datanet has it. */
  resolve (idOrName: string): ManifestLog {
    const byId = this.logs.get(idOrName)
    if (byId != null) return byId
    const named = this.list().filter(l => (l.genesis.entry.payload as Genesis).name === idOrName)
    if (named.length === 1) return named[0]
    if (named.length > 1) throw new AmbiguousDatanetError(`${named.length} datanets are named "${idOrName}"; use an id`, { ids: named.map(l => l.id) })
    throw new UnknownDatanetError(`no datanet "${idOrName}" on this peer`, { idOrName })
  }

  async create (fields: Omit<Genesis, 'kind' | 'creator'>, signer: RecordSigner): Promise<ManifestLog> {
    this.checkRoom()
    const genesis = genesisSchema.safeParse({ kind: 'genesis', ...fields, creator: addressOf(signer.publicKey) })
    if (!genesis.success) {
      const issue = genesis.error.issues[0]
      throw new InvalidDatanetFieldsError(`${issue.path.join('.')}: ${issue.message}`, { issues: genesis.error.issues })
    }
    const log = await ManifestLog.create(this.opts.blockstore, genesis.data, signer)
    this.logs.set(log.id, log)
    this.chosen.set(log.id, new Set(['own']))
    await this.persist(log)
    return log
  }

  /**
   * Follow a datanet by id (its user asked, or a job names it): recorded first, then its
   * genesis and `heads` fetched through `network`. Undefined when the genesis could not
   * be fetched in time: the datanet stays followed, pending, and opens when its heads
   * come by. A genesis that fails its checks is refused and not followed.
   */
  async follow (id: string, reason: FollowReason, network: BlockStore, heads: CID[] = [], opts: { signal?: AbortSignal } = {}): Promise<ManifestLog | undefined> {
    let cid: CID
    try { cid = CID.parse(id) } catch { throw new InvalidDatanetIdError(`"${id.slice(0, 128)}" is not a datanet id (a CID)`, { id: id.slice(0, 128) }) }
    if (cid.code !== dagCbor.code) throw new InvalidDatanetIdError(`"${id}" is not a datanet id: a datanet id is the CID of a dag-cbor genesis entry`, { id })
    id = cid.toString()
    return await this.locked(id, async () => {
      const known = this.chosen.get(id)
      if (known == null) this.checkRoom()
      this.chosen.set(id, new Set([...(known ?? []), reason]))
      let log = this.logs.get(id)
      if (log == null) {
        await this.persistPending(id)
        try {
          log = await ManifestLog.open(this.opts.blockstore, id, [], { ...opts, source: network })
        } catch (err) {
          if (err instanceof MissingEntryError) return undefined
          if (known == null) await this.drop(id)
          throw err
        }
        this.logs.set(id, log)
      }
      await this.persist(log)
      if (heads.length > 0 && (await log.merge(heads, { ...opts, source: network })).length > 0) await this.persist(log)
      return log
    })
  }

  /**
   * Follow the datanet a version belongs to (a job names `idOrName@version`), after
   * checking that it is the datanet `idOrName` names. Undefined while pending.
   */
  async followVersion (idOrName: string, version: CID, reason: FollowReason, network: BlockStore, opts: { signal?: AbortSignal } = {}): Promise<ManifestLog | undefined> {
    // The network's own failures (not found, aborted) become the log's: a block not available.
    const fetched = async <T>(cid: CID, read: () => Promise<T>): Promise<T> => {
      try { return await read() } catch (err) {
        if (err instanceof StorageError) throw err
        throw new MissingEntryError('block not available', { cid: cid.toString(), cause: (err as Error).message })
      }
    }
    const heads = await fetched(version, async () => await resolveVersion(network, version, opts))
    if (heads.length === 0) throw new InvalidEntryLinkError('the version names no heads', { version: version.toString() })
    const head = await decodeEntry(heads[0], await fetched(heads[0], async () => await getBlock(network, heads[0], opts)))
    const id = head.entry.datanet ?? head.cid.toString()
    if (id !== idOrName) {
      const genesis = await decodeEntry(CID.parse(id), await fetched(CID.parse(id), async () => await getBlock(network, CID.parse(id), opts)))
      if (genesis.entry.payload.kind !== 'genesis' || genesis.entry.payload.name !== idOrName) {
        throw new UnknownDatanetError(`version ${version.toString()} is not of a datanet "${idOrName}"`, { idOrName, version: version.toString(), datanet: id })
      }
    }
    return await this.follow(id, reason, network, heads, opts)
  }

  /** Stop following a datanet (by id, or name when open): its heads file goes; returns its log, if it was open. */
  async unfollow (idOrName: string): Promise<ManifestLog | undefined> {
    const id = this.chosen.has(idOrName) ? idOrName : this.resolve(idOrName).id
    return await this.locked(id, async () => {
      const log = this.logs.get(id)
      await this.drop(id)
      return log
    })
  }

  /** One contribution entry per batch, each with its sketches block. */
  async contribute (idOrName: string, batches: IngestedFile[][], license: string, signer: RecordSigner): Promise<StoredEntry[]> {
    const log = this.resolve(idOrName)
    return await this.locked(log.id, async () => {
      const out: StoredEntry[] = []
      for (const batch of batches) {
        const sketches = batch.some(f => f.sketch != null)
          ? (await putDagCbor(this.opts.blockstore, { v: SKETCH_VERSION, sigs: batch.map(f => f.sketch) })).cid
          : undefined
        out.push(await log.append({
          kind: 'contribution',
          contributor: addressOf(signer.publicKey),
          license,
          files: batch.map(f => f.file),
          sketches
        }, signer))
      }
      this.chosen.get(log.id)?.add('own')
      await this.persist(log)
      return out
    })
  }

  async recordCycle (idOrName: string, cycle: Omit<TrainingCycle, 'kind' | 'reporter'>, signer: RecordSigner): Promise<StoredEntry> {
    const log = this.resolve(idOrName)
    return await this.locked(log.id, async () => {
      const entry = await log.append({ kind: 'training-cycle', reporter: addressOf(signer.publicKey), ...cycle }, signer)
      this.chosen.get(log.id)?.add('own')
      await this.persist(log)
      return entry
    })
  }

  async recordAttribution (idOrName: string, record: Omit<Attribution, 'kind' | 'reporter'>, signer: RecordSigner): Promise<StoredEntry> {
    const log = this.resolve(idOrName)
    return await this.locked(log.id, async () => {
      const entry = await log.append({ kind: 'attribution', reporter: addressOf(signer.publicKey), ...record }, signer)
      this.chosen.get(log.id)?.add('own')
      await this.persist(log)
      return entry
    })
  }

  /**
   * Union a followed datanet with heads announced by a peer, fetching missing entries
   * through `network` (a blockstore that asks peers); a pending one is opened. A datanet
   * not followed is refused before anything is fetched.
   */
  async merge (id: string, heads: CID[], network: BlockStore, opts: { signal?: AbortSignal } = {}): Promise<StoredEntry[]> {
    if (!this.chosen.has(id)) throw new NotFollowedError(`this peer does not follow datanet ${id}`, { id })
    return await this.locked(id, async () => {
      if (!this.chosen.has(id)) throw new NotFollowedError(`this peer no longer follows datanet ${id}`, { id })
      let log = this.logs.get(id)
      if (log == null) {
        log = await ManifestLog.open(this.opts.blockstore, id, heads, { ...opts, source: network })
        this.logs.set(id, log)
        await this.persist(log)
        return log.ordered()
      }
      const added = await log.merge(heads, { ...opts, source: network })
      if (added.length > 0) await this.persist(log)
      return added
    })
  }

  async view (idOrName: string, opts: { entitled?: CreditEntitlement } = {}): Promise<DatanetView> {
    return await this.viewOf(this.resolve(idOrName), opts)
  }

  /** The view of one log (a datanet at some version), with the sketches this peer holds; credit only from `entitled` entries when given. */
  async viewOf (log: ManifestLog, opts: { entitled?: CreditEntitlement } = {}): Promise<DatanetView> {
    const sketches = new Map<string, Sketches>()
    for (const e of log.ordered()) {
      const p = e.entry.payload
      if (p.kind !== 'contribution' || p.sketches == null) continue
      const loaded = await this.loadSketches(p.sketches, p.files.length)
      if (loaded != null) sketches.set(e.cid.toString(), loaded)
    }
    return deriveView(log, { sketches, entitled: opts.entitled })
  }

  /**
   * Sketch blocks come from other peers: anything malformed is ignored, not trusted.
   * Version 1 blocks are a bare list of signatures; later ones say their version.
   */
  private async loadSketches (cid: CID, files: number): Promise<Sketches | undefined> {
    try {
      if (!(await this.opts.blockstore.has(cid))) return undefined
      const value = dagCbor.decode(await getBlock(this.opts.blockstore, cid)) as unknown
      const versioned = value as { v?: unknown, sigs?: unknown } | null
      const [version, sigs] = Array.isArray(value) ? [1, value] : [versioned?.v, versioned?.sigs]
      if (typeof version !== 'number' || SKETCH_SHINGLE_WORDS[version] === undefined || !Array.isArray(sigs) || sigs.length !== files) return undefined
      return { version, sigs: sigs.map(v => v instanceof Uint8Array && v.byteLength === SKETCH_BYTES ? v : null) }
    } catch {
      return undefined
    }
  }

  private checkRoom (): void {
    if (this.chosen.size >= (this.opts.maxDatanets ?? 1_000)) throw new TooManyDatanetsError('this peer follows its maximum number of datanets')
  }

  private async persist (log: ManifestLog): Promise<void> {
    await writeJsonAtomic(join(this.opts.dir, `${log.id}.json`), { id: log.id, heads: log.heads.map(String), follow: this.reasons(log.id) } satisfies HeadsFile)
  }

  /** Followed, genesis not here yet: no heads. */
  private async persistPending (id: string): Promise<void> {
    await writeJsonAtomic(join(this.opts.dir, `${id}.json`), { id, heads: [], follow: this.reasons(id) } satisfies HeadsFile)
  }

  private async drop (id: string): Promise<void> {
    this.chosen.delete(id)
    this.logs.delete(id)
    await rm(join(this.opts.dir, `${id}.json`), { force: true })
  }

  /** One operation at a time per datanet: appends and merges must not interleave. */
  private async locked<T> (id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve()
    const run = previous.then(fn, fn)
    this.locks.set(id, run.catch(() => {}))
    return await run
  }
}
