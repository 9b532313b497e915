// Which peers hold a shard: weighted rendezvous (highest-random-weight) hashing over
// the peers that advertise storage. Every peer computes the same answer from the same
// adverts, without coordination; when a peer leaves, only the shards it held move,
// each to the next peer in that shard's own ranking. Weight grows with free disk, so
// bigger stores hold proportionally more.
import { keccak_256 } from '@noble/hashes/sha3.js'

export const DEFAULT_REPLICATION = 3
/** Peers with less free disk than this take no new shards. */
export const MIN_FREE_BYTES = 64 * 1024 * 1024

export interface StorageCandidate {
  peerId: string
  freeBytes: number
}

const encoder = new TextEncoder()

/** A uniform number in (0, 1) from the pair, the same on every machine. */
function unitHash (shard: string, peerId: string): number {
  const h = keccak_256(encoder.encode(`${shard}|${peerId}`))
  const hi = ((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]) >>> 0
  const lo = ((h[4] << 13) | (h[5] << 5) | (h[6] >>> 3)) >>> 0 // 21 more bits: 53 in all
  return (hi * 2 ** 21 + lo + 0.5) / 2 ** 53
}

/** Score of a peer for a shard: -w / ln(u) is the weighted rendezvous rule. */
function score (shard: string, c: StorageCandidate): number {
  const weight = Math.max(1, c.freeBytes / 2 ** 30)
  return -weight / Math.log(unitHash(shard, c.peerId))
}

/** Whether a peer has room to take shards at all. */
export function canStore (c: StorageCandidate): boolean {
  return c.freeBytes >= MIN_FREE_BYTES
}

/** The `r` peers that should hold `shard`, best first. */
export function holdersFor (shard: string, candidates: StorageCandidate[], r = DEFAULT_REPLICATION): string[] {
  return candidates
    .filter(canStore)
    .map(c => ({ peerId: c.peerId, s: score(shard, c) }))
    .sort((a, b) => b.s - a.s || (a.peerId < b.peerId ? -1 : 1))
    .slice(0, r)
    .map(x => x.peerId)
}
