// LoRA training jobs (kind 'train'). The worker trains the announced request (the seed
// mixed with the job id) with hash-chained checkpoints, telling its verifiers each new
// one so a replacement could resume (../handover.ts); its receipt is the chain. A
// verifier refuses a receipt of another run before asking for any bytes, replays the
// segments its beacon picks from the worker's checkpoints, and on every job binds the
// delivered adapter to the receipt's last checkpoint. A forced error moves one weight in
// every checkpoint (../forced-errors.ts): only a replay finds it.
import { id as keccakText } from 'ethers'
import { decodeTrainingReceipt, encodeTrainingReceipt } from '../../../compute/jobs/training-receipt-file.ts'
import { decodeAdapter } from '../../../compute/models/artifacts.ts'
import { checkAdapterBinding, type BindingVerdict } from '../../../compute/verify/adapter-binding.ts'
import { BadReceiptError } from '../../../compute/verify/errors.ts'
import { receiptHash, sampleSeed, sampleSegments, segmentsForFraction, type TrainingReceipt } from '../../../compute/verify/sample.ts'
import { checkReceipt, segmentsOf } from '../../../compute/verify/training.ts'
import { deviceStamp } from '../../../compute/onnx/device-class.ts'
import type { JobAnnounce } from '../../../protocols/messages/index.ts'
import type { ModelFactory, TrainRequest } from '../../models/model-factory.ts'
import type { ModelRegistry } from '../../models/model-registry.ts'
import type { CheatDeps, Produced } from '../adversaries/cheats.ts'
import type { MarketContext } from '../context.ts'
import { plantFault } from '../forced-errors.ts'
import { watchCheckpoints, type Handover } from '../handover.ts'
import { CHECKPOINT_EVERY, trainParams, trainRequestOf } from '../job-spec.ts'
import type { JobState } from '../job-state.ts'
import { fetchCheckpoint } from '../receipts.ts'
import { receiptSubject, resultMessage, type Check, type CheckTools, type Delivery, type JobKind, type Work, type WorkTools } from './kind.ts'
import { refusalOf } from './result-check.ts'
import { replayWorkerSegments } from '../segment-replay.ts'

export interface TrainKindOptions {
  ctx: MarketContext
  factory: ModelFactory
  models: Pick<ModelRegistry, 'adapterBytes' | 'addAdapter' | 'model' | 'resolveModel'>
  handover: Handover
  /** A datanet's recorded training cycles (what a copying adversary copies from). */
  cycles: (datanet: string) => Promise<Array<{ reporter: string, model: string, adapter?: string }>>
}

export class TrainKind implements JobKind<TrainRequest> {
  readonly name = 'train' as const
  private readonly opts: TrainKindOptions

  constructor (opts: TrainKindOptions) {
    this.opts = opts
  }

  async announceSpec (req: TrainRequest): Promise<JobAnnounce['spec']> {
    return { params: trainParams(req) }
  }

  async canTake (): Promise<boolean> {
    return true
  }

  /**
   * A conservative estimate: 30 s (a loaded machine running several jobs at once) plus,
   * per step, several times what bench train measured here on the CPU (~3 ms classifier,
   * ~50 ms the shipped LM), times `slowdown` for a device slower than the CPU.
   */
  etaMs (a: JobAnnounce, baseKind: string, slowdown = 1): number {
    const steps = typeof a.spec.params.steps === 'number' ? a.spec.params.steps : 300
    return Math.ceil(30_000 + (baseKind === 'lm' ? 200 : 10) * steps * Math.max(1, slowdown))
  }

  async work (t: WorkTools): Promise<Work> {
    const { state, behaviour } = t
    const req = trainRequestOf(state.announce)
    const started = performance.now()
    const forged = await behaviour.forgeTraining(this.cheatDeps(), state.job, req, CHECKPOINT_EVERY)
    const produced = forged ?? await this.train(req, state)
    const computeMs = performance.now() - started
    const honest = await this.delivery(state.job, produced)
    if (forged === undefined && behaviour.plantsForcedErrors && await t.drawsForcedError()) {
      const planted = await plantFault({ factory: this.opts.factory, models: this.opts.models, req, honest: produced, dir: this.opts.ctx.dir, job: state.job })
      return { delivered: await this.delivery(state.job, planted), real: honest, computeMs, cheated: false }
    }
    return { delivered: honest, computeMs, cheated: forged !== undefined }
  }

  beaconSubject (receiptBytes: Uint8Array): string {
    return receiptSubject(receiptBytes, bytes => receiptHash(decodeTrainingReceipt(bytes)))
  }

  /** The receipt is this job's run, sampled segments replay, and the adapter is the last checkpoint. */
  async check (t: CheckTools): Promise<Check> {
    const { state, result } = t
    const job = state.job
    let receipt: TrainingReceipt
    try {
      receipt = decodeTrainingReceipt(t.receiptBytes)
    } catch (err) {
      if (!(err instanceof BadReceiptError)) throw err
      return { ok: false, checked: [], evidence: { job, refused: refusalOf(err) } }
    }
    const rHash = receiptHash(receipt)
    const replay = await this.opts.factory.replayTask(trainRequestOf(state.announce), AbortSignal.timeout(3_600_000))
    try {
      const { task } = replay
      // Before asking for any bytes: a receipt of another run (stale, copied) is refused outright.
      checkReceipt(task, receipt)
      const n = segmentsOf(task).length
      // The registry's audit rate, at least one segment; the sample is fixed by this verifier's beacon, which the worker cannot know.
      const k = Math.min(n, Math.max(1, segmentsForFraction(n, t.fraction)))
      const segments = sampleSegments(sampleSeed({ job, receipt: rHash, verifier: t.verifier, beacon: t.beacon }), n, k)
      // Bit for bit on the worker's CPU class; across classes within the pair's measured tolerance.
      const { verdict: v, mode, mine } = await replayWorkerSegments(this.opts.ctx, t.workerPeer, job, task, receipt, segments)
      const lie = v.ok ? t.behaviour.accusation(job, segments, receipt) : undefined
      if (lie !== undefined) {
        this.opts.ctx.log('cheating: accusing an honest worker', { job, segment: lie.segment })
        return { ok: false, checked: segments, computeMs: v.computeMs, evidence: { job, receipt: rHash, mismatches: [{ segment: lie.segment, step: lie.step, claimed: receipt.chain[lie.segment].hash, recomputed: lie.hash }], headOk: true }, dispute: lie }
      }
      const headOk = '0x' + receipt.chain.at(-1)!.hash === result.receipt.head && result.resultHash === keccakText(result.result)
      // Every job, not a sample: the delivered adapter must be this run's last checkpoint.
      let binding: BindingVerdict | undefined
      if (v.ok && headOk) {
        const final = await fetchCheckpoint(this.opts.ctx.wire.fetch, t.workerPeer, job, task.steps)
        const adapter = decodeAdapter(await this.opts.models.adapterBytes(result.result, AbortSignal.timeout(120_000)), replay.base)
        binding = checkAdapterBinding({ task, receipt, adapter, final })
      }
      if (v.ok && headOk && binding?.ok === true) return { ok: true, checked: segments, computeMs: v.computeMs }
      // The first segment that did not replay is what this verifier will defend in a dispute.
      const m = v.mismatches[0]
      return { ok: false, checked: segments, computeMs: v.computeMs, evidence: { job, receipt: rHash, mismatches: v.mismatches, headOk, binding, ...(mode !== 'exact' ? { mode, verifierDevice: mine } : {}) }, ...(m !== undefined ? { dispute: { segment: m.segment, step: m.step, hash: m.recomputed, ...(mode !== 'exact' ? { tolerance: true } : {}) } } : {}) }
    } finally {
      await replay.release()
    }
  }

  /** The result message and receipt of a run. */
  private async delivery (job: string, p: Produced): Promise<Delivery> {
    // The receipt names the device class that ran it: what a verifier's check mode follows.
    const receiptBytes = encodeTrainingReceipt({ job: p.job, chain: p.checkpoints, device: deviceStamp(this.opts.ctx.device) })
    const last = p.checkpoints.at(-1)!
    const result = await resultMessage({ job, worker: this.opts.ctx.me.address, result: p.adapter, receiptBytes, head: last.hash, entries: p.checkpoints.length, every: CHECKPOINT_EVERY, steps: last.step })
    return { result, receiptBytes, ...(p.checkpointDir !== undefined ? { checkpointDir: p.checkpointDir } : {}) }
  }

  /**
   * Trains the job: first inheriting what a silent predecessor's verifiers hold (when
   * this peer has no checkpoints of its own for it), then telling the verifiers each new
   * checkpoint so that a replacement of this worker could do the same.
   */
  private async train (req: TrainRequest, state: JobState): Promise<Produced> {
    const { factory, handover, ctx } = this.opts
    const signal = AbortSignal.timeout(3_600_000)
    let stop = (): void => {}
    if (state.assign !== undefined) {
      const dir = factory.jobDir(await factory.folderOf(req, signal))
      // Served while training too: the verifiers fetch each checkpoint as it is announced.
      state.checkpointDir = dir
      await ctx.store.save(state)
      await handover.inherit(state, req, dir)
      stop = watchCheckpoints(dir, async step => await handover.announce(state, step))
    }
    try {
      const t = await factory.train(req, () => {}, signal) as { adapter: string, checkpoints: Array<{ step: number, hash: string }>, job: string, folder: string }
      return { adapter: t.adapter, job: t.job, checkpoints: t.checkpoints, checkpointDir: factory.jobDir(t.folder) }
    } finally {
      stop()
    }
  }

  private cheatDeps (): CheatDeps {
    const { ctx } = this.opts
    return {
      factory: this.opts.factory,
      models: this.opts.models,
      cycles: this.opts.cycles,
      me: ctx.me.address,
      dir: ctx.dir,
      log: ctx.log,
      past: async () => {
        const out = []
        for (const { job } of await ctx.store.list()) {
          const s = await ctx.store.load(job)
          if (s?.role !== 'worker' || s.result === undefined || s.announce.kind !== 'train') continue
          const receipt = await ctx.receipts.training(job).catch(() => undefined)
          if (receipt !== undefined) out.push({ adapter: s.result.result, receipt, checkpointDir: s.checkpointDir })
        }
        return out
      }
    }
  }
}
