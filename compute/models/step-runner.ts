// Runs a model's step graph as the trainer's step function: feeds the trainable
// parameters and a batch, returns the loss and the gradients as named tensors.

import { Session, type Feed, type SessionOptions } from '../onnx/session.ts'
import type { ParamSet } from '../tensors/param-set.ts'
import type { ParamSpec } from './param-spec.ts'

export interface StepGraph {
  model: Uint8Array
  trainable: ParamSpec[]
  loss: string
  grads: Map<string, string>
}

export interface StepResult {
  loss: number
  grads: ParamSet
  /** Examples (or tokens) that counted in this loss. */
  examples: number
}

export class StepRunner {
  readonly graph: StepGraph
  readonly session: Session

  private constructor (graph: StepGraph, session: Session) {
    this.graph = graph
    this.session = session
  }

  static async create (graph: StepGraph, opts: SessionOptions = {}): Promise<StepRunner> {
    return new StepRunner(graph, await Session.create(graph.model, opts))
  }

  /** `batch` supplies the data feeds; `params` the trainable tensors. */
  async run (params: ParamSet, batch: Record<string, Feed>, examples: number): Promise<StepResult> {
    const feeds: Record<string, Feed> = { ...batch }
    for (const spec of this.graph.trainable) {
      const t = params.get(spec.name)
      if (t === undefined) throw new Error(`missing trainable parameter ${spec.name}`)
      feeds[spec.name] = { data: t.data, dims: spec.shape }
    }
    const out = await this.session.run(feeds)
    const grads: ParamSet = new Map()
    for (const spec of this.graph.trainable) {
      grads.set(spec.name, { shape: spec.shape, data: out[this.graph.grads.get(spec.name) as string].data as Float32Array })
    }
    return { loss: Number(out[this.graph.loss].data[0]), grads, examples }
  }

  async release (): Promise<void> {
    await this.session.release()
  }
}

/**
 * A step's loss and gradients times `s`, in place: a batch with masked rows renormalised
 * to its full size (the graphs divide by the rows that count; mask-LOO divides by all).
 */
export function scaleStep (r: StepResult, s: number): StepResult {
  for (const g of r.grads.values()) for (let i = 0; i < g.data.length; i++) g.data[i] *= s
  return { ...r, loss: r.loss * s }
}
