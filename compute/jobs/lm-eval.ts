// Held-out evaluation of the language model, with or without an adapter: mean
// negative log-likelihood per token and perplexity over every window of the texts.
// It runs the adapter graph with B = 0 for "no adapter", which is exactly the base
// model (a fresh LoRA update is zero), so before and after share one graph.

import { buildLmStepGraph } from '../models/lm/graphs.ts'
import { lmBatch, windowsOf } from '../models/lm/data.ts'
import type { LmConfig } from '../models/lm/config.ts'
import { loraSpecs, type LoraConfig } from '../models/lora.ts'
import { lmParamSpecs } from '../models/lm/params.ts'
import { Session } from '../onnx/session.ts'
import { tensor, type ParamSet } from '../tensors/param-set.ts'
import type { TextTokenizer } from './text-tokenizer.ts'

export interface LmMetrics {
  /** Mean negative log-likelihood per predicted token (nats). */
  loss: number
  perplexity: number
  tokens: number
}

export interface LmEvaluatorOptions {
  cfg: LmConfig
  base: ParamSet
  lora: LoraConfig
  batch: number
  seq: number
  threads?: number
}

export class LmEvaluator {
  private readonly session: Session
  private readonly opts: LmEvaluatorOptions
  private readonly nllName: string

  private constructor (session: Session, opts: LmEvaluatorOptions, nllName: string) {
    this.session = session
    this.opts = opts
    this.nllName = nllName
  }

  static async create (opts: LmEvaluatorOptions): Promise<LmEvaluator> {
    const graph = buildLmStepGraph({ cfg: opts.cfg, batch: opts.batch, seq: opts.seq, mode: { kind: 'lora', base: opts.base, lora: opts.lora }, train: false })
    return new LmEvaluator(await Session.create(graph.model, { threads: opts.threads }), opts, graph.nll)
  }

  /** `adapter` null: the base model alone. */
  async evaluate (texts: readonly string[], tokenizer: TextTokenizer, adapter: ParamSet | null): Promise<LmMetrics> {
    const { batch, seq, cfg, lora } = this.opts
    const windows = windowsOf(texts.map(t => tokenizer.encode(t)), { seq, eot: tokenizer.eot, pad: tokenizer.pad })
    const factors: ParamSet = adapter ?? new Map(loraSpecs(lmParamSpecs(cfg), lora).map(s => [s.name, tensor(s.shape)]))
    let nll = 0
    let tokens = 0
    for (let start = 0; start < windows.count; start += batch) {
      const indices = Array.from({ length: Math.min(batch, windows.count - start) }, (_, i) => start + i)
      const b = lmBatch(windows, indices, batch)
      const feeds: Record<string, { data: Float32Array | BigInt64Array, dims: readonly number[] }> = {
        tokens: { data: b.tokens, dims: [batch, seq] },
        targets: { data: b.targets, dims: [batch, seq] },
        mask: { data: b.mask, dims: [batch, seq] }
      }
      for (const [name, t] of factors) feeds[name] = { data: t.data, dims: t.shape }
      const out = await this.session.run(feeds, [this.nllName])
      for (const v of out[this.nllName].data as Float32Array) nll += v
      tokens += b.count
    }
    const loss = nll / Math.max(1, tokens)
    return { loss, perplexity: Math.exp(loss), tokens }
  }

  async release (): Promise<void> {
    await this.session.release()
  }
}
