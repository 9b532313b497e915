// /openledger/shard/1.0.0: bulk transfer of whole DAGs (datanet files) between two
// peers, every block verified against its CID before it is stored. See README.md in
// this folder for the wire format and limits.
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import type { StreamHost } from '../reqresp.ts'
import { DEFAULT_SHARD_LIMITS, SHARD_PROTOCOL, type ShardLimits } from './limits.ts'
import { ShardRequester, type FetchOptions, type FetchResult } from './requester.ts'
import { ShardResponder } from './responder.ts'

export { DEFAULT_SHARD_LIMITS, SHARD_PROTOCOL } from './limits.ts'
export type { ShardLimits } from './limits.ts'
export type { FetchOptions, FetchResult } from './requester.ts'
export { IncompleteTransferError, NotFoundError, TooManyBlocksError, UnexpectedBlockError } from './errors.ts'

export interface ShardSyncOptions {
  /** The libp2p node (or anything with handle / unhandle / dialProtocol). */
  host: StreamHost
  /** Served from (get, has) and fetched into (put). */
  blockstore: Pick<Blockstore, 'get' | 'put' | 'has'>
  limits?: Partial<ShardLimits>
}

/** Serves this node's blocks over /openledger/shard/1.0.0 and fetches DAGs from peers. */
export class ShardSync {
  readonly limits: ShardLimits
  private readonly host: StreamHost
  private readonly responder: ShardResponder
  private readonly requester: ShardRequester
  private started = false

  constructor (opts: ShardSyncOptions) {
    this.host = opts.host
    this.limits = { ...DEFAULT_SHARD_LIMITS, ...opts.limits }
    this.responder = new ShardResponder(opts.blockstore, this.limits)
    this.requester = new ShardRequester(opts.host, opts.blockstore, this.limits)
  }

  /** Start serving. (Fetching works without it.) */
  async start (): Promise<void> {
    if (this.started) return
    await this.host.handle(SHARD_PROTOCOL, async (stream, connection) => { await this.responder.handle(stream, connection) },
      { maxInboundStreams: this.limits.maxInboundStreams })
    this.started = true
  }

  /** Stop serving, and abort every transfer in progress, both ways. */
  async stop (): Promise<void> {
    if (this.started) await this.host.unhandle(SHARD_PROTOCOL)
    this.started = false
    const err = new Error('shard sync stopped')
    this.responder.abortAll(err)
    this.requester.abortAll(err)
  }

  /**
   * Fetch every block of the DAGs under `roots` from `peer` into the blockstore, except
   * those already held. Resolves once every block is verified and stored.
   */
  async fetch (peer: PeerId | Multiaddr, roots: CID[], opts: FetchOptions = {}): Promise<FetchResult> {
    return await this.requester.fetch(peer, roots, opts)
  }
}
