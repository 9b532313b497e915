// Inference batch jobs (kind 'infer'): "run adapter A, or base B alone, greedily on the
// prompts in file P, at most T new tokens each" (./inference-jobs.ts runs and verifies
// one). The prompts travel as a file fetched by CID; the receipt is a hash chain over
// every (prompt, output, pad). A forced error flips the first token of every output
// and rebuilds outputs file and receipt to match (../forced-errors.ts).
import { id as keccakText } from 'ethers'
import { decodeReceiptFile, encodePromptsFile } from '../../../compute/jobs/infer-files.ts'
import type { LmConfig } from '../../../compute/models/lm/config.ts'
import { inferenceReceiptHash } from '../../../compute/verify/inference-receipt.ts'
import type { JobAnnounce } from '../../../protocols/messages/index.ts'
import { InferenceEngineCache } from '../../models/inference-engines.ts'
import type { ModelRegistry } from '../../models/model-registry.ts'
import type { MarketContext } from '../context.ts'
import { plantInferenceFault } from '../forced-errors.ts'
import { inferSpecOf } from '../job-spec.ts'
import { runInferenceJob, verifyInferenceJob, type InferenceJobDeps, type InferenceJobRun } from './inference-jobs.ts'
import { receiptSubject, resultMessage, type Check, type CheckTools, type Delivery, type JobKind, type Work, type WorkTools } from './kind.ts'
import type { InferSubmit } from './requests.ts'

export interface InferKindOptions {
  ctx: MarketContext
  models: Pick<ModelRegistry, 'model' | 'adapterBytes' | 'resolveModel' | 'fileBytes' | 'addFile'>
  threads?: number
}

export class InferKind implements JobKind<InferSubmit> {
  readonly name = 'infer' as const
  private readonly opts: InferKindOptions
  private readonly engines = new InferenceEngineCache({ max: 2 })

  constructor (opts: InferKindOptions) {
    this.opts = opts
  }

  /** The prompts stored as a file peers fetch by CID, the base by CID. */
  async announceSpec (r: InferSubmit): Promise<JobAnnounce['spec']> {
    const prompts = await this.opts.models.addFile(encodePromptsFile(r.prompts))
    const base = this.opts.models.resolveModel(r.base).cid
    return { base, ...(r.adapter !== undefined ? { adapter: r.adapter } : {}), params: { prompts, maxNewTokens: r.maxNewTokens, count: r.prompts.length } }
  }

  /** Inference batches are language-model generation. */
  async canTake (_a: JobAnnounce, baseKind: string): Promise<boolean> {
    return baseKind === 'lm'
  }

  /** 30 s plus a few ms per generated token (bench lora-serve), generously. */
  etaMs (a: JobAnnounce): number {
    return 30_000 + 5 * Number(a.spec.params.count ?? 1) * Number(a.spec.params.maxNewTokens ?? 48)
  }

  async work (t: WorkTools): Promise<Work> {
    const { state, behaviour } = t
    const spec = inferSpecOf(state.announce)
    const started = performance.now()
    const layers = ((await this.opts.models.model(this.opts.models.resolveModel(spec.base).cid)).meta.config as LmConfig).layers
    const using = behaviour.inferenceLayers(layers)
    const truncateTo = using < layers ? using : undefined
    if (truncateTo !== undefined) this.opts.ctx.log('cheating: generating with a smaller model', { job: state.job, layers: truncateTo })
    const run = await runInferenceJob(this.deps(), spec, { truncateTo })
    const computeMs = performance.now() - started
    const honest = await this.delivery(state.job, run)
    const planted = truncateTo === undefined && behaviour.plantsForcedErrors && await t.drawsForcedError()
      ? await plantInferenceFault(run, spec.job, async (bytes) => await this.opts.models.addFile(bytes))
      : undefined
    if (planted !== undefined) return { delivered: await this.delivery(state.job, planted), real: honest, computeMs, cheated: false }
    return { delivered: honest, computeMs, cheated: truncateTo !== undefined }
  }

  beaconSubject (receiptBytes: Uint8Array): string {
    return receiptSubject(receiptBytes, bytes => inferenceReceiptHash(decodeReceiptFile(bytes)))
  }

  /** The outputs match the receipt, and sampled requests re-generate to the same tokens on the real model. */
  async check (t: CheckTools): Promise<Check> {
    const { result } = t
    const v = await verifyInferenceJob(this.deps(), inferSpecOf(t.state.announce), { result: result.result, receiptBytes: t.receiptBytes, verifier: t.verifier, beacon: t.beacon, fraction: t.fraction })
    const receipt = (() => { try { return decodeReceiptFile(t.receiptBytes) } catch { return undefined } })()
    const headOk = receipt !== undefined && '0x' + receipt.head === result.receipt.head && result.resultHash === keccakText(result.result)
    if (v.ok && headOk) return { ok: true, checked: v.checked, computeMs: v.computeMs }
    return { ok: false, checked: v.checked, computeMs: v.computeMs, evidence: { ...(v.evidence ?? { job: t.state.job }), headOk, mismatches: v.mismatches } }
  }

  private deps (): InferenceJobDeps {
    const { models, threads } = this.opts
    return {
      models,
      fetchFile: async (cid, maxBytes) => await models.fileBytes(cid, maxBytes, AbortSignal.timeout(120_000)),
      storeFile: async (bytes) => await models.addFile(bytes),
      threads,
      engines: this.engines
    }
  }

  private async delivery (job: string, run: Pick<InferenceJobRun, 'result' | 'receipt' | 'receiptBytes'>): Promise<Delivery> {
    const n = run.receipt.outputs.length
    const result = await resultMessage({ job, worker: this.opts.ctx.me.address, result: run.result, receiptBytes: run.receiptBytes, head: run.receipt.head, entries: n, every: 1, steps: n })
    return { result, receiptBytes: run.receiptBytes }
  }
}
