// The attribution bench's truth runs on disk. Training is bit-deterministic, so one
// run's outcome (validation loss and time) is kept under a hash of everything that
// decides it (model, scenario, base file, recipe, training seed, masked contributors):
// a rerun of the bench trains nothing twice. Each result is its own file, written
// atomically (temporary file and rename), so a kill -9 loses at most the run under way.
// Also counts the runs for the progress line (run i/total, ETA) on stderr.
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readJsonIfExists, writeJsonAtomic } from '../../storage/atomic-file.ts'
import { fingerprint } from '../../compute/train/fingerprint.ts'

export const CACHE_DIR = fileURLToPath(new URL('../.cache/attribution/', import.meta.url))

/** Bump when what a cached run means changes (the key's other fields stay the same). */
const VERSION = 'attribution-truth/1'

export interface RunOutcome {
  /** Validation loss after training (the adapter job's after.loss). */
  loss: number
  /** Time of the training run that made it. */
  ms: number
}

export class RunCache {
  readonly dir: string
  private readonly log: (msg: string) => void
  private total = 0
  private done = 0
  private trained = 0
  private trainedMs = 0

  constructor (opts: { dir?: string, log: (msg: string) => void }) {
    this.dir = opts.dir ?? CACHE_DIR
    this.log = opts.log
  }

  /** Adds n runs to the count the progress line is out of. */
  plan (n: number): void {
    this.total += n
  }

  /** The cached outcome for `key`, or train it, store it and return it. */
  async run (key: Record<string, unknown>, label: string, train: () => Promise<RunOutcome>): Promise<RunOutcome> {
    const path = join(this.dir, `${fingerprint({ v: VERSION, ...key })}.json`)
    let out = await readJsonIfExists<RunOutcome>(path)
    const hit = out !== undefined
    if (out === undefined) {
      out = await train()
      await writeJsonAtomic(path, { ...out, key: { v: VERSION, ...key } })
      this.trained++
      this.trainedMs += out.ms
    }
    this.done++
    const left = Math.max(0, this.total - this.done)
    const eta = this.trained > 0 ? `, ETA ${formatMs(left * this.trainedMs / this.trained)}` : ''
    this.log(`run ${this.done}/${this.total} ${label}: loss ${out.loss.toFixed(5)} (${hit ? 'cached' : `${(out.ms / 1000).toFixed(1)} s`})${eta}`)
    return { loss: out.loss, ms: out.ms }
  }

  /** Stores an outcome measured elsewhere (a full run made for attribution). */
  async put (key: Record<string, unknown>, out: RunOutcome): Promise<void> {
    await writeJsonAtomic(join(this.dir, `${fingerprint({ v: VERSION, ...key })}.json`), { ...out, key: { v: VERSION, ...key } })
  }
}

function formatMs (ms: number): string {
  const s = Math.round(ms / 1000)
  return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`
}
