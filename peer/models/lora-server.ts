// OpenLoRA on a peer: each base model is loaded once; adapters are fetched by CID and
// kept in a byte-bounded LRU; requests that arrive together for the same base (and
// adapter shape) are batched into one generation, each sequence with its own adapter,
// so 100 requests for 100 adapters cost one ORT call per generated token, not 100.
// With `explain`, a language model's answer comes with the datanet contributions its
// text copies (explain.ts); asking that of a classifier, of a base model alone or of an
// adapter that names no datanet is an ExplainUnsupportedError, before any work is done.
import { InvalidRequestError, ShapeMismatchError } from '../../compute/errors.ts'
import { ClassifierEvaluator } from '../../compute/jobs/classifier-eval.ts'
import { adapterBaseOf, decodeAdapter, type Adapter, type Model } from '../../compute/models/artifacts.ts'
import type { ClassifierConfig } from '../../compute/models/classifier/config.ts'
import { classifierData } from '../../compute/models/classifier/train-step.ts'
import type { LmConfig } from '../../compute/models/lm/config.ts'
import type { LoraConfig } from '../../compute/models/lora.ts'
import { AdapterCache } from '../../compute/serve/adapter-cache.ts'
import { LmGenerator, type GenerationRequest, type GenerationResult } from '../../compute/serve/generator.ts'
import { Tokenizer } from '../../compute/tokenizer/index.ts'
import { GradientExplainer } from '../attribution/gradient-explain.ts'
import { Explainer, ExplainUnsupportedError, type ExplainDatanets, type Explanation, type IndexedVersion } from '../attribution/explain.ts'
import type { ModelRegistry } from './model-registry.ts'

export const MAX_PROMPT_CHARS = 16_384
export const MAX_NEW_TOKENS = 512

export interface InferRequest {
  /** Adapter CID; without it the base model alone answers. */
  adapter?: string
  /** Base model name or CID (needed only without an adapter). */
  base?: string
  prompt: string
  maxTokens?: number
  temperature?: number
  seed?: number
  /** Language models with an adapter: credit the answer to the datanet contributions it copies. */
  explain?: boolean
}

export type InferResult = { adapter: string | null, base: string, ms: number, batch: number } & (
  | { kind: 'lm', text: string, tokens: number[], promptTokens: number, explanation?: Explanation }
  | { kind: 'classifier', label: string, probabilities: Record<string, number> }
)

interface Pending { request: GenerationRequest, resolve: (r: { result: GenerationResult, batch: number }) => void, reject: (e: Error) => void }
interface LmEngine { kind: 'lm', generator: LmGenerator, tokenizer: Tokenizer, cfg: LmConfig, queue: Pending[], busy: boolean }
interface ClassifierEngine { kind: 'classifier', evaluator: ClassifierEvaluator, cfg: ClassifierConfig, labels: string[] }

export interface LoraServerOptions {
  registry: ModelRegistry
  threads?: number
  /** Sequences per generation batch. */
  maxBatch?: number
  /** Bytes of decoded adapters kept in memory. */
  cacheBytes?: number
  /** The peer's datanets, for `explain`; without them the server explains nothing. */
  datanets?: ExplainDatanets
  /** Where the peer's training jobs keep their files (gradient sketches, for `explain`). */
  jobDir?: (job: string) => string
  log?: (msg: string, fields?: Record<string, unknown>) => void
}

export class LoraServer {
  private readonly opts: LoraServerOptions
  private readonly engines = new Map<string, Promise<LmEngine | ClassifierEngine>>()
  private readonly cache: AdapterCache<{ adapter: Adapter, base: string }>
  private readonly counters = { requests: 0, batches: 0, sequences: 0 }
  private readonly explainer: Explainer | null
  private readonly gradients: GradientExplainer | null

  constructor (opts: LoraServerOptions) {
    this.opts = opts
    this.explainer = opts.datanets != null ? new Explainer({ datanets: opts.datanets, log: opts.log }) : null
    this.gradients = opts.jobDir != null ? new GradientExplainer({ registry: opts.registry, jobDir: opts.jobDir, threads: opts.threads }) : null
    this.cache = new AdapterCache({
      maxBytes: opts.cacheBytes ?? 256 * 1024 * 1024,
      load: async (cid) => {
        const bytes = await opts.registry.adapterBytes(cid)
        const base = adapterBaseOf(bytes)
        const adapter = decodeAdapter(bytes, { cid: base, meta: (await opts.registry.model(base)).meta })
        let size = 0
        for (const t of adapter.params.values()) size += t.data.byteLength
        return { value: { adapter, base }, bytes: size }
      }
    })
  }

  async infer (req: InferRequest): Promise<InferResult> {
    const started = performance.now()
    this.counters.requests++
    if (typeof req.prompt !== 'string' || req.prompt.length === 0 || req.prompt.length > MAX_PROMPT_CHARS) throw new InvalidRequestError(`prompt must be 1 to ${MAX_PROMPT_CHARS} characters`)
    let adapter: Adapter | null = null
    let baseCid: string
    if (req.adapter !== undefined) {
      const loaded = await this.cache.get(req.adapter)
      adapter = loaded.adapter
      baseCid = loaded.base
    } else {
      if (req.base === undefined) throw new InvalidRequestError('name an adapter or a base model')
      baseCid = this.opts.registry.resolveModel(req.base).cid
    }
    const model = await this.opts.registry.model(baseCid)
    const engine = await this.engine(baseCid, model, adapter?.meta.lora ?? null)
    const common = { adapter: req.adapter ?? null, base: baseCid }
    if (req.explain === true) {
      if (engine.kind === 'classifier') throw new ExplainUnsupportedError('a classifier answers with a label, not text: only a language model\'s answer can be explained')
      if (adapter == null) throw new ExplainUnsupportedError('a base model alone was trained on no datanet: explain an answer of an adapter')
      if (adapter.meta.datanet == null) throw new ExplainUnsupportedError('this adapter names no datanet version it was trained on', { adapter: req.adapter })
      if (this.explainer == null) throw new ExplainUnsupportedError('this server has no datanets to explain answers from')
    }
    if (engine.kind === 'classifier') {
      const probs = await engine.evaluator.predict(classifierData({ texts: [req.prompt], labels: [0] }, engine.cfg), adapter?.params ?? null)
      let best = 0
      for (let c = 1; c < engine.labels.length; c++) if (probs[c] > probs[best]) best = c
      return { ...common, kind: 'classifier', label: engine.labels[best], probabilities: Object.fromEntries(engine.labels.map((l, c) => [l, probs[c]])), ms: performance.now() - started, batch: 1 }
    }
    const maxNewTokens = req.maxTokens ?? 48
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1 || maxNewTokens > MAX_NEW_TOKENS) throw new InvalidRequestError(`maxTokens must be an integer in 1..${MAX_NEW_TOKENS}`)
    const temperature = req.temperature ?? 0
    if (!Number.isFinite(temperature) || temperature < 0 || temperature > 10) throw new InvalidRequestError('temperature must be in 0..10')
    const prompt = engine.tokenizer.encode(req.prompt)
    // Checked here, not in the batch: one bad request must not fail the others.
    if (prompt.length + maxNewTokens > engine.cfg.context) {
      throw new InvalidRequestError('prompt plus maxTokens exceeds the model context', { promptTokens: prompt.length, maxTokens: maxNewTokens, context: engine.cfg.context })
    }
    // The index (built on first use) is read and built while the answer is generated.
    const datanet = req.explain === true ? adapter?.meta.datanet : undefined
    let indexing: Promise<IndexedVersion> | undefined
    if (datanet != null && this.explainer != null) {
      indexing = this.explainer.index(datanet, baseCid, engine.tokenizer)
      indexing.catch(() => {})
    }
    const { result, batch } = await new Promise<{ result: GenerationResult, batch: number }>((resolve, reject) => {
      engine.queue.push({ request: { prompt, maxNewTokens, adapter: adapter?.params ?? null, temperature, seed: req.seed ?? 0, stopToken: engine.tokenizer.eot }, resolve, reject })
      void this.pump(engine)
    })
    const tokens = Array.from(result.tokens)
    const text = engine.tokenizer.decode(tokens, { skipSpecial: true })
    if (datanet != null && this.explainer != null) {
      const explanation = await this.explainer.explain({ datanet, tokenizerKey: baseCid, tokenizer: engine.tokenizer, answer: tokens, indexed: indexing })
      if (this.gradients != null && adapter != null && req.adapter !== undefined) {
        const answer = tokens.filter(t => !engine.tokenizer.isSpecial(t))
        explanation.gradient = await this.gradients.explain(req.adapter, adapter, model, prompt, answer)
      }
      return { ...common, kind: 'lm', text, tokens, promptTokens: prompt.length, explanation, ms: performance.now() - started, batch }
    }
    return { ...common, kind: 'lm', text, tokens, promptTokens: prompt.length, ms: performance.now() - started, batch }
  }

  /** Fetches and decodes an adapter into the cache, and loads its base, ahead of requests. */
  async preload (cid: string): Promise<{ adapter: string, base: string }> {
    const { adapter, base } = await this.cache.get(cid)
    await this.engine(base, await this.opts.registry.model(base), adapter.meta.lora)
    return { adapter: cid, base }
  }

  stats (): unknown {
    const { loadMs, ...cache } = this.cache.stats()
    const sorted = [...loadMs].sort((a, b) => a - b)
    return { ...this.counters, engines: this.engines.size, adapters: { ...cache, loadMsMedian: sorted[Math.floor(sorted.length / 2)] ?? null }, explain: this.explainer?.stats() ?? null }
  }

  /** Loads a base (and adapter shape) once; later requests share it. */
  private async engine (baseCid: string, model: Model, lora: LoraConfig | null): Promise<LmEngine | ClassifierEngine> {
    const key = `${baseCid}|${lora === null ? 'plain' : `${lora.rank}|${lora.alpha}|${lora.targets.join(',')}`}`
    let p = this.engines.get(key)
    if (p == null) {
      p = this.createEngine(model, lora)
      this.engines.set(key, p)
      p.catch(() => this.engines.delete(key))
    }
    return await p
  }

  private async createEngine (model: Model, lora: LoraConfig | null): Promise<LmEngine | ClassifierEngine> {
    const threads = this.opts.threads
    if (model.meta.kind === 'classifier') {
      const cfg = model.meta.config as ClassifierConfig
      // Without an adapter the adapter graph runs with its update at zero: the base exactly.
      const shape = lora ?? { rank: 1, alpha: 1, targets: ['w2'] }
      return { kind: 'classifier', cfg, labels: model.meta.labels, evaluator: await ClassifierEvaluator.create({ cfg, base: model.params, lora: shape, batch: 1, threads }) }
    }
    const cfg = model.meta.config as LmConfig
    const tokenizer = Tokenizer.fromJSON(model.meta.tokenizer)
    if (tokenizer.vocabSize !== cfg.vocab) throw new ShapeMismatchError('the model\'s tokenizer does not match its vocabulary', { tokenizer: tokenizer.vocabSize, vocab: cfg.vocab })
    const generator = await LmGenerator.create({ cfg, base: model.params, lora: lora ?? undefined, threads })
    return { kind: 'lm', generator, tokenizer, cfg, queue: [], busy: false }
  }

  /** Runs queued requests in batches until the queue is empty; one pump per engine. */
  private async pump (engine: LmEngine): Promise<void> {
    if (engine.busy) return
    engine.busy = true
    try {
      // Let requests that arrive in the same tick join the first batch.
      await new Promise(resolve => setImmediate(resolve))
      while (engine.queue.length > 0) {
        const batch = engine.queue.splice(0, this.opts.maxBatch ?? 32)
        this.counters.batches++
        this.counters.sequences += batch.length
        try {
          const results = await engine.generator.generate(batch.map(p => p.request))
          batch.forEach((p, i) => p.resolve({ result: results[i], batch: batch.length }))
        } catch (err) {
          for (const p of batch) p.reject(err as Error)
        }
      }
    } finally {
      engine.busy = false
    }
  }

  async stop (): Promise<void> {
    await this.gradients?.stop()
    for (const p of this.engines.values()) {
      const e = await p.catch(() => undefined)
      if (e?.kind === 'lm') await e.generator.release()
      if (e?.kind === 'classifier') await e.evaluator.release()
    }
    this.engines.clear()
  }
}
