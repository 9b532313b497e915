// A bounded LRU of decoded adapters, keyed by CID: the server keeps the base model
// loaded once and holds as many adapters as the byte budget allows. Concurrent
// requests for the same missing adapter share one load.

export interface CacheStats {
  hits: number
  misses: number
  evictions: number
  entries: number
  bytes: number
  /** Milliseconds each load (fetch + decode) took, most recent last (at most 1000 kept). */
  loadMs: number[]
}

export class AdapterCache<T> {
  private readonly entries = new Map<string, { value: T, bytes: number }>()
  private readonly loading = new Map<string, Promise<T>>()
  private readonly maxBytes: number
  private readonly load: (key: string) => Promise<{ value: T, bytes: number }>
  private bytes = 0
  private readonly counters = { hits: 0, misses: 0, evictions: 0 }
  private readonly loadMs: number[] = []

  constructor (opts: { maxBytes: number, load: (key: string) => Promise<{ value: T, bytes: number }> }) {
    if (!(opts.maxBytes > 0)) throw new RangeError('maxBytes must be positive')
    this.maxBytes = opts.maxBytes
    this.load = opts.load
  }

  async get (key: string): Promise<T> {
    const hit = this.entries.get(key)
    if (hit !== undefined) {
      this.counters.hits++
      // Re-insert: Map order is recency order.
      this.entries.delete(key)
      this.entries.set(key, hit)
      return hit.value
    }
    const pending = this.loading.get(key)
    if (pending !== undefined) {
      this.counters.hits++
      return await pending
    }
    this.counters.misses++
    const started = performance.now()
    const promise = this.load(key).then(({ value, bytes }) => {
      this.loadMs.push(performance.now() - started)
      if (this.loadMs.length > 1000) this.loadMs.shift()
      this.insert(key, value, bytes)
      return value
    }).finally(() => this.loading.delete(key))
    this.loading.set(key, promise)
    return await promise
  }

  has (key: string): boolean {
    return this.entries.has(key)
  }

  stats (): CacheStats {
    return { ...this.counters, entries: this.entries.size, bytes: this.bytes, loadMs: [...this.loadMs] }
  }

  private insert (key: string, value: T, bytes: number): void {
    const old = this.entries.get(key)
    if (old !== undefined) this.bytes -= old.bytes
    this.entries.delete(key)
    this.entries.set(key, { value, bytes })
    this.bytes += bytes
    // Evict least recently used, but never the entry just loaded (a request is waiting on it).
    for (const [k, e] of this.entries) {
      if (this.bytes <= this.maxBytes || k === key) break
      this.entries.delete(k)
      this.bytes -= e.bytes
      this.counters.evictions++
    }
  }
}
