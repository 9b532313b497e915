// Replay protection: a message is accepted once per (signer, nonce), and only while
// its timestamp is inside [now - maxAge, now + maxFuture]. Anything older is rejected
// as stale, so the nonce window only needs to remember maxAge worth of messages.
//
// Memory is bounded: beyond maxEntries the oldest entries are evicted and `floor`
// rises to their newest timestamp; anything at or below the floor is then rejected
// as stale too, so eviction never reopens a replay.
import { FutureTimestampError, ReplayedNonceError, StaleTimestampError } from './errors.ts'

export interface ReplayGuardOptions {
  maxAgeMs?: number
  maxFutureMs?: number
  maxEntries?: number
}

export class ReplayGuard {
  readonly maxAgeMs: number
  readonly maxFutureMs: number
  readonly maxEntries: number
  private readonly seen = new Map<string, number>()
  private floor = -Infinity
  private nextSweepAt = 0

  constructor (opts: ReplayGuardOptions = {}) {
    this.maxAgeMs = opts.maxAgeMs ?? 120_000
    this.maxFutureMs = opts.maxFutureMs ?? 30_000
    this.maxEntries = opts.maxEntries ?? 100_000
  }

  get size (): number { return this.seen.size }

  /** Throws StaleTimestampError / FutureTimestampError when ts is outside the window. */
  checkTime (ts: number, now: number): void {
    if (ts < now - this.maxAgeMs || ts <= this.floor) {
      throw new StaleTimestampError('timestamp too old', { ts, now, maxAgeMs: this.maxAgeMs })
    }
    if (ts > now + this.maxFutureMs) {
      throw new FutureTimestampError('timestamp in the future', { ts, now, maxFutureMs: this.maxFutureMs })
    }
  }

  /** Throws ReplayedNonceError when this (signer, nonce) was already accepted. */
  checkNonce (key: string): void {
    if (this.seen.has(key)) throw new ReplayedNonceError('nonce already used', { key })
  }

  /** Remember an accepted message. Call only after every other check passed. */
  record (key: string, ts: number, now: number): void {
    this.seen.set(key, ts)
    if (now >= this.nextSweepAt || this.seen.size > this.maxEntries) this.sweep(now)
  }

  private sweep (now: number): void {
    const cutoff = now - this.maxAgeMs
    for (const [key, ts] of this.seen) {
      if (ts < cutoff) this.seen.delete(key)
    }
    // Still too many fresh entries (a flood): evict in arrival order down to 90%, so
    // the next full scan is maxEntries/10 records away, and raise the floor.
    const target = Math.floor(this.maxEntries * 0.9)
    for (const [key, ts] of this.seen) {
      if (this.seen.size <= target) break
      this.seen.delete(key)
      if (ts > this.floor) this.floor = ts
    }
    this.nextSweepAt = now + Math.min(this.maxAgeMs, 10_000)
  }
}
