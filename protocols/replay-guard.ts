// Replay protection: a message is accepted once per (signer, nonce), and only while
// its timestamp is inside [now - maxAge, now + maxFuture]. Anything older is rejected
// as stale, so the nonce window only needs to remember maxAge worth of messages.
//
// Memory is bounded: beyond maxEntries the oldest entries are evicted and `floor`
// rises to their newest timestamp; anything at or below the floor is then rejected
// as stale too, so eviction never reopens a replay.
//
// The floor never passes the local clock: an entry dated ahead of it (within the
// allowed skew) is kept aside and never evicted until the clock reaches its date,
// because forgetting it would need a floor at its date, and then every honest
// message dated now would be refused as stale. That room is bounded too (maxAhead):
// when it is full, messages dated ahead are refused until the clock catches up.
import { FutureTimestampError, ReplayedNonceError, StaleTimestampError } from './errors.ts'

export interface ReplayGuardOptions {
  maxAgeMs?: number
  maxFutureMs?: number
  maxEntries?: number
  /** Entries dated ahead of the clock kept at once (default maxEntries / 10). */
  maxAhead?: number
}

export class ReplayGuard {
  readonly maxAgeMs: number
  readonly maxFutureMs: number
  readonly maxEntries: number
  readonly maxAhead: number
  /** Entries dated at or before the clock, in arrival order: evictable. */
  private readonly seen = new Map<string, number>()
  /** Entries dated after the clock when recorded: kept until it reaches their date. */
  private readonly ahead = new Map<string, number>()
  private floor = -Infinity
  private nextSweepAt = 0
  private nextMatureAt = 0

  constructor (opts: ReplayGuardOptions = {}) {
    this.maxAgeMs = opts.maxAgeMs ?? 120_000
    this.maxFutureMs = opts.maxFutureMs ?? 30_000
    this.maxEntries = opts.maxEntries ?? 100_000
    this.maxAhead = opts.maxAhead ?? Math.max(1, Math.floor(this.maxEntries / 10))
  }

  get size (): number { return this.seen.size + this.ahead.size }

  /** Throws StaleTimestampError / FutureTimestampError when ts is outside the window. */
  checkTime (ts: number, now: number): void {
    if (ts < now - this.maxAgeMs || ts <= this.floor) {
      throw new StaleTimestampError('timestamp too old', { ts, now, maxAgeMs: this.maxAgeMs })
    }
    if (ts > now + this.maxFutureMs) {
      throw new FutureTimestampError('timestamp in the future', { ts, now, maxFutureMs: this.maxFutureMs })
    }
    if (ts > now && this.ahead.size >= this.maxAhead) {
      // At most one scan a second, so a full room costs a flood nothing extra per message.
      if (now >= this.nextMatureAt) this.mature(now)
      if (this.ahead.size >= this.maxAhead) {
        throw new FutureTimestampError('too many messages dated ahead of the clock', { ts, now, maxAhead: this.maxAhead })
      }
    }
  }

  /** Throws ReplayedNonceError when this (signer, nonce) was already accepted. */
  checkNonce (key: string): void {
    if (this.seen.has(key) || this.ahead.has(key)) throw new ReplayedNonceError('nonce already used', { key })
  }

  /** Remember an accepted message. Call only after every other check passed. */
  record (key: string, ts: number, now: number): void {
    if (ts > now) this.ahead.set(key, ts)
    else this.seen.set(key, ts)
    if (now >= this.nextSweepAt || this.seen.size > this.maxEntries) this.sweep(now)
  }

  /** Entries whose date the clock has reached join the evictable ones. */
  private mature (now: number): void {
    for (const [key, ts] of this.ahead) {
      if (ts <= now) { this.ahead.delete(key); this.seen.set(key, ts) }
    }
    this.nextMatureAt = now + 1_000
  }

  private sweep (now: number): void {
    this.mature(now)
    const cutoff = now - this.maxAgeMs
    for (const [key, ts] of this.seen) {
      if (ts < cutoff) this.seen.delete(key)
    }
    // Still too many fresh entries (a flood): evict in arrival order down to 90%, so
    // the next full scan is maxEntries/10 records away, and raise the floor. Every
    // entry here is dated at or before now, so the floor stays at or below the clock.
    const target = Math.floor(this.maxEntries * 0.9)
    for (const [key, ts] of this.seen) {
      if (this.seen.size <= target) break
      this.seen.delete(key)
      if (ts > this.floor) this.floor = ts
    }
    this.nextSweepAt = now + Math.min(this.maxAgeMs, 10_000)
  }
}
