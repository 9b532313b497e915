// A token bucket per remote peer: each request takes a token; tokens come back at a
// steady rate up to the bucket size. A peer that asks faster than that is refused
// (RateLimitedError) before its request is read, in the spirit of lodestar's reqresp
// rate limiter. Idle buckets are forgotten so the map cannot grow without bound, the
// ones that still hold a debt last.
import { UntimelyError } from './errors.ts'

/** The peer sent more requests than its allowance (untimely, not invalid: gossip Ignores it). */
export class RateLimitedError extends UntimelyError {}

export interface RateLimit {
  /** Bucket size: requests allowed in a burst. */
  burst: number
  /** One token returns every this many ms. */
  refillMs: number
}

interface Bucket { tokens: number, updatedAt: number }

export class RateLimiter {
  private readonly limit: RateLimit
  private readonly buckets = new Map<string, Bucket>()
  private readonly maxPeers: number

  constructor (limit: RateLimit, maxPeers = 10_000) {
    this.limit = limit
    this.maxPeers = maxPeers
  }

  /** Take one token for `peer` or throw RateLimitedError. */
  take (peer: string, now = Date.now()): void {
    let bucket = this.buckets.get(peer)
    if (bucket == null) {
      if (this.buckets.size >= this.maxPeers) this.forgetFull(now)
      bucket = { tokens: this.limit.burst, updatedAt: now }
      this.buckets.set(peer, bucket)
    } else {
      this.refill(bucket, now)
    }
    this.refuseIfEmpty(peer, bucket, now)
    bucket.tokens--
  }

  /** Throw RateLimitedError if `peer` has no token left, without taking one. */
  check (peer: string, now = Date.now()): void {
    const bucket = this.buckets.get(peer)
    if (bucket == null) return // an unknown peer has a full bucket
    this.refill(bucket, now)
    this.refuseIfEmpty(peer, bucket, now)
  }

  private refill (bucket: Bucket, now: number): void {
    const refilled = Math.floor((now - bucket.updatedAt) / this.limit.refillMs)
    if (refilled > 0) {
      bucket.tokens = Math.min(this.limit.burst, bucket.tokens + refilled)
      bucket.updatedAt += refilled * this.limit.refillMs
    }
  }

  private refuseIfEmpty (peer: string, bucket: Bucket, now: number): void {
    if (bucket.tokens < 1) {
      throw new RateLimitedError('too many requests', { peer, retryInMs: bucket.updatedAt + this.limit.refillMs - now })
    }
  }

  /**
   * Make room: drop buckets that would be full again anyway (they hold no information),
   * then, if the table is still full, the tenth with the most tokens left. Never a clear
   * of everything: a flood of throwaway ids would hand a peer that spent its allowance
   * a fresh one. The cost, a sort every maxPeers/10 new peers, is O(log n) per peer.
   */
  private forgetFull (now: number): void {
    const tokensOf = (b: Bucket): number => b.tokens + (now - b.updatedAt) / this.limit.refillMs
    for (const [peer, b] of this.buckets) if (tokensOf(b) >= this.limit.burst) this.buckets.delete(peer)
    if (this.buckets.size < this.maxPeers) return
    const fullest = [...this.buckets].sort(([, a], [, b]) => tokensOf(b) - tokensOf(a) || a.updatedAt - b.updatedAt)
    for (const [peer] of fullest.slice(0, Math.max(1, Math.ceil(this.maxPeers / 10)))) this.buckets.delete(peer)
  }
}
