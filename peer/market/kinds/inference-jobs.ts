// Inference batch jobs (kind 'infer') on a peer: "run adapter A, or base B alone,
// greedily on the prompts in file P, at most T new tokens each". The worker side runs
// the batch and stores the outputs file, returning the receipt that commits to every
// (prompt, output, pad); the verifier side fetches prompts and outputs by CID, refuses
// outputs that do not match the receipt, and re-generates a sample of the requests the
// receipt, its own address and a beacon pick. Everything network-facing comes in as
// functions (fetchFile, storeFile, the registry's lookups), so the market wires it to
// libp2p and Helia and tests wire it to memory.
//
// Whose fault a failure is decides what it becomes: bad worker data (receipt bytes,
// outputs file, tokens the model does not give) is a verdict, ok: false with evidence
// naming the typed error; a bad job (prompts file, model, adapter, limits) is the
// requester's, and throws, as does a file that cannot be fetched (missing blocks); a
// result CID that names no file, or one over the size limit, is the worker's.
import { InvalidRequestError, ShapeMismatchError } from '../../../compute/errors.ts'
import { adapterFor, DEFAULT_MAX_BATCH, engineKey, loadInferenceEngine, runInferenceBatch, type InferenceEngine } from '../../../compute/jobs/infer-batch.ts'
import { decodeOutputsFile, decodePromptsFile, decodeReceiptFile, encodeOutputsFile, encodeReceiptFile, MAX_OUTPUT_TOKENS, MAX_OUTPUTS_BYTES, MAX_PROMPTS_BYTES, type OutputsFile } from '../../../compute/jobs/infer-files.ts'
import { decodeAdapter } from '../../../compute/models/artifacts.ts'
import type { LmConfig } from '../../../compute/models/lm/config.ts'
import type { LoraConfig } from '../../../compute/models/lora.ts'
import type { ParamSet } from '../../../compute/tensors/param-set.ts'
import { Tokenizer } from '../../../compute/tokenizer/index.ts'
import { OutputRefusedError } from '../../../compute/verify/errors.ts'
import { checkInferenceReceipt, generatorFor, inferenceReceipt, inferenceReceiptHash, sampleRequests, verifyInference, type InferenceReceipt } from '../../../compute/verify/inference.ts'
import type { InferenceEngineCache } from '../../models/inference-engines.ts'
import type { ModelRegistry } from '../../models/model-registry.ts'
import { checkResult, sampleCount, type ResultClaim } from './result-check.ts'

export { MAX_CHECKED } from './result-check.ts'

/** Requests a verifier re-generates when told neither k nor a fraction. */
export const DEFAULT_SAMPLE = 8

export interface InferenceJobDeps {
  models: Pick<ModelRegistry, 'model' | 'adapterBytes' | 'resolveModel'>
  /** A file's bytes by CID, at most maxBytes (throws when it cannot). */
  fetchFile: (cid: string, maxBytes: number) => Promise<Uint8Array>
  /** Stores bytes where peers can fetch them; returns the CID. */
  storeFile: (bytes: Uint8Array) => Promise<string>
  threads?: number
  /** Sequences per generation batch (default 32). */
  maxBatch?: number
  /** Sessions kept between jobs; without it each job loads and releases its own. */
  engines?: InferenceEngineCache
}

export interface InferenceJobSpec {
  job: string
  /** Base model CID (or a name this peer knows). */
  base: string
  /** Adapter CID; without it the base alone answers. */
  adapter?: string
  /** CID of the prompts file (openledger/prompts/1). */
  prompts: string
  maxNewTokens: number
}

export interface InferenceJobRun {
  /** CID of the outputs file (openledger/outputs/1). */
  result: string
  receipt: InferenceReceipt
  /** The receipt file (canonical JSON): what the worker serves verifiers. */
  receiptBytes: Uint8Array
  outputs: Int32Array[]
  /** Tokens generated over all requests. */
  tokens: number
  batches: number
  /** Wall time of generation. */
  ms: number
}

/** Requests to re-generate: k, or the audit share of them (at least one); default DEFAULT_SAMPLE. */
export type InferenceClaim = ResultClaim

export interface InferenceMismatchEvidence {
  index: number
  firstDivergence: number
  claimed: number[]
  recomputed: number[]
}

export interface InferenceEvidence {
  job: string
  result: string
  /** inferenceReceiptHash of the receipt, when it decoded. */
  receipt: string | null
  /** The refusal, when the worker's data did not hold together. */
  refused?: { name: string, message: string, details: Record<string, unknown> }
  mismatches: InferenceMismatchEvidence[]
}

export interface InferenceJobVerdict {
  ok: boolean
  /** Requests re-generated, ascending (none when the worker's data was refused). */
  checked: number[]
  mismatches: InferenceMismatchEvidence[]
  evidence?: InferenceEvidence
  /** Wall time spent re-generating. */
  computeMs: number
}

interface LoadedJob {
  baseCid: string
  cfg: LmConfig
  base: ParamSet
  adapter: { lora: LoraConfig, params: ParamSet } | null
  stopToken: number
  prompts: Int32Array[]
}

/** The worker: runs the job, stores the outputs file, returns the receipt. `truncateTo` is the adversary (tests, demos). */
export async function runInferenceJob (deps: InferenceJobDeps, spec: InferenceJobSpec, opts: { truncateTo?: number, onProgress?: (p: { done: number, total: number }) => void } = {}): Promise<InferenceJobRun> {
  const job = await loadJob(deps, spec)
  const run = await withEngine(deps, job, opts.truncateTo, async (engine) => await runInferenceBatch({
    cfg: job.cfg,
    base: job.base,
    adapter: job.adapter,
    prompts: job.prompts,
    maxNewTokens: spec.maxNewTokens,
    stopToken: job.stopToken,
    maxBatch: deps.maxBatch,
    threads: deps.threads,
    truncateTo: opts.truncateTo,
    onProgress: opts.onProgress,
    engine
  }))
  const result = await deps.storeFile(encodeOutputsFile({ job: spec.job, outputs: run.outputs }))
  const receipt = inferenceReceipt(spec.job, job.prompts, run.outputs, { pads: run.pads })
  return { result, receipt, receiptBytes: encodeReceiptFile(receipt), outputs: run.outputs, tokens: run.outputs.reduce((n, o) => n + o.length, 0), batches: run.batches.length, ms: run.ms }
}

/** A verifier: checks the worker's receipt and outputs file, then re-generates a sample (./result-check.ts). */
export async function verifyInferenceJob (deps: Omit<InferenceJobDeps, 'storeFile'>, spec: InferenceJobSpec, claim: InferenceClaim): Promise<InferenceJobVerdict> {
  const evidence = (receipt: InferenceReceipt | null, extra: Partial<InferenceEvidence>): InferenceEvidence =>
    ({ job: spec.job, result: claim.result, receipt: receipt === null ? null : inferenceReceiptHash(receipt), mismatches: [], ...extra })
  return await checkResult<InferenceReceipt, OutputsFile, LoadedJob, InferenceJobVerdict>({
    decodeReceipt: decodeReceiptFile,
    fetchResult: async () => await deps.fetchFile(claim.result, MAX_OUTPUTS_BYTES),
    decodeResult: decodeOutputsFile,
    load: async () => await loadJob(deps, spec),
    match: (receipt, file, job) => {
      if (file.job !== spec.job) throw new OutputRefusedError('outputs file is for another job', { job: file.job, expected: spec.job })
      checkInferenceReceipt(receipt, { job: spec.job, prompts: job.prompts, outputs: file.outputs, maxNewTokens: spec.maxNewTokens, stopToken: job.stopToken })
    },
    recompute: async (receipt, file, job) => {
      const sample = sampleRequests(receipt, { verifier: claim.verifier, k: sampleCount(job.prompts.length, claim, { min: 1, fallback: DEFAULT_SAMPLE }), beacon: claim.beacon })
      const verdict = await withEngine(deps, job, undefined, async (engine) => await verifyInference({
        job: spec.job,
        receipt,
        prompts: job.prompts,
        outputs: file.outputs,
        maxNewTokens: spec.maxNewTokens,
        stopToken: job.stopToken,
        sample,
        generate: generatorFor(engine.generator, adapterFor(engine, job.adapter)),
        context: job.cfg.context,
        maxBatch: Math.max(2, deps.maxBatch ?? DEFAULT_MAX_BATCH)
      }))
      const mismatches = verdict.mismatches.map(m => ({ index: m.index, firstDivergence: m.firstDivergence, claimed: Array.from(m.claimed), recomputed: Array.from(m.recomputed) }))
      return { ok: verdict.ok, checked: verdict.checked, mismatches, evidence: verdict.ok ? undefined : evidence(receipt, { mismatches }), computeMs: verdict.computeMs }
    },
    refuse: (refused, receipt) => ({ ok: false, checked: [], mismatches: [], evidence: evidence(receipt, { refused }), computeMs: 0 })
  }, claim.receiptBytes)
}

/** The model, adapter, tokenizer and tokenized prompts of a job; throws for a job that cannot run. */
async function loadJob (deps: Pick<InferenceJobDeps, 'models' | 'fetchFile'>, spec: InferenceJobSpec): Promise<LoadedJob> {
  if (typeof spec.job !== 'string' || spec.job.length === 0 || spec.job.length > 200) throw new InvalidRequestError('job id must be 1 to 200 characters')
  if (!Number.isInteger(spec.maxNewTokens) || spec.maxNewTokens < 1 || spec.maxNewTokens > MAX_OUTPUT_TOKENS) throw new InvalidRequestError(`maxNewTokens must be an integer in 1..${MAX_OUTPUT_TOKENS}`, { maxNewTokens: spec.maxNewTokens })
  const baseCid = deps.models.resolveModel(spec.base).cid
  const model = await deps.models.model(baseCid)
  if (model.meta.kind !== 'lm') throw new InvalidRequestError('an inference batch job runs a language model', { base: baseCid, kind: model.meta.kind })
  const cfg = model.meta.config as LmConfig
  const tokenizer = Tokenizer.fromJSON(model.meta.tokenizer)
  if (tokenizer.vocabSize !== cfg.vocab) throw new ShapeMismatchError('the model\'s tokenizer does not match its vocabulary', { tokenizer: tokenizer.vocabSize, vocab: cfg.vocab })
  let adapter: LoadedJob['adapter'] = null
  if (spec.adapter !== undefined) {
    // Refuses an adapter trained on another base than the job names.
    const a = decodeAdapter(await deps.models.adapterBytes(spec.adapter), { cid: baseCid, meta: model.meta })
    adapter = { lora: a.meta.lora, params: a.params }
  }
  const texts = decodePromptsFile(await deps.fetchFile(spec.prompts, MAX_PROMPTS_BYTES))
  const prompts = texts.map(t => tokenizer.encode(t))
  prompts.forEach((p, i) => {
    if (p.length + spec.maxNewTokens > cfg.context) throw new InvalidRequestError('prompt plus maxNewTokens exceeds the model context', { index: i, promptTokens: p.length, maxNewTokens: spec.maxNewTokens, context: cfg.context })
  })
  return { baseCid, cfg, base: model.params, adapter, stopToken: tokenizer.eot, prompts }
}

/** The job's engine from the cache, or one loaded for this call and released after. */
async function withEngine<T> (deps: Pick<InferenceJobDeps, 'threads' | 'engines'>, job: LoadedJob, truncateTo: number | undefined, fn: (engine: InferenceEngine) => Promise<T>): Promise<T> {
  const lora = job.adapter?.lora ?? null
  const load = async (): Promise<InferenceEngine> => await loadInferenceEngine({ cfg: job.cfg, base: job.base, lora, threads: deps.threads, truncateTo })
  if (deps.engines !== undefined) return await deps.engines.use(engineKey(job.baseCid, lora, truncateTo), load, fn)
  const engine = await load()
  try {
    return await fn(engine)
  } finally {
    await engine.generator.release()
  }
}
