// The models and adapters a peer holds. Both are tensor files stored as Kubo-style
// UnixFS in the peer's blockstore, so their CIDs are what any IPFS node would give and
// any peer can fetch them; models.json and adapters.json (written atomically) remember
// names, kinds and where each came from. Decoded base models are cached: the server
// loads a base once however many adapters run on it. A file this peer lacks is pulled
// from the peers that hold it over the shard protocol first (bitswap alone let a
// verifier's fetch of a worker's result time out under load, failing honest work).
import { join } from 'node:path'
import type { Helia } from '@helia/interface'
import { CID } from 'multiformats/cid'
import { decodeModel, MAX_ADAPTER_BYTES, MAX_MODEL_BYTES, type Model } from '../../compute/models/artifacts.ts'
import { readJsonIfExists, writeJsonAtomic } from '../../storage/atomic-file.ts'
import type { BlockStore } from '../../storage/blocks.ts'
import { importFile, readFileBytes } from '../../storage/unixfs/index.ts'
import { PeerError, EXIT, UsageError } from '../errors.ts'

/** No model or adapter of that name or CID here. */
export class UnknownModelError extends PeerError {
  constructor (what: string) { super(`no model or adapter "${what}" on this peer (add one with: openledger model add FILE)`, EXIT.notFound, { what }) }
}

export interface ModelEntry { cid: string, name: string, kind: string, bytes: number, addedAt: number, provenance?: unknown }
export interface AdapterEntry { cid: string, base: string, kind: string, bytes: number, createdAt: number, datanet?: { id: string, version: string }, metrics?: unknown, /** The ModelFactory job (jobs/<job>/) that trained it on this peer. */ job?: string }

export interface ModelRegistryOptions {
  helia: Helia
  localBlocks: BlockStore
  dataDir: string
  pin: (cids: CID[]) => Promise<void>
  /** Bulk transfer of a DAG from the peers that hold it (DatanetService.fetchFromHolders); bitswap remains the fallback. */
  fetch?: (cid: CID, signal: AbortSignal) => Promise<void>
}

export class ModelRegistry {
  private readonly opts: ModelRegistryOptions
  private models: ModelEntry[] = []
  private adapters: AdapterEntry[] = []
  private readonly decoded = new Map<string, Promise<Model>>()

  constructor (opts: ModelRegistryOptions) {
    this.opts = opts
  }

  async load (): Promise<void> {
    this.models = (await readJsonIfExists<ModelEntry[]>(join(this.opts.dataDir, 'models.json'))) ?? []
    this.adapters = (await readJsonIfExists<AdapterEntry[]>(join(this.opts.dataDir, 'adapters.json'))) ?? []
  }

  listModels (): ModelEntry[] { return [...this.models] }
  listAdapters (): AdapterEntry[] { return [...this.adapters] }

  /** Checks the bytes decode as a model, stores and pins them; adding the same file twice is a no-op. */
  async addModel (bytes: Uint8Array, name?: string): Promise<ModelEntry> {
    const model = decodeModel(bytes)
    const { cid } = await importFile(this.opts.localBlocks, bytes)
    await this.opts.pin([cid])
    const existing = this.models.find(m => m.cid === cid.toString())
    if (existing != null) return existing
    const entry: ModelEntry = { cid: cid.toString(), name: name ?? model.meta.name, kind: model.meta.kind, bytes: bytes.byteLength, addedAt: Date.now(), provenance: model.meta.provenance }
    this.models = [...this.models, entry]
    await writeJsonAtomic(join(this.opts.dataDir, 'models.json'), this.models)
    return entry
  }

  async addAdapter (bytes: Uint8Array, info: Omit<AdapterEntry, 'cid' | 'bytes' | 'createdAt'>): Promise<AdapterEntry> {
    const { cid } = await importFile(this.opts.localBlocks, bytes)
    await this.opts.pin([cid])
    const existing = this.adapters.find(a => a.cid === cid.toString())
    if (existing != null) return existing
    const entry: AdapterEntry = { cid: cid.toString(), bytes: bytes.byteLength, createdAt: Date.now(), ...info }
    this.adapters = [...this.adapters, entry]
    await writeJsonAtomic(join(this.opts.dataDir, 'adapters.json'), this.adapters)
    return entry
  }

  /** A model by name (the newest of that name) or CID. */
  resolveModel (nameOrCid: string): ModelEntry {
    const found = this.models.findLast(m => m.cid === nameOrCid || m.name === nameOrCid)
    if (found != null) return found
    try { CID.parse(nameOrCid) } catch { throw new UnknownModelError(nameOrCid) }
    return { cid: nameOrCid, name: nameOrCid, kind: 'unknown', bytes: 0, addedAt: 0 }
  }

  /** The decoded base model (fetched from peers if this one lacks it), cached. */
  async model (cid: string, signal?: AbortSignal): Promise<Model> {
    let p = this.decoded.get(cid)
    if (p == null) {
      p = this.bytesOf(cid, MAX_MODEL_BYTES, signal).then(decodeModel)
      this.decoded.set(cid, p)
      p.catch(() => this.decoded.delete(cid))
      // A peer serves few bases at once; keep the four most recently loaded.
      if (this.decoded.size > 4) this.decoded.delete(this.decoded.keys().next().value as string)
    }
    return await p
  }

  async adapterBytes (cid: string, signal?: AbortSignal): Promise<Uint8Array> {
    return await this.bytesOf(cid, MAX_ADAPTER_BYTES, signal)
  }

  /** Any file by CID (a job's prompts, a worker's outputs), at most maxBytes: from this peer, else the swarm. */
  async fileBytes (cid: string, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
    return await this.bytesOf(cid, maxBytes, signal)
  }

  /** Stores and pins a job file (prompts, outputs) so peers can fetch it; returns its CID. */
  async addFile (bytes: Uint8Array): Promise<string> {
    const { cid } = await importFile(this.opts.localBlocks, bytes)
    await this.opts.pin([cid])
    return cid.toString()
  }

  private async bytesOf (cid: string, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
    let parsed: CID
    try { parsed = CID.parse(cid) } catch { throw new UsageError(`"${cid}" is not a CID`) }
    const local = await this.opts.localBlocks.has(parsed)
    if (!local && !this.models.some(m => m.cid === cid) && !this.adapters.some(a => a.cid === cid)) {
      // Not ours: from its holders, else the swarm (bitswap), bounded in time; blocks are hash-checked on arrival.
      const bounded = AbortSignal.any([signal ?? new AbortController().signal, AbortSignal.timeout(60_000)])
      await this.opts.fetch?.(parsed, bounded).catch(() => {})
      return await readFileBytes(this.opts.helia.blockstore, parsed, { maxBytes, signal: AbortSignal.any([signal ?? new AbortController().signal, AbortSignal.timeout(60_000)]) })
    }
    return await readFileBytes(this.opts.helia.blockstore, parsed, { maxBytes, signal })
  }
}
