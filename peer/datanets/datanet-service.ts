// Datanets on a running peer: the storage engine (DatanetStore) wired to the swarm.
// - Heads travel on the datanets gossip topic; a peer merges what it lacks, fetching
//   entries through Helia (bitswap), and follows every datanet it hears of.
// - Each shard is pinned by the R peers that placement (rendezvous hashing over the
//   adverts) picks; when a holder's advert expires, the next peer in line pins it
//   (replicator.ts), pulling in bulk over shard sync (shard-fetcher.ts).
// - /openledger/has/1.0.0 answers which shards this peer holds, so `datanet show`
//   reports real replication, not just intended placement.
// - Entries that fail their checks count against the peer that signed the heads
//   announcement (its key is its peer id): its announcements are ignored for a while and
//   it is disconnected. Never against the gossip neighbour that relayed them: honest
//   peers forward heads before merging, so blaming the relay would set honest peers
//   on each other.
import { join, resolve } from 'node:path'
import type { Helia } from '@helia/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { sealEnvelope, type Envelope } from '../../protocols/envelope.ts'
import { topicValidator } from '../../protocols/gossip-validator.ts'
import { identityOf } from '../../protocols/identity.ts'
import { askHas, serveHas } from '../../protocols/has/has.ts'
import type { Inbound } from '../../protocols/inbound.ts'
import { DatanetHeadsMessage, type DatanetHeads } from '../../protocols/messages/index.ts'
import type { MessageRegistry } from '../../protocols/registry.ts'
import { DATANET_TOPIC, topicName } from '../../protocols/topics.ts'
import { getBlock, type BlockStore } from '../../storage/blocks.ts'
import { StorageError } from '../../storage/errors.ts'
import { CORPORA, importCorpus, type CorpusName } from '../../storage/datanet/corpus.ts'
import { ingest, planIngest } from '../../storage/datanet/ingest.ts'
import { canStore, DEFAULT_REPLICATION, holdersFor, type StorageCandidate } from '../../storage/datanet/placement.ts'
import type { Genesis } from '../../storage/datanet/records.ts'
import { uniqueShards, type Shard } from '../../storage/datanet/shards.ts'
import { DatanetStore } from '../../storage/datanet/store.ts'
import type { DatanetView } from '../../storage/datanet/view.ts'
import { ManifestLog, resolveVersion } from '../../storage/manifest/log.ts'
import { readFileBytes } from '../../storage/unixfs/index.ts'
import { ShardSync } from '../../protocols/shard/index.ts'
import type { Identity } from '../identity/keystore.ts'
import { UsageError } from '../errors.ts'
import type { PeerLibp2p } from '../net/peer-libp2p.ts'
import { Replicator } from './replicator.ts'
import { ShardFetcher } from './shard-fetcher.ts'
import { writeShardFiles } from './file-writer.ts'

/** The address has no contribution in that datanet. */
export class UnknownContributorError extends StorageError {}

/** A heads announcement: who signed it (and answers for it) and the neighbour that relayed it. */
interface Announcement { heads: CID[], announcer: string, relay: string }

/** Bad content from a peer: the named entry or block failed its checks. */
const CONTENT_ERRORS = new Set(['MalformedEntryError', 'InvalidEntrySignatureError', 'ForgedContributorError', 'InvalidEntryLinkError', 'BlockHashMismatchError', 'MalformedDagError'])

export interface DatanetServiceOptions {
  helia: Helia
  libp2p: PeerLibp2p
  /** The peer's own blocks: reads here never go to the network. */
  localBlocks: BlockStore
  identity: Identity
  dataDir: string
  network: string
  registry: MessageRegistry
  inbound: Inbound
  replication?: number
  /** Peers that advertise storage, this one included. */
  candidates: () => StorageCandidate[]
  log: (msg: string, fields?: Record<string, unknown>) => void
}

export interface ShardReplication { cid: string, path: string, size: number, intended: string[], holders: string[] }

/** What the status API reports of the datanets this peer follows. */
export interface DatanetStats { followed: number, pinnedShards: number, failures: Record<string, number>, penalised: Array<{ peer: string, why: string, at: number }> }

export class DatanetService {
  readonly store: DatanetStore
  private readonly opts: DatanetServiceOptions
  private readonly topic: string
  private readonly replication: number
  /** Datanets being merged, with the announcements that arrived meanwhile (merged next). */
  private readonly merging = new Map<string, Announcement[]>()
  private readonly banned = new Map<string, number>()
  private timer?: NodeJS.Timeout
  private stopped = false
  private readonly failures: Record<string, number> = {}
  private readonly penalised: Array<{ peer: string, why: string, at: number }> = []
  private readonly shardSync: ShardSync
  private readonly fetcher: ShardFetcher
  private readonly replicator: Replicator

  constructor (opts: DatanetServiceOptions) {
    this.opts = opts
    this.topic = topicName(opts.network, DATANET_TOPIC)
    this.replication = opts.replication ?? DEFAULT_REPLICATION
    this.store = new DatanetStore({ dir: join(opts.dataDir, 'datanets'), blockstore: opts.localBlocks })
    this.shardSync = new ShardSync({ host: opts.libp2p, blockstore: opts.localBlocks })
    this.fetcher = new ShardFetcher({
      sync: this.shardSync,
      host: opts.libp2p,
      self: opts.identity.peerId,
      peers: () => this.opts.candidates().map(c => c.peerId),
      penalise: async (peer, why) => await this.penalise(peer, why),
      isBanned: (peer) => this.isBanned(peer),
      log: opts.log
    })
    this.replicator = new Replicator({
      helia: opts.helia,
      store: this.store,
      fetcher: this.fetcher,
      self: opts.identity.peerId,
      replication: this.replication,
      candidates: opts.candidates,
      log: opts.log
    })
  }

  async start (): Promise<void> {
    await this.store.load()
    const { libp2p } = this.opts
    libp2p.services.pubsub.topicValidators.set(this.topic, topicValidator(this.opts.inbound, DATANET_TOPIC, this.topic,
      (env, from) => this.onHeads(env as Envelope<DatanetHeads>, from)))
    libp2p.services.pubsub.subscribe(this.topic)
    await serveHas(libp2p, async (cid) => await this.opts.helia.pins.isPinned(cid))
    await this.shardSync.start()
    this.timer = setInterval(() => { void this.tick() }, 5_000)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    this.stopped = true
    if (this.timer != null) clearInterval(this.timer)
    await this.shardSync.stop()
    await this.replicator.stop()
  }

  // --- gossip -------------------------------------------------------------------

  private announce (log: ManifestLog): void {
    const body: DatanetHeads = { datanet: log.id, name: (log.genesis.entry.payload as Genesis).name, heads: log.heads.map(String).slice(0, 64), entries: log.size }
    const bytes = sealEnvelope({ network: this.opts.network, type: DatanetHeadsMessage.type, body, signer: this.opts.identity.signer, registry: this.opts.registry })
    this.opts.libp2p.services.pubsub.publish(this.topic, bytes).catch((err: Error) => this.opts.log('heads publish failed', { error: err.message }))
  }

  private onHeads (env: Envelope<DatanetHeads>, from: string): void {
    const announcer = identityOf(env.signer).peerId
    if (this.isBanned(announcer)) return
    const heads = env.body.heads.map(h => CID.parse(h))
    const log = this.store.has(env.body.datanet) ? this.store.resolve(env.body.datanet) : undefined
    if (log != null && heads.every(h => log.has(h))) return
    void this.mergeFrom(env.body.datanet, { heads, announcer, relay: from })
  }

  /** One merge per datanet at a time; announcements that arrive meanwhile are merged next, each on its own account. */
  private async mergeFrom (id: string, first: Announcement): Promise<void> {
    const queued = this.merging.get(id)
    if (queued !== undefined) { if (queued.length < 64) queued.push(first); return }
    const queue: Announcement[] = [first]
    this.merging.set(id, queue)
    try {
      while (queue.length > 0 && !this.stopped) {
        const next = queue.shift()!
        if (this.isBanned(next.announcer)) continue
        try {
          const added = await this.store.merge(id, next.heads, this.opts.helia.blockstore, { signal: AbortSignal.timeout(60_000) })
          if (added.length > 0) {
            this.opts.log('datanet merged', { datanet: id, added: added.length, announcer: next.announcer, relay: next.relay })
            const log = this.store.resolve(id)
            // Our side had entries the announcer lacks: tell it (and everyone) where we stand.
            if (!log.heads.every(h => next.heads.some(n => n.equals(h)))) this.announce(log)
            void this.replicator.replicate()
          }
        } catch (err) {
          const e = err as Error
          this.opts.log('datanet merge failed', { datanet: id, announcer: next.announcer, relay: next.relay, error: e.name, message: e.message })
          this.failures[e.name] = (this.failures[e.name] ?? 0) + 1
          if (CONTENT_ERRORS.has(e.name)) await this.penalise(next.announcer, e.name)
        }
      }
    } finally {
      this.merging.delete(id)
    }
  }

  private isBanned (peer: string): boolean {
    return (this.banned.get(peer) ?? 0) > Date.now()
  }

  /** A peer that announced or served bad entries or blocks: disconnected, its announcements ignored for 10 minutes. */
  private async penalise (peer: string, why: string): Promise<void> {
    // Bounded: throwaway keys must not grow the map forever; expired bans go first.
    if (this.banned.size >= 10_000) for (const [p, until] of this.banned) if (until <= Date.now()) this.banned.delete(p)
    if (this.banned.size >= 10_000) this.banned.delete(this.banned.keys().next().value!)
    this.banned.set(peer, Date.now() + 10 * 60_000)
    this.penalised.push({ peer, why, at: Date.now() })
    if (this.penalised.length > 50) this.penalised.shift()
    this.opts.log('peer penalised', { peer, why })
    await this.opts.libp2p.hangUp(peerIdFromString(peer)).catch(() => {})
  }

  private async tick (): Promise<void> {
    if (this.stopped) return
    for (const log of this.store.list()) this.announce(log)
    await this.replicator.replicate()
  }

  // --- actions (the API calls these) ---------------------------------------------

  async create (fields: { name: string, description: string, license: string }): Promise<DatanetView> {
    const log = await this.store.create(fields, this.opts.identity.signer)
    this.announce(log)
    return await this.store.view(log.id)
  }

  async contribute (idOrName: string, paths: string[], license: string | undefined, progress: (p: unknown) => void, signal: AbortSignal): Promise<unknown> {
    const log = this.store.resolve(idOrName)
    const planned = await planIngest(paths)
    const batches = await ingest(this.opts.localBlocks, planned, { onProgress: progress, signal })
    const entries = await this.store.contribute(log.id, batches, license ?? (log.genesis.entry.payload as Genesis).license, this.opts.identity.signer)
    // The contributor's own peer holds what it contributed, whatever placement says.
    await this.replicator.pinLocal(batches.flat().map(f => f.file.cid))
    this.announce(this.store.resolve(log.id))
    void this.replicator.replicate()
    return { datanet: log.id, entries: entries.map(e => e.cid.toString()), files: planned.length, bytes: planned.reduce((s, f) => s + f.size, 0), version: (await this.store.resolve(log.id).version()).toString() }
  }

  async importCorpus (corpus: string, limit: number | undefined, progress: (p: unknown) => void, signal: AbortSignal): Promise<unknown> {
    if (!(CORPORA as readonly string[]).includes(corpus)) throw new UsageError(`unknown corpus "${corpus}"; choose one of: ${CORPORA.join(', ')}`)
    const result = await importCorpus(this.store, this.opts.localBlocks, corpus as CorpusName, this.opts.identity.signer, { limit, onProgress: progress, signal })
    await this.replicator.pinLocal(uniqueShards(result.log).map(s => s.cid))
    this.announce(result.log)
    void this.replicator.replicate()
    return { datanet: result.log.id, name: corpus, version: (await result.log.version()).toString(), contributors: result.contributors }
  }

  /** The view, plus where each shard is meant to be and where it really is. */
  async show (idOrName: string): Promise<DatanetView & { version: string, replication: { target: number, wanted: number, shards: ShardReplication[] } }> {
    const log = this.store.resolve(idOrName)
    const view = await this.store.view(log.id)
    const shards = uniqueShards(log)
    const candidates = this.opts.candidates()
    const self = this.opts.identity.peerId
    const holders = new Map<string, string[]>(shards.map(s => [s.cid.toString(), []]))
    const peers = candidates.map(c => c.peerId)
    await Promise.all(peers.map(async (peer) => {
      let has: boolean[]
      try {
        has = peer === self
          ? await Promise.all(shards.map(async s => await this.opts.helia.pins.isPinned(s.cid)))
          : await askHas(this.opts.libp2p, peerIdFromString(peer), shards.map(s => s.cid))
      } catch { return } // unreachable peers hold nothing we can count on
      has.forEach((h, i) => { if (h) holders.get(shards[i].cid.toString())!.push(peer) })
    }))
    return {
      ...view,
      version: (await log.version()).toString(),
      replication: {
        // With fewer storage peers than R, every one of them is the most there can be.
        target: Math.min(this.replication, candidates.filter(canStore).length),
        wanted: this.replication,
        shards: shards.map(s => ({ cid: s.cid.toString(), path: s.path, size: s.size, intended: holdersFor(s.cid.toString(), candidates, this.replication), holders: holders.get(s.cid.toString())!.sort() }))
      }
    }
  }

  /** Records that a job trained `model` on a version of the datanet, and announces it. */
  async recordCycle (id: string, cycle: { version: CID, model: string, adapter?: CID, credits: Array<{ contribution: CID, weight: number }> }): Promise<string> {
    const entry = await this.store.recordCycle(id, cycle, this.opts.identity.signer)
    this.announce(this.store.resolve(id))
    return entry.cid.toString()
  }

  /** Records Proof of Attribution's credits for a training cycle, and announces them. */
  async recordAttribution (id: string, record: { cycle: CID, method: string, credits: Array<{ contribution: CID, weight: number, influence: number }>, job?: string, result?: CID }): Promise<string> {
    const entry = await this.store.recordAttribution(id, record, this.opts.identity.signer)
    this.announce(this.store.resolve(id))
    return entry.cid.toString()
  }

  /** Pin DAGs whose blocks are all on this peer already (models, adapters). */
  async pinLocal (cids: CID[]): Promise<void> {
    await this.replicator.pinLocal(cids)
  }

  /** Counters for the status API: failed merges by error, peers penalised. */
  stats (): DatanetStats {
    return { followed: this.store.list().length, pinnedShards: this.replicator.pinnedCount, failures: { ...this.failures }, penalised: [...this.penalised] }
  }

  /** One contributor's record in a datanet: contributions, files, and credit per training cycle. */
  async contributor (idOrName: string, address: string): Promise<unknown> {
    const view = await this.store.view(idOrName)
    const who = view.contributors.find(c => c.address.toLowerCase() === address.toLowerCase())
    if (who == null) throw new UnknownContributorError(`${address} has not contributed to ${view.name}`, { address })
    return { datanet: view.id, name: view.name, ...who, contributions: view.contributions.filter(c => c.contributor === who.address) }
  }

  list (): unknown[] {
    return this.store.list().map(l => ({ id: l.id, name: (l.genesis.entry.payload as Genesis).name, entries: l.size, heads: l.heads.map(String) }))
  }

  /**
   * Fetch a whole datanet (by id, name or version) or one file (by CID) into `out`,
   * every block checked against its CID on the way. Files land under their paths.
   */
  async get (target: string, out: string, progress: (p: unknown) => void, signal: AbortSignal): Promise<unknown> {
    const root = resolve(out)
    let log = this.tryResolve(target)
    if (log == null) {
      let cid: CID
      try { cid = CID.parse(target) } catch { throw new UsageError(`"${target}" is neither a datanet here nor a CID`) }
      if (cid.code !== 0x71) return await this.writeFiles(root, undefined, [{ cid, path: cid.toString(), size: 0 }], progress, signal)
      // dag-cbor: a datanet id or version from elsewhere
      await this.store.merge(target, [cid], this.opts.helia.blockstore, { signal: AbortSignal.any([signal, AbortSignal.timeout(60_000)]) })
      log = this.store.resolve(target)
    }
    return await this.writeFiles(root, log.id, uniqueShards(log), progress, signal)
  }

  private async writeFiles (root: string, datanet: string | undefined, files: Shard[], progress: (p: unknown) => void, signal: AbortSignal): Promise<unknown> {
    return await writeShardFiles({ blockstore: this.opts.helia.blockstore, fetcher: this.fetcher, log: this.opts.log }, root, datanet, files, progress, signal)
  }

  /**
   * A datanet as of one version: `D` (its current version) or `D@VERSION`, D an id or
   * a name. The version's entries are fetched from peers if this one lacks them, and
   * the log returned holds exactly those entries: a job trains on what it names.
   */
  async atVersion (spec: string, signal?: AbortSignal): Promise<{ id: string, name: string, version: string, log: ManifestLog }> {
    const at = spec.lastIndexOf('@')
    const current = this.store.resolve(at < 0 ? spec : spec.slice(0, at))
    const name = (current.genesis.entry.payload as Genesis).name
    if (at < 0) return { id: current.id, name, version: (await current.version()).toString(), log: current }
    let version: CID
    try { version = CID.parse(spec.slice(at + 1)) } catch { throw new UsageError(`"${spec.slice(at + 1)}" is not a version CID`) }
    const opts = { signal: AbortSignal.any([signal ?? new AbortController().signal, AbortSignal.timeout(60_000)]) }
    const heads = await resolveVersion(this.opts.helia.blockstore, version, opts)
    const log = await ManifestLog.open(this.opts.localBlocks, current.id, heads, { ...opts, source: this.opts.helia.blockstore })
    return { id: current.id, name, version: version.toString(), log }
  }

  /**
   * The files of this datanet version that its manifest flags as near-duplicates of
   * earlier text. Every contribution's MinHash sketches are fetched from peers first if
   * this peer lacks them: without them a view flags nothing, so peers that hold
   * different sketch blocks would pay the same version differently (attribution must
   * give the same weights on the worker, its verifier and the trainer).
   */
  async nearDuplicateFiles (log: ManifestLog, signal?: AbortSignal): Promise<string[]> {
    for (const e of log.ordered()) {
      const p = e.entry.payload
      if (p.kind !== 'contribution' || p.sketches == null || await this.opts.localBlocks.has(p.sketches)) continue
      // Bitswap checks the block against its CID and keeps it in this peer's blockstore.
      await getBlock(this.opts.helia.blockstore, p.sketches, { signal: AbortSignal.any([signal ?? new AbortController().signal, AbortSignal.timeout(60_000)]) })
    }
    const view = await this.store.viewOf(log)
    return view.contributions.flatMap(c => c.files.filter(f => f.nearDuplicateOf != null).map(f => f.cid))
  }

  /** Pulls whole DAGs (any file a peer pinned: a model, an adapter, a job's result) from the peers that hold them, every block checked. */
  async fetchFromHolders (cids: CID[], signal?: AbortSignal): Promise<void> {
    await this.fetcher.fetch(cids, { signal })
  }

  /**
   * Whole files by CID: shards this peer lacks are pulled from their holders first
   * (bulk, every block checked against its CID), then read; at most maxBytes in all.
   */
  async readShards (cids: CID[], opts: { signal?: AbortSignal, maxBytes: number, onBytes?: (bytes: number) => void }): Promise<Uint8Array[]> {
    const missing: CID[] = []
    for (const cid of cids) if (!(await this.opts.localBlocks.has(cid))) missing.push(cid)
    if (missing.length > 0) await this.fetcher.fetch(missing, { signal: opts.signal, onBytes: opts.onBytes })
    const out: Uint8Array[] = []
    let total = 0
    for (const cid of cids) {
      const bytes = await readFileBytes(this.opts.helia.blockstore, cid, { signal: opts.signal })
      total += bytes.byteLength
      if (total > opts.maxBytes) throw new UsageError(`the files come to more than ${opts.maxBytes} bytes`, { maxBytes: opts.maxBytes })
      out.push(bytes)
    }
    return out
  }

  /** The datanet by id or name, or undefined when this peer does not follow it. */
  private tryResolve (idOrName: string): ManifestLog | undefined {
    try { return this.store.resolve(idOrName) } catch (err) { if (err instanceof StorageError) return undefined; throw err }
  }
}

