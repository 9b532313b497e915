// Limits of /openledger/shard/1.0.0, both ends. Every number bounds what an untrusted
// peer can make this node hold, read or wait for.
import type { RateLimit } from '../rate-limiter.ts'

export const SHARD_PROTOCOL = '/openledger/shard/1.0.0'

export interface ShardLimits {
  /** Largest block either end sends or accepts. Kubo's blocks are at most 256 KiB of
   *  data plus a few bytes of dag-pb; bitswap refuses blocks over 2 MiB. */
  maxBlockBytes: number
  /** Most distinct blocks one DAG walk may have (responder: per request; requester:
   *  per fetch). 100,000 blocks of 256 KiB is 24 GiB. */
  maxBlocks: number
  /** Most roots in one request frame (the requester splits longer lists). */
  maxRootsPerRequest: number
  /** The requester must send its request within this long. */
  requestTimeoutMs: number
  /** Either end gives up when the other makes no progress for this long. */
  idleTimeoutMs: number
  /** Concurrent inbound streams of this protocol (libp2p refuses more). */
  maxInboundStreams: number
  /** Requests (streams) each remote peer may open: a burst, then one per refillMs. */
  rateLimit: RateLimit
  /** Responder: blocks read ahead of the one being sent, so disk reads overlap sending. */
  readAheadBlocks: number
  /** Requester: block writes in flight at once. */
  writeConcurrency: number
  /** Requester: verified bytes waiting for the blockstore before the stream is paused. */
  maxQueuedWriteBytes: number
}

export const DEFAULT_SHARD_LIMITS: ShardLimits = {
  maxBlockBytes: 1024 * 1024,
  maxBlocks: 100_000,
  maxRootsPerRequest: 1_024,
  requestTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  maxInboundStreams: 8,
  rateLimit: { burst: 16, refillMs: 1_000 },
  readAheadBlocks: 8,
  writeConcurrency: 16,
  maxQueuedWriteBytes: 16 * 1024 * 1024
}

/** A frame's payload: kind byte + CID (at most ~70 bytes for the CIDs accepted) + block. */
export function maxFrameBytes (limits: ShardLimits): number {
  return limits.maxBlockBytes + 128
}

/** The request frame: msgpack of [1, roots], each root at most ~40 bytes. */
export function maxRequestBytes (limits: ShardLimits): number {
  return 64 + limits.maxRootsPerRequest * 48
}
