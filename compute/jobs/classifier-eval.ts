// Held-out evaluation of the text classifier, with or without an adapter: accuracy and
// mean cross-entropy. "No adapter" runs the adapter graph with the update at zero,
// which is exactly the base model.

import { buildClassifierGraph } from '../models/classifier/graphs.ts'
import { classifierParamSpecs, type ClassifierConfig } from '../models/classifier/config.ts'
import { classifierBatch, type ClassifierData } from '../models/classifier/train-step.ts'
import { loraSpecs, type LoraConfig } from '../models/lora.ts'
import { Session } from '../onnx/session.ts'
import { tensor, type ParamSet } from '../tensors/param-set.ts'

export interface ClassifierMetrics {
  accuracy: number
  loss: number
  examples: number
}

export interface ClassifierEvaluatorOptions {
  cfg: ClassifierConfig
  base: ParamSet
  lora: LoraConfig
  batch: number
  threads?: number
}

export class ClassifierEvaluator {
  private readonly session: Session
  private readonly opts: ClassifierEvaluatorOptions
  private readonly logitsName: string

  private constructor (session: Session, opts: ClassifierEvaluatorOptions, logitsName: string) {
    this.session = session
    this.opts = opts
    this.logitsName = logitsName
  }

  static async create (opts: ClassifierEvaluatorOptions): Promise<ClassifierEvaluator> {
    const graph = buildClassifierGraph({ cfg: opts.cfg, batch: opts.batch, mode: { kind: 'lora', base: opts.base, lora: opts.lora }, train: false })
    return new ClassifierEvaluator(await Session.create(graph.model, { threads: opts.threads }), opts, graph.logits)
  }

  /** Class probabilities of every example, [count, classes] row-major. */
  async predict (data: ClassifierData, adapter: ParamSet | null): Promise<Float32Array> {
    const { batch, cfg, lora } = this.opts
    const factors: ParamSet = adapter ?? new Map(loraSpecs(classifierParamSpecs(cfg), lora, new Set(['emb'])).map(s => [s.name, tensor(s.shape)]))
    const probs = new Float32Array(data.count * cfg.classes)
    for (let start = 0; start < data.count; start += batch) {
      const indices = Array.from({ length: Math.min(batch, data.count - start) }, (_, i) => start + i)
      const feeds: Record<string, { data: Float32Array | BigInt64Array, dims: readonly number[] }> = { ...classifierBatch(data, indices, batch) }
      for (const [name, t] of factors) feeds[name] = { data: t.data, dims: t.shape }
      const logits = (await this.session.run(feeds, [this.logitsName]))[this.logitsName].data as Float32Array
      indices.forEach((idx, row) => {
        const r = logits.subarray(row * cfg.classes, (row + 1) * cfg.classes)
        const max = Math.max(...r)
        let sum = 0
        for (const v of r) sum += Math.exp(v - max)
        for (let c = 0; c < cfg.classes; c++) probs[idx * cfg.classes + c] = Math.exp(r[c] - max) / sum
      })
    }
    return probs
  }

  async evaluate (data: ClassifierData, adapter: ParamSet | null): Promise<ClassifierMetrics> {
    const { classes } = this.opts.cfg
    const probs = await this.predict(data, adapter)
    let correct = 0
    let loss = 0
    for (let i = 0; i < data.count; i++) {
      const row = probs.subarray(i * classes, (i + 1) * classes)
      let best = 0
      for (let c = 1; c < classes; c++) if (row[c] > row[best]) best = c
      if (best === data.labels[i]) correct++
      loss -= Math.log(Math.max(row[data.labels[i]], 1e-12))
    }
    return { accuracy: correct / data.count, loss: loss / data.count, examples: data.count }
  }

  async release (): Promise<void> {
    await this.session.release()
  }
}
