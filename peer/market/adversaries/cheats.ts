// The adversaries the market must defeat, as real behaviours of a real peer, for the
// devnet's demonstrations and tests (never enabled by default, hidden in the CLI). Each
// worker cheat is the cheapest lie of its kind that still looks like a result: a receipt
// and an adapter file that decode, link and name the job.
//   lazy    trains half the steps, claims the rest by repeating its last checkpoint
//   skip    trains the first half of every segment and labels the state as the
//           segment's end: a receipt of the right job whose every checkpoint is a lie
//           only a replay finds (and a dispute narrows to the segment's last step)
//   random  trains, then delivers random weights (sabotage: the receipt is honest)
//   base    trains nothing: a consistent chain of checkpoints that never leave the
//           initial (untouched) adapter, i.e. the base model unchanged
//   stale   trains nothing: delivers its own earlier result for another job
//   copy    trains nothing: delivers another worker's adapter, read from the datanet's
//           training-cycle records, with that adapter's own checkpoint chain
//   small   (inference batches) generates with half the base model's layers; on a
//           training job it works honestly (market-service.ts runs it)
//   scores  (attribution jobs) computes no gradients and delivers made-up scores of a
//           plausible size, with the payout summary they imply and a receipt over
//           them, so only a verifier's recomputation finds it (attribution-jobs.ts);
//           on other jobs it works honestly
// Verifier cheats: `approve` signs every result without replaying anything; `accuse`
// replays, then rejects honest work with a made-up hash for a segment (market-service.ts).
// A cheat that finds nothing to reuse (stale or copy on a first job) works honestly.
import { join } from 'node:path'
import { decodeAdapter, encodeAdapter, type Model } from '../../../compute/models/artifacts.ts'
import { initAdamW } from '../../../compute/train/adamw.ts'
import { CHECKPOINT_FORMAT, checkpointHash, encodeCheckpoint } from '../../../compute/train/checkpoint.ts'
import { replaySteps, type TrainTask } from '../../../compute/train/trainer.ts'
import type { ParamSet } from '../../../compute/tensors/param-set.ts'
import type { TrainingReceipt } from '../../../compute/verify/sample.ts'
import { segmentsOf } from '../../../compute/verify/training.ts'
import type { WorkerCheat } from './cheat-modes.ts'
import { FileCheckpointStore } from '../../models/checkpoint-files.ts'
import type { ModelFactory, TrainRequest } from '../../models/model-factory.ts'
import type { ModelRegistry } from '../../models/model-registry.ts'

/** What a worker delivers: the adapter, its run's fingerprint and chain, and where the checkpoint bytes are (if anywhere). */
export interface Produced {
  adapter: string
  job: string
  checkpoints: Array<{ step: number, hash: string }>
  /** Folder of the checkpoints it can hand over; undefined: none. */
  checkpointDir?: string
}

export interface CheatDeps {
  factory: ModelFactory
  models: Pick<ModelRegistry, 'adapterBytes' | 'addAdapter' | 'model' | 'resolveModel'>
  /** Training cycles recorded in a datanet (its current view). */
  cycles: (datanet: string) => Promise<Array<{ reporter: string, model: string, adapter?: string }>>
  /** This worker's earlier delivered results, newest first. */
  past: () => Promise<Array<{ adapter: string, receipt: TrainingReceipt, checkpointDir?: string }>>
  me: string
  dir: string
  log: (msg: string, fields?: Record<string, unknown>) => void
}

interface Trained { adapter: string, base: string, job: string, folder: string, checkpoints: Array<{ step: number, hash: string }> }

async function trainFor (deps: CheatDeps, req: TrainRequest): Promise<Trained> {
  return await deps.factory.train(req, () => {}, AbortSignal.timeout(3_600_000)) as Trained
}

/** Runs the cheat for one job; undefined when it has nothing to cheat with (then the worker works honestly). */
export async function cheatingWork (mode: WorkerCheat, deps: CheatDeps, job: string, req: TrainRequest, every: number): Promise<Produced | undefined> {
  const steps = req.steps ?? 0
  if (mode === 'lazy') {
    const t = await trainFor(deps, { ...req, steps: Math.max(1, Math.floor(steps / 2)) })
    const last = t.checkpoints.at(-1)!
    const chain = [...t.checkpoints]
    for (let step = last.step + every; step <= steps; step += every) chain.push({ step, hash: last.hash })
    deps.log('cheating: half the steps trained, the rest claimed', { job })
    return { adapter: t.adapter, job: t.job, checkpoints: chain, checkpointDir: deps.factory.jobDir(t.folder) }
  }
  if (mode === 'random') {
    const t = await trainFor(deps, req)
    const base = await deps.models.model(t.base)
    const adapter = decodeAdapter(await deps.models.adapterBytes(t.adapter), { cid: t.base, meta: base.meta })
    for (const tensor of adapter.params.values()) for (let i = 0; i < tensor.data.length; i++) tensor.data[i] = (Math.random() - 0.5) * 0.02
    const entry = await deps.models.addAdapter(encodeAdapter(adapter, base.meta), { base: t.base, kind: base.meta.kind })
    deps.log('cheating: random weights delivered', { job })
    return { adapter: entry.cid, job: t.job, checkpoints: t.checkpoints, checkpointDir: deps.factory.jobDir(t.folder) }
  }
  if (mode === 'base') return await untouched(deps, job, req)
  if (mode === 'skip') return await skipping(deps, job, req)
  if (mode === 'small' || mode === 'scores') return undefined
  if (mode === 'stale') {
    const old = (await deps.past())[0]
    if (old === undefined) return undefined
    deps.log('cheating: an earlier result delivered again', { job, adapter: old.adapter })
    return { adapter: old.adapter, job: old.receipt.job, checkpoints: [...old.receipt.chain], checkpointDir: old.checkpointDir }
  }
  const baseCid = deps.models.resolveModel(req.base).cid
  const theirs = (await deps.cycles(req.datanet)).filter(c => c.adapter !== undefined && c.model === baseCid && c.reporter.toLowerCase() !== deps.me.toLowerCase()).at(-1)
  if (theirs === undefined) return undefined
  const base = await deps.models.model(baseCid)
  const adapter = decodeAdapter(await deps.models.adapterBytes(theirs.adapter!), { cid: baseCid, meta: base.meta })
  const provenance = adapter.meta.provenance as { job: string, checkpoints: Array<{ step: number, hash: string }> }
  deps.log('cheating: another worker\'s adapter delivered', { job, adapter: theirs.adapter, from: theirs.reporter })
  return { adapter: theirs.adapter!, job: provenance.job, checkpoints: provenance.checkpoints }
}

/**
 * The base model unchanged, dressed as a run: one real training step only to get a
 * well-formed adapter file for this base, then every checkpoint of the claimed chain
 * holds the initial adapter, linked and labelled as the task's.
 */
async function untouched (deps: CheatDeps, job: string, req: TrainRequest): Promise<Produced> {
  return await forgedRun(deps, job, req, 'untouched', async (task, store) => {
    const chain: Array<{ step: number, hash: string }> = []
    let prev: string | null = null
    for (const s of segmentsOf(task)) {
      const optimizer = initAdamW(task.specs)
      optimizer.t = s.to
      const bytes = encodeCheckpoint({ meta: { format: CHECKPOINT_FORMAT, job: task.job, step: s.to, prev, losses: new Array(s.to - s.from).fill(0.69) }, params: task.init, optimizer })
      await store.save(s.to, bytes)
      prev = checkpointHash(bytes)
      chain.push({ step: s.to, hash: prev })
    }
    deps.log('cheating: the untouched adapter delivered as trained', { job })
    return { chain, params: task.init }
  })
}

/**
 * A made-up run delivered as this job's: `forge` writes the checkpoints into `store` and
 * returns the chain and the final weights; one real training step gives a well-formed
 * adapter file for this base, which is relabelled with the forged provenance.
 */
async function forgedRun (deps: CheatDeps, job: string, req: TrainRequest, label: string,
  forge: (task: TrainTask, store: FileCheckpointStore) => Promise<{ chain: Array<{ step: number, hash: string }>, params: ParamSet }>): Promise<Produced> {
  const replay = await deps.factory.replayTask(req, AbortSignal.timeout(600_000))
  try {
    const { task } = replay
    const template = await trainFor(deps, { ...req, steps: 1 })
    const base: Model = await deps.models.model(template.base)
    const store = new FileCheckpointStore(join(deps.dir, `${job}.${label}`))
    const { chain, params } = await forge(task, store)
    const adapter = decodeAdapter(await deps.models.adapterBytes(template.adapter), { cid: template.base, meta: base.meta })
    adapter.meta = { ...adapter.meta, provenance: { job: task.job, checkpoints: chain } }
    adapter.params = params
    const entry = await deps.models.addAdapter(encodeAdapter(adapter, base.meta), { base: template.base, kind: base.meta.kind })
    return { adapter: entry.cid, job: task.job, checkpoints: chain, checkpointDir: store.dir }
  } finally {
    await replay.release()
  }
}

/**
 * `skip`: every segment trains only its first half from the previous (lied) checkpoint,
 * and the state reached is written as the segment's end (step relabelled, losses padded
 * with the last one). Chain, checkpoints and adapter are self-consistent and name the
 * job, so only replaying a segment tells the skipped steps.
 */
async function skipping (deps: CheatDeps, job: string, req: TrainRequest): Promise<Produced> {
  return await forgedRun(deps, job, req, 'skipped', async (task, store) => {
    const chain: Array<{ step: number, hash: string }> = []
    let from: Uint8Array | null = null
    let params = task.init
    for (const s of segmentsOf(task)) {
      const until = s.from + Math.max(1, Math.floor((s.to - s.from) / 2))
      let bytes: Uint8Array | undefined
      await replaySteps(task, from, until, c => {
        if (c.meta.step !== until) return
        const losses = [...c.meta.losses]
        while (losses.length < s.to - s.from) losses.push(losses.at(-1) ?? 0)
        bytes = encodeCheckpoint({ ...c, meta: { ...c.meta, step: s.to, losses } })
        params = c.params
      })
      await store.save(s.to, bytes!)
      chain.push({ step: s.to, hash: checkpointHash(bytes!) })
      from = bytes!
    }
    deps.log('cheating: half of every segment trained, all claimed', { job })
    return { chain, params }
  })
}
