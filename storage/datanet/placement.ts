// Which peers hold a shard: weighted rendezvous (highest-random-weight) hashing over
// the peers that advertise storage. Every peer computes the same answer from the same
// adverts (and stakes), without coordination; when a peer leaves, only the shards it
// held move (while the median claim below stays), each to the next peer in that
// shard's own ranking. Weight grows with free disk, so bigger stores hold more.
//
// What counts (adverts are signed by keys that cost nothing, and their free disk is not
// checked): a claim weighs at most the median claim among the candidates, so a key
// claiming 2^53 bytes weighs no more than a typical peer, and sybils in a minority take
// about their share by number, not every shard. Peers with stake on chain rank before
// all others: while R staked peers can hold a shard, keys without stake get none of it.
import { keccak_256 } from '@noble/hashes/sha3.js'

export const DEFAULT_REPLICATION = 3
/** Peers with less free disk than this take no new shards. */
export const MIN_FREE_BYTES = 64 * 1024 * 1024

export interface StorageCandidate {
  peerId: string
  /** Free disk the peer's advert claims (unchecked). */
  freeBytes: number
  /** It has stake on chain: a cost behind its key. */
  staked?: boolean
}

const encoder = new TextEncoder()

/** A uniform number in (0, 1) from the pair, the same on every machine. */
function unitHash (shard: string, peerId: string): number {
  const h = keccak_256(encoder.encode(`${shard}|${peerId}`))
  const hi = ((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]) >>> 0
  const lo = ((h[4] << 13) | (h[5] << 5) | (h[6] >>> 3)) >>> 0 // 21 more bits: 53 in all
  return (hi * 2 ** 21 + lo + 0.5) / 2 ** 53
}

/** Whether a peer has room to take shards at all. */
export function canStore (c: StorageCandidate): boolean {
  return c.freeBytes >= MIN_FREE_BYTES
}

/** The lower median of the claims: a minority of keys, however much they claim, cannot raise it. */
function medianClaim (claims: number[]): number {
  const sorted = [...claims].sort((a, b) => a - b)
  return sorted[Math.floor((sorted.length - 1) / 2)]
}

/** Ranks the candidates for shards: the same candidates rank every shard alike on every machine. */
export function placer (candidates: StorageCandidate[], r = DEFAULT_REPLICATION): (shard: string) => string[] {
  const able = candidates.filter(canStore)
  if (able.length === 0) return () => []
  const cap = medianClaim(able.map(c => c.freeBytes))
  const ranked = able.map(c => ({ peerId: c.peerId, staked: c.staked === true, weight: Math.max(1, Math.min(c.freeBytes, cap) / 2 ** 30) }))
  return (shard) => ranked
    // -w / ln(u) is the weighted rendezvous rule
    .map(c => ({ peerId: c.peerId, staked: c.staked, s: -c.weight / Math.log(unitHash(shard, c.peerId)) }))
    .sort((a, b) => Number(b.staked) - Number(a.staked) || b.s - a.s || (a.peerId < b.peerId ? -1 : 1))
    .slice(0, r)
    .map(x => x.peerId)
}

/** The `r` peers that should hold `shard`, best first. */
export function holdersFor (shard: string, candidates: StorageCandidate[], r = DEFAULT_REPLICATION): string[] {
  return placer(candidates, r)(shard)
}
