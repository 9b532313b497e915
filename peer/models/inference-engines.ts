// Loaded inference sessions kept between a peer's inference jobs, so a run of jobs on
// one base (and adapter shape) builds its ORT session once. Jobs on one engine run one
// at a time (a batch job already fills the cores); the least recently used engine is
// released once more than `max` are loaded, after the job using it finishes.
import type { InferenceEngine } from '../../compute/jobs/infer-batch.ts'

interface Entry {
  engine: Promise<InferenceEngine>
  /** Settles when the last job queued on this engine has. */
  tail: Promise<unknown>
}

export class InferenceEngineCache {
  private readonly max: number
  private readonly entries = new Map<string, Entry>()
  private readonly counters = { loads: 0, hits: 0, released: 0 }

  constructor (opts: { max?: number } = {}) {
    this.max = opts.max ?? 2
    if (!Number.isInteger(this.max) || this.max < 1) throw new RangeError('max must be a positive integer')
  }

  /** Runs fn with the engine under `key` (engineKey), loading it first if it is not loaded. */
  async use<T> (key: string, load: () => Promise<InferenceEngine>, fn: (engine: InferenceEngine) => Promise<T>): Promise<T> {
    let entry = this.entries.get(key)
    if (entry === undefined) {
      this.counters.loads++
      const engine = load()
      entry = { engine, tail: engine.catch(() => {}) }
      const created = entry
      // A failed load is not kept: the next job tries again.
      engine.catch(() => { if (this.entries.get(key) === created) this.entries.delete(key) })
    } else {
      this.counters.hits++
      this.entries.delete(key)
    }
    // Most recently used last.
    this.entries.set(key, entry)
    const current = entry
    const run = current.tail.then(async () => await fn(await current.engine))
    current.tail = run.catch(() => {})
    this.evict()
    return await run
  }

  stats (): { engines: number, loads: number, hits: number, released: number } {
    return { engines: this.entries.size, ...this.counters }
  }

  /** Releases every engine once its queued jobs finish. */
  async release (): Promise<void> {
    const all = [...this.entries.values()]
    this.entries.clear()
    await Promise.all(all.map(async e => await this.releaseEntry(e)))
  }

  private evict (): void {
    while (this.entries.size > this.max) {
      const [oldest, entry] = this.entries.entries().next().value as [string, Entry]
      this.entries.delete(oldest)
      void this.releaseEntry(entry)
    }
  }

  private async releaseEntry (entry: Entry): Promise<void> {
    await entry.tail
    const engine = await entry.engine.catch(() => null)
    if (engine === null) return
    await engine.generator.release()
    this.counters.released++
  }
}
