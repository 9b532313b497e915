// Keeps this peer holding the shards placement gives it: each pass finds the shards
// of every followed datanet that weighted rendezvous hashing (over the storage peers
// that follow that datanet) assigns here and that are not pinned yet, pulls them in
// bulk from holders (shard sync), and falls back to bitswap for any no holder would
// send. Runs again on every tick, so when a holder's advert expires the next peer in
// line picks its shards up. Shards of datanets no longer followed are unpinned.
import type { Helia } from '@helia/interface'
import type { CID } from 'multiformats/cid'
import { placer, type StorageCandidate } from '../../storage/datanet/placement.ts'
import { uniqueShards } from '../../storage/datanet/shards.ts'
import type { DatanetStore } from '../../storage/datanet/store.ts'
import type { ShardFetcher } from './shard-fetcher.ts'

export interface ReplicatorOptions {
  helia: Helia
  store: DatanetStore
  fetcher: ShardFetcher
  self: string
  replication: number
  /** Storage peers that follow the datanet, this one included; undefined while they may not all have been heard yet. */
  candidates: (datanet: string) => StorageCandidate[] | undefined
  log: (msg: string, fields?: Record<string, unknown>) => void
}

export class Replicator {
  private readonly opts: ReplicatorOptions
  private readonly pinning = new Set<string>()
  /** Shards known to be pinned here (filled as passes and pins find them). */
  private readonly pinned = new Set<string>()
  private replicating?: Promise<void>
  private stopped = false

  constructor (opts: ReplicatorOptions) {
    this.opts = opts
  }

  get pinnedCount (): number { return this.pinned.size }

  async stop (): Promise<void> {
    this.stopped = true
    await this.replicating
  }

  /** Pin every shard placement gives this peer; never runs twice at once. */
  async replicate (): Promise<void> {
    if (this.replicating != null) return await this.replicating
    this.replicating = (async () => {
      const self = this.opts.self
      const wanted = new Map<string, CID>()
      for (const log of this.opts.store.list()) {
        const candidates = this.opts.candidates(log.id)
        if (candidates === undefined) continue
        const holdersFor = placer(candidates, this.opts.replication)
        for (const s of uniqueShards(log)) {
          const key = s.cid.toString()
          if (wanted.has(key) || this.pinned.has(key) || this.pinning.has(key)) continue
          if (await this.opts.helia.pins.isPinned(s.cid)) { this.pinned.add(key); continue }
          if (holdersFor(key).includes(self)) wanted.set(key, s.cid)
        }
      }
      const todo = [...wanted.values()]
      // Bulk transfer from holders first; bitswap for anything no holder would send.
      for (let i = 0; i < todo.length && !this.stopped; i += 2_048) {
        const batch = todo.slice(i, i + 2_048)
        for (const cid of batch) this.pinning.add(cid.toString())
        try {
          const { fetched, missing } = await this.opts.fetcher.fetch(batch, { signal: AbortSignal.timeout(300_000) })
          await this.pinLocal(fetched)
          if (fetched.length > 0) this.opts.log('shards pinned', { count: fetched.length, via: 'shard-sync' })
          const workers = Array.from({ length: 4 }, async () => {
            while (missing.length > 0 && !this.stopped) await this.pin(missing.shift()!)
          })
          await Promise.all(workers)
        } catch (err) {
          this.opts.log('replication pass failed', { error: (err as Error).name, message: (err as Error).message })
        } finally {
          for (const cid of batch) this.pinning.delete(cid.toString())
        }
      }
    })().finally(() => { this.replicating = undefined })
    await this.replicating
  }

  private async pin (cid: CID): Promise<void> {
    const key = cid.toString()
    this.pinning.add(key)
    try {
      for await (const _ of this.opts.helia.pins.add(cid, { signal: AbortSignal.timeout(120_000) })) { /* drain: pins.add is lazy */ }
      this.pinned.add(key)
      this.opts.log('shard pinned', { cid: key })
    } catch (err) {
      this.opts.log('shard pin failed', { cid: key, error: (err as Error).name, message: (err as Error).message })
    } finally {
      this.pinning.delete(key)
    }
  }

  /** Unpins these shards (their datanets are no longer followed); returns how many were pinned. */
  async unpin (cids: CID[]): Promise<number> {
    let n = 0
    for (const cid of cids) {
      const key = cid.toString()
      if (this.pinning.has(key)) continue // a pass is pinning it for a datanet still followed
      this.pinned.delete(key)
      if (!(await this.opts.helia.pins.isPinned(cid))) continue
      for await (const _ of this.opts.helia.pins.rm(cid)) { /* drain: pins.rm is lazy */ }
      n++
    }
    return n
  }

  /** Pin DAGs whose blocks are all here already (offline: never waits on the network). */
  async pinLocal (cids: CID[]): Promise<void> {
    for (const cid of cids) {
      if (!(await this.opts.helia.pins.isPinned(cid))) {
        // offline reaches the blockstore through Helia's graph walker; the timeout is a backstop.
        const opts = { offline: true, signal: AbortSignal.timeout(60_000) } as Parameters<Helia['pins']['add']>[1]
        for await (const _ of this.opts.helia.pins.add(cid, opts)) { /* drain: pins.add is lazy */ }
      }
      this.pinned.add(cid.toString())
    }
  }
}
