// Handing a training job over when its worker goes silent. While it trains, the worker
// tells its verifiers each new checkpoint (job-progress/1); they fetch and hold the
// bytes (untrusted: only stored), so the state outlives the worker. A replacement asks
// them for the chain, checks it as the trainer's own resume would (this job's, linked
// step by step) and replays the newest segment to confirm its checkpoint: the last
// verified checkpoint, from which it resumes. Every inherited segment stays in the
// receipt, so the final verification samples it like any other.
import { join } from 'node:path'
import { checkpointHash, decodeCheckpoint } from '../../compute/train/checkpoint.ts'
import { replaySegment, type TrainTask } from '../../compute/train/trainer.ts'
import { FileCheckpointStore } from '../models/checkpoint-files.ts'

/** At most this many checkpoints are held per job (a verifier's disk is not the worker's). */
export const MAX_HELD = 400

/** Where a verifier holds the checkpoints a worker announced. */
export function heldStore (marketDir: string, job: string): FileCheckpointStore {
  return new FileCheckpointStore(join(marketDir, `${job}.held`))
}

/**
 * Calls `onNew(step)` for each checkpoint that appears in `dir` (polled: the trainer
 * writes atomically, so a listed file is whole). Returns a stop function.
 */
export function watchCheckpoints (dir: string, onNew: (step: number) => Promise<void>, everyMs = 2_000): () => void {
  const store = new FileCheckpointStore(dir)
  let last = 0
  let running = false
  const tick = async (): Promise<void> => {
    if (running) return
    running = true
    try {
      const newest = (await store.steps()).at(-1) ?? 0
      if (newest > last) { last = newest; await onNew(newest) }
    } catch { /* the next tick tries again */ } finally { running = false }
  }
  const timer = setInterval(() => { void tick() }, everyMs)
  timer.unref()
  return () => clearInterval(timer)
}

/**
 * Fetches the held chain (steps every, 2·every, ... until one is missing), keeps the
 * longest prefix that is this task's and linked, and confirms its newest checkpoint by
 * replaying that segment from the one before. Writes the confirmed chain into `store`
 * (the trainer's folder) and returns the step it resumes from (0: nothing inherited).
 */
export async function inheritCheckpoints (opts: {
  task: TrainTask
  fetch: (step: number) => Promise<Uint8Array | undefined>
  store: FileCheckpointStore
  log?: (msg: string, fields?: Record<string, unknown>) => void
}): Promise<number> {
  const { task } = opts
  const chain: Array<{ step: number, bytes: Uint8Array }> = []
  let prev: string | null = null
  for (let step = task.checkpointEvery; step < task.steps && chain.length < MAX_HELD; step += task.checkpointEvery) {
    const bytes = await opts.fetch(step).catch(() => undefined)
    if (bytes === undefined) break
    let meta
    try { meta = decodeCheckpoint(bytes, task.specs).meta } catch { break }
    if (meta.job !== task.job || meta.step !== step || meta.prev !== prev) break
    prev = checkpointHash(bytes)
    chain.push({ step, bytes })
  }
  // Confirm the newest by replaying its segment; on a mismatch, fall back one checkpoint and try again.
  while (chain.length > 0) {
    const last = chain.at(-1)!
    const from = chain.length > 1 ? chain.at(-2)!.bytes : null
    const replayed = await replaySegment(task, from)
    if (replayed.step === last.step && replayed.hash === checkpointHash(last.bytes)) break
    opts.log?.('inherited checkpoint does not replay: dropped', { step: last.step })
    chain.pop()
  }
  for (const c of chain) await opts.store.save(c.step, c.bytes)
  return chain.at(-1)?.step ?? 0
}
