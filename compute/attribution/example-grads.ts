// Per-example gradients of the loss with respect to an adapter's LoRA factors, in one
// ORT call per batch: the graph takes the factors as a bank with one copy per example
// ([B, ...], all copies equal), so the gradient of the summed loss with respect to copy
// b is the gradient of example b's loss alone. Attribution (TracIn, DataInf) is built on
// these vectors. For the classifier the embedding table's adapter stays shared (a
// per-example bank of a 16k-row table would not fit); its layers' adapters are banked.
// For the language model every factor is banked and an example is one training window.

import { differentiate } from '../graph/autodiff.ts'
import { Graph } from '../graph/graph.ts'
import { mul, reduceSum } from '../graph/ops.ts'
import { classifierForward, classifierInputs } from '../models/classifier/graphs.ts'
import { classifierParamSpecs, type ClassifierConfig } from '../models/classifier/config.ts'
import { classifierBatch, type ClassifierData } from '../models/classifier/train-step.ts'
import { bindBank, checkLoraConfig, loraSpecs, type LoraConfig } from '../models/lora.ts'
import type { LmConfig } from '../models/lm/config.ts'
import { lmBatch, type LmWindows } from '../models/lm/data.ts'
import { lmWindowNll } from '../models/lm/graphs.ts'
import { lmParamSpecs } from '../models/lm/params.ts'
import { bindParams, type ParamSpec } from '../models/param-spec.ts'
import { Session, type Feed } from '../onnx/session.ts'
import { sizeOf, type ParamSet } from '../tensors/param-set.ts'
import { ShapeMismatchError } from '../errors.ts'

export interface ExampleGradGraph {
  model: Uint8Array
  batch: number
  /** Factors banked per example: the gradient's coordinates, in this order. */
  bank: ParamSpec[]
  /** Factors fed once, not differentiated. */
  shared: ParamSpec[]
  nll: string
  grads: string[]
  /** Length of one example's gradient vector. */
  dims: number
  /** With `bagGrad`: dLoss/dbag per example [B, embed], from which embedding-grads.ts gives the embedding adapter's gradient. */
  bagGrad?: string
}

export function buildClassifierExampleGrads (cfg: ClassifierConfig, base: ParamSet, lora: LoraConfig, batch: number, opts: { bagGrad?: boolean } = {}): ExampleGradGraph {
  checkLoraConfig(lora)
  const g = new Graph('float32')
  const baseSpecs = classifierParamSpecs(cfg)
  const w = bindParams(g, baseSpecs, { trainable: new Set(), values: base })
  const specs = loraSpecs(baseSpecs, lora, new Set(['emb']))
  const shared = specs.filter(s => s.name.startsWith('emb.'))
  const bank = specs.filter(s => !s.name.startsWith('emb.'))
  if (bank.length === 0) throw new ShapeMismatchError('attribution needs an adapter on at least one layer (w1 or w2)', { targets: lora.targets })
  const scale = lora.alpha / lora.rank
  const sharedValues = bindParams(g, shared, { trainable: new Set(shared.map(s => s.name)) })
  const bankValues = bindBank(g, bank, batch)
  const inputs = classifierInputs(g, cfg, batch)
  const { nll, bag } = classifierForward(g, w, inputs, { kind: 'shared', scale, values: sharedValues }, { kind: 'banked', scale, values: bankValues })
  const loss = reduceSum(g, mul(g, nll, inputs.mask), [], false)
  const bagGrad = opts.bagGrad === true && shared.length > 0
  const gradMap = differentiate(g, loss, [...bank.map(s => s.name), ...(bagGrad ? [bag] : [])])
  const grads = bank.map(s => gradMap.get(s.name) as string)
  const bagOut = bagGrad ? gradMap.get(bag) as string : undefined
  g.output(nll, ...grads, ...(bagOut !== undefined ? [bagOut] : []))
  return { model: g.toModel({ name: 'classifier_example_grads' }), batch, bank, shared, nll, grads, dims: bank.reduce((n, s) => n + sizeOf(s.shape), 0), ...(bagOut !== undefined ? { bagGrad: bagOut } : {}) }
}

/** The language model's per-window gradients: every LoRA factor banked ([B, ...]). */
export function buildLmExampleGrads (cfg: LmConfig, base: ParamSet, lora: LoraConfig, batch: number, seq: number): ExampleGradGraph {
  checkLoraConfig(lora)
  const g = new Graph('float32')
  const baseSpecs = lmParamSpecs(cfg)
  const w = bindParams(g, baseSpecs, { trainable: new Set(), values: base })
  const bank = loraSpecs(baseSpecs, lora)
  const { nll: tokenNll } = lmWindowNll(g, cfg, w, batch, seq, { kind: 'banked', scale: lora.alpha / lora.rank, values: bindBank(g, bank, batch) })
  // A window's loss is the sum over its target tokens (mask already applied).
  const nll = reduceSum(g, tokenNll, [1], false)
  const gradMap = differentiate(g, reduceSum(g, nll, [], false), bank.map(s => s.name))
  const grads = bank.map(s => gradMap.get(s.name) as string)
  g.output(nll, ...grads)
  return { model: g.toModel({ name: 'lm_example_grads' }), batch, bank, shared: [], nll, grads, dims: bank.reduce((n, s) => n + sizeOf(s.shape), 0) }
}

export class ExampleGradients {
  readonly graph: ExampleGradGraph
  private readonly session: Session

  private constructor (graph: ExampleGradGraph, session: Session) {
    this.graph = graph
    this.session = session
  }

  /** `optimize: false` swaps ORT's fused kernels for plain ones (a stand-in for another CPU's, in tolerance measurements). */
  static async create (graph: ExampleGradGraph, threads?: number, optimize?: boolean): Promise<ExampleGradients> {
    // On the CPU whatever the peer's device: attribution scores are checked as a CPU
    // computes them (compute/verify/attribution.ts), not yet across devices.
    return new ExampleGradients(graph, await Session.create(graph.model, { threads, optimize, device: 'cpu' }))
  }

  /**
   * Gradient vectors of `rows` examples (the first rows of `feeds`, padded to the graph's
   * batch) at these adapter values: [rows * dims], row-major; and each example's loss.
   */
  async run (adapter: ParamSet, feeds: Record<string, Feed>, rows: number): Promise<{ grads: Float32Array, losses: Float32Array, bag?: Float32Array }> {
    const { batch, bank, shared, dims } = this.graph
    const all: Record<string, Feed> = { ...feeds }
    for (const s of shared) all[s.name] = { data: tensorOf(adapter, s).data, dims: s.shape }
    for (const s of bank) {
      const t = tensorOf(adapter, s)
      const data = new Float32Array(batch * t.data.length)
      for (let b = 0; b < batch; b++) data.set(t.data, b * t.data.length)
      all[s.name] = { data, dims: [batch, ...s.shape] }
    }
    const out = await this.session.run(all)
    const grads = new Float32Array(rows * dims)
    let offset = 0
    bank.forEach((s, i) => {
      const size = sizeOf(s.shape)
      const data = out[this.graph.grads[i]].data as Float32Array
      for (let r = 0; r < rows; r++) grads.set(data.subarray(r * size, (r + 1) * size), r * dims + offset)
      offset += size
    })
    const losses = Float32Array.from((out[this.graph.nll].data as Float32Array).subarray(0, rows))
    if (this.graph.bagGrad === undefined) return { grads, losses }
    const bag = out[this.graph.bagGrad].data as Float32Array
    return { grads, losses, bag: Float32Array.from(bag.subarray(0, bag.length / batch * rows)) }
  }

  /** Gradients of every example of a classifier dataset, in order: [count * dims]. */
  async classifier (adapter: ParamSet, data: ClassifierData): Promise<{ grads: Float32Array, losses: Float32Array }> {
    const { batch, dims } = this.graph
    const grads = new Float32Array(data.count * dims)
    const losses = new Float32Array(data.count)
    for (let start = 0; start < data.count; start += batch) {
      const indices = Array.from({ length: Math.min(batch, data.count - start) }, (_, i) => start + i)
      const r = await this.run(adapter, classifierBatch(data, indices, batch), indices.length)
      grads.set(r.grads, start * dims)
      losses.set(r.losses, start)
    }
    return { grads, losses }
  }

  /** Streams the gradients of the language-model windows at `indices` a batch at a time. */
  async lmWindows (adapter: ParamSet, windows: LmWindows, indices: readonly number[], onBatch: (grads: Float32Array, rows: number, start: number, losses: Float32Array) => void): Promise<void> {
    const { batch } = this.graph
    const dims = [batch, windows.seq]
    for (let start = 0; start < indices.length; start += batch) {
      const rows = indices.slice(start, start + batch)
      const b = lmBatch(windows, rows, batch)
      const r = await this.run(adapter, { tokens: { data: b.tokens, dims }, targets: { data: b.targets, dims }, mask: { data: b.mask, dims } }, rows.length)
      onBatch(r.grads, rows.length, start, r.losses)
    }
  }

  async release (): Promise<void> {
    await this.session.release()
  }
}

function tensorOf (adapter: ParamSet, spec: ParamSpec) {
  const t = adapter.get(spec.name)
  if (t === undefined || t.data.length !== sizeOf(spec.shape)) throw new ShapeMismatchError(`adapter has no ${spec.name} of shape ${spec.shape.join('x')}`, { name: spec.name })
  return t
}
