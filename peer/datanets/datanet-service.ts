// Datanets on a running peer: the storage engine (DatanetStore) wired to the swarm.
// - A peer follows only the datanets it chose: those it created or wrote to, those its
//   user asked for (`datanet follow`, `datanet get`), and those a job it takes part in
//   names (a version it trains on, verifies or attributes). Heads of any other datanet
//   are ignored (heads-gossip.ts, which also merges what followed datanets gain).
// - Each shard is pinned by the R peers that placement (rendezvous hashing over the
//   adverts of the peers heard announcing the datanet, followers.ts) picks; when a
//   holder's advert expires, the next peer in line pins it (replicator.ts), pulling in
//   bulk over shard sync (shard-fetcher.ts). Unfollowing unpins.
// - /openledger/has/1.0.0 answers which shards this peer holds, so `datanet show`
//   reports real replication, not just intended placement.
import { join, resolve } from 'node:path'
import type { Helia } from '@helia/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { askHas, serveHas } from '../../protocols/has/has.ts'
import type { Inbound } from '../../protocols/inbound.ts'
import type { MessageRegistry } from '../../protocols/registry.ts'
import { getBlock, type BlockStore } from '../../storage/blocks.ts'
import { StorageError } from '../../storage/errors.ts'
import { CORPORA, importCorpus, type CorpusName } from '../../storage/datanet/corpus.ts'
import { ingest, planIngest } from '../../storage/datanet/ingest.ts'
import { canStore, DEFAULT_REPLICATION, placer, type StorageCandidate } from '../../storage/datanet/placement.ts'
import type { Genesis } from '../../storage/datanet/records.ts'
import { uniqueShards, type Shard } from '../../storage/datanet/shards.ts'
import { DatanetStore, UnknownDatanetError, type FollowReason } from '../../storage/datanet/store.ts'
import type { DatanetView } from '../../storage/datanet/view.ts'
import { ManifestLog, resolveVersion } from '../../storage/manifest/log.ts'
import { readFileBytes } from '../../storage/unixfs/index.ts'
import { ShardSync } from '../../protocols/shard/index.ts'
import type { Identity } from '../identity/keystore.ts'
import { UsageError } from '../errors.ts'
import type { PeerLibp2p } from '../net/peer-libp2p.ts'
import { HeadsGossip } from './heads-gossip.ts'
import { Replicator } from './replicator.ts'
import { ShardFetcher } from './shard-fetcher.ts'
import { writeShardFiles } from './file-writer.ts'

/** The address has no contribution in that datanet. */
export class UnknownContributorError extends StorageError {}

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

/** What the status API reports of the datanets this peer follows; ignoredHeads counts announcements of datanets it does not follow. */
export interface DatanetStats { followed: number, pending: number, pinnedShards: number, ignoredHeads: number, failures: Record<string, number>, penalised: Array<{ peer: string, why: string, at: number }> }

/** What `datanet follow` reports: pending while the genesis could not be fetched yet. */
export interface FollowResult { id: string, name: string | null, entries: number, pending: boolean, follow: FollowReason[] }

/**
 * How long a datanet is followed before this peer places its shards: one announce
 * interval and a margin, so that the other followers have been heard (a peer that
 * knew of no other follower would place every shard on itself).
 */
const SETTLE_MS = 7_000

export class DatanetService {
  readonly store: DatanetStore
  private readonly opts: DatanetServiceOptions
  private readonly replication: number
  private readonly gossip: HeadsGossip
  /** When each datanet was opened here (placement waits SETTLE_MS after it, and after start). */
  private readonly openedAt = new Map<string, number>()
  private startedAt = 0
  private timer?: NodeJS.Timeout
  private stopped = false
  private readonly shardSync: ShardSync
  private readonly fetcher: ShardFetcher
  private readonly replicator: Replicator

  constructor (opts: DatanetServiceOptions) {
    this.opts = opts
    this.replication = opts.replication ?? DEFAULT_REPLICATION
    this.store = new DatanetStore({ dir: join(opts.dataDir, 'datanets'), blockstore: opts.localBlocks, self: opts.identity.address })
    this.gossip = new HeadsGossip({
      helia: opts.helia,
      libp2p: opts.libp2p,
      identity: opts.identity,
      network: opts.network,
      registry: opts.registry,
      inbound: opts.inbound,
      store: this.store,
      onMerged: (id, opened) => {
        if (opened) this.openedAt.set(id, Date.now())
        void this.replicator.replicate()
      },
      log: opts.log
    })
    this.shardSync = new ShardSync({ host: opts.libp2p, blockstore: opts.localBlocks })
    this.fetcher = new ShardFetcher({
      sync: this.shardSync,
      host: opts.libp2p,
      self: opts.identity.peerId,
      peers: () => this.opts.candidates().map(c => c.peerId),
      penalise: async (peer, why) => await this.gossip.penalise(peer, why),
      isBanned: (peer) => this.gossip.isBanned(peer),
      log: opts.log
    })
    this.replicator = new Replicator({
      helia: opts.helia,
      store: this.store,
      fetcher: this.fetcher,
      self: opts.identity.peerId,
      replication: this.replication,
      candidates: (datanet) => this.settled(datanet) ? this.candidatesFor(datanet) : undefined,
      log: opts.log
    })
  }

  async start (): Promise<void> {
    this.startedAt = Date.now()
    const { evicted } = await this.store.load()
    if (evicted.length > 0) {
      // Kept by an older version for no better reason than having heard of them.
      const unpinned = await this.unpinUnneeded(evicted)
      this.opts.log('datanets evicted', { count: evicted.length, unpinned })
    }
    const { libp2p } = this.opts
    this.gossip.start()
    await serveHas(libp2p, async (cid) => await this.opts.helia.pins.isPinned(cid))
    await this.shardSync.start()
    this.timer = setInterval(() => { void this.tick() }, 5_000)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.gossip.stop()
    if (this.timer != null) clearInterval(this.timer)
    await this.shardSync.stop()
    await this.replicator.stop()
  }

  /** Storage peers that follow the datanet (heard announcing it), this one included: only they pin its shards. */
  private candidatesFor (datanet: string): StorageCandidate[] {
    const now = Date.now()
    const self = this.opts.identity.peerId
    return this.opts.candidates().filter(c => c.peerId === self || this.gossip.followers.has(datanet, c.peerId, now))
  }

  /** Whether the other followers of a datanet have had time to be heard since it was opened here (or since start). */
  private settled (datanet: string): boolean {
    return Date.now() - Math.max(this.startedAt, this.openedAt.get(datanet) ?? 0) >= SETTLE_MS
  }

  /** Unpins the shards of these logs that no datanet still followed names; returns how many. */
  private async unpinUnneeded (gone: ManifestLog[]): Promise<number> {
    const needed = new Set(this.store.list().flatMap(l => uniqueShards(l).map(s => s.cid.toString())))
    return await this.replicator.unpin(gone.flatMap(l => uniqueShards(l).map(s => s.cid)).filter(c => !needed.has(c.toString())))
  }

  private async tick (): Promise<void> {
    if (this.stopped) return
    for (const log of this.store.list()) this.gossip.announce(log)
    await this.replicator.replicate()
  }

  // --- actions (the API calls these) ---------------------------------------------

  /**
   * Follow a datanet by id (or the name of one followed already, to keep it for this
   * reason too): its genesis is fetched from peers, then it is merged as its heads are
   * announced. Pending when no peer sent the genesis in time; it opens when heads come.
   */
  async follow (target: string, signal?: AbortSignal): Promise<FollowResult> {
    const id = this.tryResolve(target)?.id ?? target
    const wasOpen = this.store.has(id)
    const log = await this.store.follow(id, 'follow', this.opts.helia.blockstore, [], { signal: AbortSignal.any([signal ?? new AbortController().signal, AbortSignal.timeout(30_000)]) })
    if (log == null) return { id, name: null, entries: 0, pending: true, follow: this.store.reasons(id) }
    if (!wasOpen) {
      this.opened(log)
      await this.catchUp(log.id, 5_000, signal)
    }
    return { id: log.id, name: (log.genesis.entry.payload as Genesis).name, entries: log.size, pending: false, follow: this.store.reasons(log.id) }
  }

  /** Stop following a datanet: its heads file goes, and the shards no other followed datanet names are unpinned. */
  async unfollow (target: string): Promise<{ id: string, unpinned: number }> {
    const id = this.store.follows(target) ? target : this.store.resolve(target).id
    const log = await this.store.unfollow(id)
    this.gossip.forget(id)
    this.openedAt.delete(id)
    const unpinned = log != null ? await this.unpinUnneeded([log]) : 0
    this.opts.log('datanet unfollowed', { datanet: id, unpinned })
    return { id, unpinned }
  }

  /** Waits (at most `ms`) until another follower has been heard and its heads merged, so the caller sees the datanet as it stands. */
  private async catchUp (id: string, ms: number, signal?: AbortSignal): Promise<void> {
    const until = Date.now() + ms
    while (Date.now() < until && signal?.aborted !== true && !this.stopped) {
      if (this.gossip.followers.heardAny(id) && !this.gossip.mergingNow(id)) return
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  /** A datanet newly open here: its followers hear of this peer at once, and its shards are placed once they have been heard. */
  private opened (log: ManifestLog): void {
    this.openedAt.set(log.id, Date.now())
    this.gossip.announce(log)
    void this.replicator.replicate()
  }

  async create (fields: { name: string, description: string, license: string }): Promise<DatanetView> {
    const log = await this.store.create(fields, this.opts.identity.signer)
    this.gossip.announce(log)
    return await this.store.view(log.id)
  }

  async contribute (idOrName: string, paths: string[], license: string | undefined, progress: (p: unknown) => void, signal: AbortSignal): Promise<unknown> {
    const log = this.store.resolve(idOrName)
    const planned = await planIngest(paths)
    const batches = await ingest(this.opts.localBlocks, planned, { onProgress: progress, signal })
    const entries = await this.store.contribute(log.id, batches, license ?? (log.genesis.entry.payload as Genesis).license, this.opts.identity.signer)
    // The contributor's own peer holds what it contributed, whatever placement says.
    await this.replicator.pinLocal(batches.flat().map(f => f.file.cid))
    this.gossip.announce(this.store.resolve(log.id))
    void this.replicator.replicate()
    return { datanet: log.id, entries: entries.map(e => e.cid.toString()), files: planned.length, bytes: planned.reduce((s, f) => s + f.size, 0), version: (await this.store.resolve(log.id).version()).toString() }
  }

  async importCorpus (corpus: string, limit: number | undefined, progress: (p: unknown) => void, signal: AbortSignal): Promise<unknown> {
    if (!(CORPORA as readonly string[]).includes(corpus)) throw new UsageError(`unknown corpus "${corpus}"; choose one of: ${CORPORA.join(', ')}`)
    const result = await importCorpus(this.store, this.opts.localBlocks, corpus as CorpusName, this.opts.identity.signer, { limit, onProgress: progress, signal })
    await this.replicator.pinLocal(uniqueShards(result.log).map(s => s.cid))
    this.gossip.announce(result.log)
    void this.replicator.replicate()
    return { datanet: result.log.id, name: corpus, version: (await result.log.version()).toString(), contributors: result.contributors }
  }

  /** The view, plus where each shard is meant to be and where it really is. */
  async show (idOrName: string): Promise<DatanetView & { version: string, replication: { target: number, wanted: number, shards: ShardReplication[] } }> {
    const log = this.store.resolve(idOrName)
    const view = await this.store.view(log.id)
    const shards = uniqueShards(log)
    // Where shards are meant to be: among the peers that follow it; where they are: anyone may hold them.
    const candidates = this.candidatesFor(log.id)
    const self = this.opts.identity.peerId
    const holders = new Map<string, string[]>(shards.map(s => [s.cid.toString(), []]))
    const peers = this.opts.candidates().map(c => c.peerId)
    await Promise.all(peers.map(async (peer) => {
      let has: boolean[]
      try {
        has = peer === self
          ? await Promise.all(shards.map(async s => await this.opts.helia.pins.isPinned(s.cid)))
          : await askHas(this.opts.libp2p, peerIdFromString(peer), shards.map(s => s.cid))
      } catch { return } // unreachable peers hold nothing we can count on
      has.forEach((h, i) => { if (h) holders.get(shards[i].cid.toString())!.push(peer) })
    }))
    const intended = placer(candidates, this.replication)
    return {
      ...view,
      version: (await log.version()).toString(),
      replication: {
        // With fewer storage peers than R, every one of them is the most there can be.
        target: Math.min(this.replication, candidates.filter(canStore).length),
        wanted: this.replication,
        shards: shards.map(s => ({ cid: s.cid.toString(), path: s.path, size: s.size, intended: intended(s.cid.toString()), holders: holders.get(s.cid.toString())!.sort() }))
      }
    }
  }

  /** Records that a job trained `model` on a version of the datanet, and announces it. */
  async recordCycle (id: string, cycle: { version: CID, model: string, adapter?: CID, credits: Array<{ contribution: CID, weight: number }> }): Promise<string> {
    const entry = await this.store.recordCycle(id, cycle, this.opts.identity.signer)
    this.gossip.announce(this.store.resolve(id))
    return entry.cid.toString()
  }

  /** Records Proof of Attribution's credits for a training cycle, and announces them. */
  async recordAttribution (id: string, record: { cycle: CID, method: string, credits: Array<{ contribution: CID, weight: number, influence: number }>, job?: string, result?: CID }): Promise<string> {
    const entry = await this.store.recordAttribution(id, record, this.opts.identity.signer)
    this.gossip.announce(this.store.resolve(id))
    return entry.cid.toString()
  }

  /** Pin DAGs whose blocks are all on this peer already (models, adapters). */
  async pinLocal (cids: CID[]): Promise<void> {
    await this.replicator.pinLocal(cids)
  }

  /** Counters for the status API: datanets followed, shards pinned, heads ignored, failed merges by error, peers penalised. */
  stats (): DatanetStats {
    return { followed: this.store.list().length, pending: this.store.pending().length, pinnedShards: this.replicator.pinnedCount, ...this.gossip.stats() }
  }

  /** One contributor's record in a datanet: contributions, files, and credit per training cycle. */
  async contributor (idOrName: string, address: string): Promise<unknown> {
    const view = await this.store.view(idOrName)
    const who = view.contributors.find(c => c.address.toLowerCase() === address.toLowerCase())
    if (who == null) throw new UnknownContributorError(`${address} has not contributed to ${view.name}`, { address })
    return { datanet: view.id, name: view.name, ...who, contributions: view.contributions.filter(c => c.contributor === who.address) }
  }

  list (): unknown[] {
    return this.store.list().map(l => ({ id: l.id, name: (l.genesis.entry.payload as Genesis).name, entries: l.size, heads: l.heads.map(String), follow: this.store.reasons(l.id) }))
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
      // dag-cbor: a datanet id from elsewhere, which this peer now follows (its user asked for it)
      const followed = await this.store.follow(target, 'follow', this.opts.helia.blockstore, [cid], { signal: AbortSignal.any([signal, AbortSignal.timeout(60_000)]) })
      if (followed == null) throw new UnknownDatanetError(`datanet ${target} could not be fetched from the swarm in time; this peer follows it and merges it once its heads are announced`, { id: target })
      this.opened(followed)
      log = followed
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
    const base = at < 0 ? spec : spec.slice(0, at)
    let version: CID | undefined
    if (at >= 0) {
      try { version = CID.parse(spec.slice(at + 1)) } catch { throw new UsageError(`"${spec.slice(at + 1)}" is not a version CID`) }
    }
    const opts = { signal: AbortSignal.any([signal ?? new AbortController().signal, AbortSignal.timeout(60_000)]) }
    let current = this.tryResolve(base)
    if (current == null && version !== undefined) {
      // A job this peer takes part in (or its user's train/attribute run) names a version of a datanet not followed yet: follow it.
      const followed = await this.store.followVersion(base, version, 'job', this.opts.helia.blockstore, opts)
      if (followed == null) throw new UnknownDatanetError(`the datanet of version ${version.toString()} could not be fetched from the swarm in time`, { spec })
      this.opened(followed)
      current = followed
    }
    current ??= this.store.resolve(base)
    const name = (current.genesis.entry.payload as Genesis).name
    if (version === undefined) return { id: current.id, name, version: (await current.version()).toString(), log: current }
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
  async nearDuplicateFiles (log: ManifestLog, signal?: AbortSignal): Promise<Array<{ file: string, of: string, similarity: number }>> {
    for (const e of log.ordered()) {
      const p = e.entry.payload
      if (p.kind !== 'contribution' || p.sketches == null || await this.opts.localBlocks.has(p.sketches)) continue
      // Bitswap checks the block against its CID and keeps it in this peer's blockstore.
      await getBlock(this.opts.helia.blockstore, p.sketches, { signal: AbortSignal.any([signal ?? new AbortController().signal, AbortSignal.timeout(60_000)]) })
    }
    const view = await this.store.viewOf(log)
    return view.contributions.flatMap(c => c.files.flatMap(f => f.nearDuplicateOf != null ? [{ file: f.cid, of: f.nearDuplicateOf.cid, similarity: f.nearDuplicateOf.similarity }] : []))
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

  /** The datanet by id or name, or undefined when this peer does not follow it (a name several share still throws). */
  private tryResolve (idOrName: string): ManifestLog | undefined {
    try { return this.store.resolve(idOrName) } catch (err) { if (err instanceof UnknownDatanetError) return undefined; throw err }
  }
}

