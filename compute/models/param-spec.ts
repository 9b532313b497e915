// What a model's parameters are (names, shapes, how to initialise them) and how they
// enter a graph: trainable ones as graph inputs (fed each step, differentiated),
// frozen ones as constants baked into the session (loaded once).

import { ShapeMismatchError } from '../errors.ts'
import type { Graph } from '../graph/graph.ts'
import { Rng } from '../random.ts'
import { tensor, type ParamSet } from '../tensors/param-set.ts'

export type Init = { kind: 'normal', std: number } | { kind: 'zeros' } | { kind: 'ones' }

export interface ParamSpec {
  name: string
  shape: readonly number[]
  init: Init
  /** Weight decay applies (matrices yes; norms and biases no). */
  decay: boolean
}

export function initParams (specs: readonly ParamSpec[], seed: number): ParamSet {
  const rng = new Rng(seed)
  const params: ParamSet = new Map()
  for (const spec of specs) {
    const t = tensor(spec.shape)
    if (spec.init.kind === 'ones') t.data.fill(1)
    else if (spec.init.kind === 'normal') for (let i = 0; i < t.data.length; i++) t.data[i] = rng.normal() * spec.init.std
    params.set(spec.name, t)
  }
  return params
}

/**
 * Puts parameters into a graph. Names in `trainable` become float inputs; all others
 * become constants from `values`. Returns parameter name -> graph value name.
 */
export function bindParams (g: Graph, specs: readonly ParamSpec[], opts: { trainable: ReadonlySet<string>, values?: ParamSet }): Map<string, string> {
  const bound = new Map<string, string>()
  for (const spec of specs) {
    if (opts.trainable.has(spec.name)) {
      bound.set(spec.name, g.input(spec.name, spec.shape))
      continue
    }
    const t = opts.values?.get(spec.name)
    if (t === undefined) throw new ShapeMismatchError(`no value for frozen parameter ${spec.name}`, { name: spec.name })
    if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
      throw new ShapeMismatchError(`${spec.name} has the wrong shape`, { name: spec.name, expected: spec.shape, actual: t.shape })
    }
    bound.set(spec.name, g.constant(g.float === 'float64' ? Float64Array.from(t.data) : t.data, spec.shape, { name: spec.name }))
  }
  return bound
}
