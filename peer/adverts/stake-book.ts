// Which advertised peers have stake on chain. Capacity adverts are signed by keys that
// cost nothing; stake is the cost behind a key, so shard placement ranks staked peers
// first (storage/datanet/placement.ts). Each address is read at most once a minute, a
// bounded number per refresh; one not read yet, or whose read failed, counts as
// unstaked. Bounded, because the addresses come from the network.

export interface StakeBookOptions {
  /** Whether the address holds at least the minimum stake of some role (a chain read). */
  isStaked: (address: string) => Promise<boolean>
  /** How long a reading stands (default 60 s). */
  ttlMs?: number
  /** Chain reads per refresh at most (default 32): the rest wait for the next one. */
  maxReads?: number
  maxEntries?: number
}

export class StakeBook {
  private readonly opts: StakeBookOptions
  private readonly known = new Map<string, { staked: boolean, at: number }>()
  private refreshing?: Promise<void>

  constructor (opts: StakeBookOptions) {
    this.opts = opts
  }

  isStaked (address: string): boolean {
    return this.known.get(address.toLowerCase())?.staked === true
  }

  /** Reads the addresses whose reading is missing or stale (oldest first); forgets addresses no longer listed. Never runs twice at once. */
  async refresh (addresses: string[], now = Date.now()): Promise<void> {
    if (this.refreshing !== undefined) return await this.refreshing
    this.refreshing = (async () => {
      const listed = new Set(addresses.map(a => a.toLowerCase()))
      for (const a of this.known.keys()) if (!listed.has(a)) this.known.delete(a)
      const ttl = this.opts.ttlMs ?? 60_000
      const due = [...listed]
        .filter(a => { const k = this.known.get(a); return k === undefined || now - k.at >= ttl })
        .sort((a, b) => (this.known.get(a)?.at ?? 0) - (this.known.get(b)?.at ?? 0))
        .slice(0, this.opts.maxReads ?? 32)
      await Promise.all(due.map(async (a) => {
        let staked = false
        try { staked = await this.opts.isStaked(a) } catch { /* an unread stake counts as none */ }
        if (this.known.has(a) || this.known.size < (this.opts.maxEntries ?? 10_000)) this.known.set(a, { staked, at: now })
      }))
    })().finally(() => { this.refreshing = undefined })
    await this.refreshing
  }
}
