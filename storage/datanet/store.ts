// All the datanets a peer follows. Each is a manifest log whose entries live in the
// blockstore; the only other state is its current heads, in <dir>/<id>.json, written
// atomically after the entries are stored, so a kill -9 loses at most the append in
// flight and never leaves heads pointing at missing entries.
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { readJsonIfExists, writeJsonAtomic } from '../atomic-file.ts'
import { getBlock, putDagCbor, type BlockStore } from '../blocks.ts'
import { StorageError } from '../errors.ts'
import type { StoredEntry } from '../manifest/entry.ts'
import { ManifestLog } from '../manifest/log.ts'
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

const SKETCH_BYTES = 128 * 4

interface HeadsFile { id: string, heads: string[] }

export interface DatanetStoreOptions {
  /** Folder for the heads files. */
  dir: string
  /** The peer's own blocks (never asks the network). */
  blockstore: BlockStore
  maxDatanets?: number
}

export class DatanetStore {
  private readonly opts: DatanetStoreOptions
  private readonly logs = new Map<string, ManifestLog>()
  private readonly locks = new Map<string, Promise<unknown>>()

  constructor (opts: DatanetStoreOptions) {
    this.opts = opts
  }

  /** Open every datanet recorded in dir from local blocks. */
  async load (): Promise<void> {
    let names: string[] = []
    try { names = await readdir(this.opts.dir) } catch {}
    for (const name of names.filter(n => n.endsWith('.json'))) {
      const file = await readJsonIfExists<HeadsFile>(join(this.opts.dir, name))
      if (file == null) continue
      const log = await ManifestLog.open(this.opts.blockstore, file.id, file.heads.map(h => CID.parse(h)), { signal: AbortSignal.timeout(60_000) })
      this.logs.set(log.id, log)
    }
  }

  list (): ManifestLog[] { return [...this.logs.values()] }
  has (id: string): boolean { return this.logs.has(id) }

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
    await this.persist(log)
    return log
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
      await this.persist(log)
      return out
    })
  }

  async recordCycle (idOrName: string, cycle: Omit<TrainingCycle, 'kind' | 'reporter'>, signer: RecordSigner): Promise<StoredEntry> {
    const log = this.resolve(idOrName)
    return await this.locked(log.id, async () => {
      const entry = await log.append({ kind: 'training-cycle', reporter: addressOf(signer.publicKey), ...cycle }, signer)
      await this.persist(log)
      return entry
    })
  }

  async recordAttribution (idOrName: string, record: Omit<Attribution, 'kind' | 'reporter'>, signer: RecordSigner): Promise<StoredEntry> {
    const log = this.resolve(idOrName)
    return await this.locked(log.id, async () => {
      const entry = await log.append({ kind: 'attribution', reporter: addressOf(signer.publicKey), ...record }, signer)
      await this.persist(log)
      return entry
    })
  }

  /**
   * Union a datanet with heads announced by a peer, fetching missing entries through
   * `network` (a blockstore that asks peers). A datanet not followed yet is opened.
   */
  async merge (id: string, heads: CID[], network: BlockStore, opts: { signal?: AbortSignal } = {}): Promise<StoredEntry[]> {
    return await this.locked(id, async () => {
      let log = this.logs.get(id)
      if (log == null) {
        this.checkRoom()
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
    if (this.logs.size >= (this.opts.maxDatanets ?? 1_000)) throw new TooManyDatanetsError('this peer follows its maximum number of datanets')
  }

  private async persist (log: ManifestLog): Promise<void> {
    await writeJsonAtomic(join(this.opts.dir, `${log.id}.json`), { id: log.id, heads: log.heads.map(String) } satisfies HeadsFile)
  }

  /** One operation at a time per datanet: appends and merges must not interleave. */
  private async locked<T> (id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve()
    const run = previous.then(fn, fn)
    this.locks.set(id, run.catch(() => {}))
    return await run
  }
}
