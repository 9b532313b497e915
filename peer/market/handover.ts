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
import { JobProgressMessage, type JobProgress } from '../../protocols/messages/index.ts'
import type { Envelope } from '../../protocols/envelope.ts'
import { FileCheckpointStore } from '../models/checkpoint-files.ts'
import type { ModelFactory, TrainRequest } from '../models/model-factory.ts'
import type { MarketContext } from './context.ts'
import { CHECKPOINT_EVERY } from './job-spec.ts'
import type { JobState } from './job-state.ts'
import type { TaskAnswer } from './wire.ts'

/** At most this many checkpoints are held per job (a verifier's disk is not the worker's). */
export const MAX_HELD = 400
/** Segments a replacement replays to confirm an inherited chain before it starts afresh. */
export const MAX_CONFIRM_TRIES = 3

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
  // Confirm the newest by replaying its segment; on a mismatch, fall back one checkpoint
  // and try again, a few times: a predecessor on another device class never replays bit
  // for bit here, and trying every held segment would cost the whole run again.
  let tries = 0
  while (chain.length > 0) {
    const last = chain.at(-1)!
    const from = chain.length > 1 ? chain.at(-2)!.bytes : null
    const replayed = await replaySegment(task, from)
    if (replayed.step === last.step && replayed.hash === checkpointHash(last.bytes)) break
    opts.log?.('inherited checkpoint does not replay: dropped', { step: last.step })
    chain.pop()
    if (++tries >= MAX_CONFIRM_TRIES) {
      opts.log?.('inherited checkpoints do not replay here (another device class, or forged): starting afresh', { tries })
      chain.length = 0
    }
  }
  for (const c of chain) await opts.store.save(c.step, c.bytes)
  return chain.at(-1)?.step ?? 0
}

/**
 * Both sides of a handover on one peer: the worker announcing its checkpoints and, when
 * it replaces a silent worker, inheriting theirs; the verifier holding them and serving
 * them to a replacement.
 */
export class Handover {
  private readonly ctx: MarketContext
  private readonly factory: Pick<ModelFactory, 'replayTask'>
  private readonly holding = new Set<string>()

  constructor (ctx: MarketContext, factory: Pick<ModelFactory, 'replayTask'>) {
    this.ctx = ctx
    this.factory = factory
  }

  /** Worker: when it has no checkpoints of its own for the job, resume from what the job's verifiers hold of a silent predecessor's. */
  async inherit (state: JobState, req: TrainRequest, dir: string): Promise<void> {
    const store = new FileCheckpointStore(dir)
    if ((await store.steps()).length > 0) return
    for (const v of state.assign!.verifiers) {
      const fetch = async (step: number): Promise<Uint8Array | undefined> => await this.ctx.wire.fetch(v.peer, state.job, step).catch(() => undefined)
      // Only a verifier that holds the first checkpoint can hand anything over.
      if (await fetch(CHECKPOINT_EVERY) === undefined) continue
      const replay = await this.factory.replayTask(req, AbortSignal.timeout(3_600_000))
      try {
        const from = await inheritCheckpoints({ task: replay.task, fetch, store, log: this.ctx.log })
        if (from === 0) continue
        state.resumedFrom = from
        await this.ctx.store.save(state)
        this.ctx.log('resuming from the last verified checkpoint', { job: state.job, step: from, from: v.address })
        return
      } finally {
        await replay.release()
      }
    }
  }

  /** Worker: tells the job's verifiers its newest checkpoint. */
  async announce (state: JobState, step: number): Promise<void> {
    const envelope = this.ctx.seal(JobProgressMessage.type, { job: state.job, worker: this.ctx.me.address, step } satisfies JobProgress)
    for (const v of state.assign?.verifiers ?? []) {
      await this.ctx.wire.send(v.peer, envelope).catch(() => {})
    }
  }

  /** Verifier: fetch and hold the checkpoints the assigned worker announced (untrusted bytes; a replacement checks them). */
  async onProgress (env: Envelope<JobProgress>, from: string): Promise<TaskAnswer> {
    const state = await this.ctx.store.load(env.body.job)
    if (state?.role !== 'verifier' || state.assign === undefined || state.result !== undefined) return { accepted: false, reason: 'not verifying that job\'s training' }
    const worker = state.assign.workers[0]
    if (worker.peer !== from || worker.address.toLowerCase() !== env.body.worker.toLowerCase()) return { accepted: false, reason: 'not the assigned worker' }
    if (env.body.step % CHECKPOINT_EVERY !== 0) return { accepted: false, reason: 'not a checkpoint step' }
    if (this.holding.has(state.job)) return { accepted: true }
    this.holding.add(state.job)
    void (async () => {
      try {
        const held = heldStore(this.ctx.dir, state.job)
        const have = await held.steps()
        for (let step = (have.at(-1) ?? 0) + CHECKPOINT_EVERY; step <= env.body.step && have.length < MAX_HELD; step += CHECKPOINT_EVERY) {
          await held.save(step, await this.ctx.wire.fetch(from, state.job, step))
          have.push(step)
        }
        const latest = await this.ctx.store.status(state.job)
        latest.held = have.at(-1)
        await this.ctx.store.save(latest)
      } catch (err) {
        this.ctx.log('could not hold a checkpoint', { job: state.job, error: (err as Error).message })
      } finally {
        this.holding.delete(state.job)
      }
    })()
    return { accepted: true }
  }

  /** Verifier: a checkpoint it holds for a replacement worker, if any. */
  async held (job: string, step: number): Promise<Uint8Array | undefined> {
    const held = heldStore(this.ctx.dir, job)
    return (await held.steps()).includes(step) ? await held.load(step) : undefined
  }
}

