// Moves shards to this peer over /openledger/shard/1.0.0: asks the live peers which of
// the wanted shards they hold (has protocol), then pulls them in batches from one
// holder at a time. When a holder fails part way (killed, stream reset) its batch goes
// to the next holder, which sends only the blocks still missing. A holder that sends
// a block that is not what its CID says is penalised and never asked again.
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { CID } from 'multiformats/cid'
import { askHas } from '../../protocols/has/has.ts'
import type { StreamHost } from '../../protocols/reqresp.ts'
import type { ShardSync } from '../../protocols/shard/index.ts'

/**
 * Errors that prove the sender sent bad content. Others mean it went away or refused
 * (IncompleteTransferError, RequestTimeoutError, RemoteError: NotFound, RateLimited):
 * the batch moves to the next holder without a penalty.
 */
export const BAD_CONTENT = new Set(['BlockHashMismatchError', 'UnexpectedBlockError', 'MalformedDagError', 'MalformedMessageError', 'MessageTooLargeError', 'UnsupportedCidError'])

/** Roots per shard request: many small files go in one stream. */
const ROOTS_PER_REQUEST = 256
/** Holders pulled from at once. */
const PARALLEL_HOLDERS = 3

export interface ShardFetcherOptions {
  sync: ShardSync
  host: StreamHost
  self: string
  /** Peers that may hold shards, best first. */
  peers: () => string[]
  /** Penalise a peer that sent bad content; isBanned must then say so for a while. */
  penalise: (peer: string, why: string) => Promise<void>
  isBanned: (peer: string) => boolean
  log: (msg: string, fields?: Record<string, unknown>) => void
}

export interface FetchReport {
  fetched: CID[]
  missing: CID[]
  bytes: number
}

export class ShardFetcher {
  private readonly opts: ShardFetcherOptions

  constructor (opts: ShardFetcherOptions) {
    this.opts = opts
  }

  /** Which live peers hold each shard (asked, not assumed). */
  private async whoHas (cids: CID[], signal?: AbortSignal): Promise<Map<string, string[]>> {
    const holders = new Map<string, string[]>(cids.map(c => [c.toString(), []]))
    const peers = this.opts.peers().filter(p => p !== this.opts.self && !this.opts.isBanned(p))
    const answers = await Promise.all(peers.map(async (peer) => {
      try {
        signal?.throwIfAborted()
        return await askHas(this.opts.host, peerIdFromString(peer), cids)
      } catch {
        return [] // a peer that does not answer holds nothing we can use
      }
    }))
    // Holders in the order `peers` ranks them, whatever order the answers came in.
    answers.forEach((has, p) => has.forEach((h, i) => { if (h) holders.get(cids[i].toString())!.push(peers[p]) }))
    return holders
  }

  async fetch (cids: CID[], opts: { signal?: AbortSignal, onBytes?: (bytes: number) => void } = {}): Promise<FetchReport> {
    const holders = await this.whoHas(cids, opts.signal)
    const tried = new Map<string, Set<string>>(cids.map(c => [c.toString(), new Set()]))
    const byKey = new Map(cids.map(c => [c.toString(), c]))
    const fetched: CID[] = []
    const missing: CID[] = []
    let bytes = 0
    let pending = [...cids]
    while (pending.length > 0) {
      opts.signal?.throwIfAborted()
      // Each pending shard goes to its best holder not tried yet and not penalised.
      const groups = new Map<string, CID[]>()
      for (const cid of pending) {
        const key = cid.toString()
        const peer = holders.get(key)!.find(p => !this.opts.isBanned(p) && !tried.get(key)!.has(p))
        if (peer == null) { missing.push(cid); continue }
        groups.set(peer, [...(groups.get(peer) ?? []), cid])
      }
      const failed: CID[] = []
      const jobs = [...groups.entries()].flatMap(([peer, group]) => {
        const batches: Array<[string, CID[]]> = []
        for (let i = 0; i < group.length; i += ROOTS_PER_REQUEST) batches.push([peer, group.slice(i, i + ROOTS_PER_REQUEST)])
        return batches
      })
      const workers = Array.from({ length: PARALLEL_HOLDERS }, async () => {
        for (let job = jobs.shift(); job != null; job = jobs.shift()) {
          const [peer, batch] = job
          let last = 0
          try {
            await this.opts.sync.fetch(peerIdFromString(peer) as PeerId, batch, {
              signal: opts.signal,
              onProgress: (b) => { bytes += b - last; last = b; opts.onBytes?.(bytes) }
            })
            fetched.push(...batch)
          } catch (err) {
            const name = (err as Error).name
            this.opts.log('shard fetch failed', { peer, roots: batch.length, error: name, message: (err as Error).message })
            if (BAD_CONTENT.has(name)) {
              await this.opts.penalise(peer, name)
            }
            for (const cid of batch) tried.get(cid.toString())!.add(peer)
            failed.push(...batch)
          }
        }
      })
      await Promise.all(workers)
      pending = failed.map(c => byKey.get(c.toString())!)
    }
    return { fetched, missing, bytes }
  }
}
