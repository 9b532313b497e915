// An inference batch job on the worker's side: the job's model (a base, with or without
// an adapter) run greedily on N prompts in batches the worker chooses, returning each
// request's tokens and the left padding it ran with, which is what the receipt
// (compute/verify/inference-receipt.ts) commits to so a verifier can reproduce it bit
// for bit. `truncateTo` is the adversary of the tests and demos: a worker that runs
// the model cut to its first L' blocks (compute/models/lm/truncate.ts) and claims it
// ran the real one. No honest caller sets it.

import { performance } from 'node:perf_hooks'
import { InvalidRequestError, ShapeMismatchError } from '../errors.ts'
import { checkLmConfig, type LmConfig } from '../models/lm/config.ts'
import { truncateAdapter, truncateLm } from '../models/lm/truncate.ts'
import { loraA, loraB, type LoraConfig } from '../models/lora.ts'
import { LmGenerator } from '../serve/generator.ts'
import type { ParamSet } from '../tensors/param-set.ts'
import { batchPads } from '../verify/inference-receipt.ts'

/** Sequences per generation batch unless told otherwise. */
export const DEFAULT_MAX_BATCH = 32

/** A loaded session for one base and adapter shape; adapters of that shape are fed per batch. */
export interface InferenceEngine {
  readonly generator: LmGenerator
  /** The real model's config, whatever the session runs. */
  readonly cfg: LmConfig
  /** The adapter shape the engine serves; null: the base alone (plain graph). */
  readonly lora: LoraConfig | null
  /** Blocks kept when this is the adversary's truncated model; null for the real one. */
  readonly truncateTo: number | null
}

export interface InferenceEngineOptions {
  cfg: LmConfig
  base: ParamSet
  lora: LoraConfig | null
  threads?: number
  /** ADVERSARY ONLY (tests, demos): run the model cut to its first `truncateTo` blocks. */
  truncateTo?: number
}

/** Builds the ORT session; release it with `engine.generator.release()`. */
export async function loadInferenceEngine (opts: InferenceEngineOptions): Promise<InferenceEngine> {
  checkLmConfig(opts.cfg)
  const truncateTo = opts.truncateTo ?? null
  if (truncateTo === null) {
    const generator = await LmGenerator.create({ cfg: opts.cfg, base: opts.base, lora: opts.lora ?? undefined, threads: opts.threads })
    return { generator, cfg: opts.cfg, lora: opts.lora, truncateTo }
  }
  const small = truncateLm(opts.cfg, opts.base, truncateTo)
  // The factors' shapes only: which targets survive the cut decides the graph.
  const lora = opts.lora === null ? null : truncateAdapter(opts.lora, shapeOnlyFactors(opts.lora), truncateTo)?.lora ?? null
  const generator = await LmGenerator.create({ cfg: small.cfg, base: small.params, lora: lora ?? undefined, threads: opts.threads })
  return { generator, cfg: opts.cfg, lora: opts.lora, truncateTo }
}

/** Cache key of an engine: the same base, adapter shape and depth share one session. */
export function engineKey (base: string, lora: LoraConfig | null, truncateTo?: number | null): string {
  const shape = lora === null ? 'plain' : `${lora.rank}|${lora.alpha}|${lora.targets.join(',')}`
  return `${base}|${shape}|${truncateTo ?? 'full'}`
}

/** Each request's batch: prompts sorted by length (stable) in groups of maxBatch, so little is padded. */
export function planBatches (prompts: readonly Int32Array[], maxBatch: number): number[][] {
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new InvalidRequestError('maxBatch must be a positive integer', { maxBatch })
  const order = prompts.map((_, i) => i).sort((a, b) => prompts[a].length - prompts[b].length || a - b)
  const batches: number[][] = []
  for (let at = 0; at < order.length; at += maxBatch) batches.push(order.slice(at, at + maxBatch))
  return batches
}

export interface InferenceBatchOptions {
  cfg: LmConfig
  base: ParamSet
  /** The job's adapter; null: the base alone. */
  adapter: { lora: LoraConfig, params: ParamSet } | null
  prompts: readonly Int32Array[]
  maxNewTokens: number
  /** Generation of a request stops after this token (the tokenizer's end of text). */
  stopToken?: number
  maxBatch?: number
  threads?: number
  onProgress?: (p: { done: number, total: number, batches: number, of: number }) => void
  /** ADVERSARY ONLY (tests, demos): answer from the model cut to its first `truncateTo` blocks. */
  truncateTo?: number
  /** A loaded engine to use (and not release), e.g. from a peer's cache; it must match the options. */
  engine?: InferenceEngine
}

export interface InferenceBatchResult {
  /** Each request's generated tokens, in request order. */
  outputs: Int32Array[]
  /** Each request's left padding in the batch it ran in (batchPads). */
  pads: number[]
  /** The batches as run: lists of request indices. */
  batches: number[][]
  /** Wall time of generation (not of loading the engine). */
  ms: number
}

/** Runs every prompt greedily; refuses, before generating, a prompt that does not fit the context. */
export async function runInferenceBatch (opts: InferenceBatchOptions): Promise<InferenceBatchResult> {
  const { cfg, prompts, maxNewTokens } = opts
  checkLmConfig(cfg)
  if (prompts.length === 0) throw new InvalidRequestError('an inference job has at least one prompt')
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new InvalidRequestError('maxNewTokens must be a positive integer', { maxNewTokens })
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new InvalidRequestError('empty prompt', { index: i })
    if (p.length + maxNewTokens > cfg.context) throw new InvalidRequestError('prompt plus maxNewTokens exceeds the model context', { index: i, prompt: p.length, maxNewTokens, context: cfg.context })
  })
  const batches = planBatches(prompts, opts.maxBatch ?? DEFAULT_MAX_BATCH)
  const lora = opts.adapter?.lora ?? null
  const truncateTo = opts.truncateTo ?? null
  if (opts.engine !== undefined) checkEngine(opts.engine, cfg, lora, truncateTo)
  const engine = opts.engine ?? await loadInferenceEngine({ cfg, base: opts.base, lora, threads: opts.threads, truncateTo: truncateTo ?? undefined })
  try {
    const adapter = adapterFor(engine, opts.adapter)
    const outputs: Int32Array[] = new Array(prompts.length)
    const started = performance.now()
    let done = 0
    for (const [b, batch] of batches.entries()) {
      const got = await engine.generator.generate(batch.map(i => ({ prompt: prompts[i], maxNewTokens, adapter, temperature: 0, stopToken: opts.stopToken })))
      batch.forEach((i, j) => { outputs[i] = got[j].tokens })
      done += batch.length
      opts.onProgress?.({ done, total: prompts.length, batches: b + 1, of: batches.length })
    }
    return { outputs, pads: batchPads(prompts, batches), batches, ms: performance.now() - started }
  } finally {
    if (opts.engine === undefined) await engine.generator.release()
  }
}

/** The factors each request is fed: the adapter's, or (truncated engine) those that survive the cut. */
export function adapterFor (engine: InferenceEngine, adapter: { lora: LoraConfig, params: ParamSet } | null): ParamSet | null {
  if (adapter === null) return null
  if (engine.truncateTo === null) return adapter.params
  return truncateAdapter(adapter.lora, adapter.params, engine.truncateTo)?.params ?? null
}

function checkEngine (engine: InferenceEngine, cfg: LmConfig, lora: LoraConfig | null, truncateTo: number | null): void {
  const same = JSON.stringify(engine.cfg) === JSON.stringify(cfg) && engineKey('', engine.lora, engine.truncateTo) === engineKey('', lora, truncateTo)
  if (!same) throw new ShapeMismatchError('the engine was loaded for another model, adapter shape or depth', { engine: engineKey('', engine.lora, engine.truncateTo), wanted: engineKey('', lora, truncateTo) })
}

/** Stand-in factors for truncateAdapter when only the config matters. */
function shapeOnlyFactors (lora: LoraConfig): ParamSet {
  const empty = { shape: [0], data: new Float32Array(0) }
  return new Map(lora.targets.flatMap(t => [[loraA(t), empty], [loraB(t), empty]]))
}
