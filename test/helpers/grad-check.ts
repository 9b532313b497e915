// Gradient checking: autodiff's gradient of sum(out * R) (R a fixed random tensor)
// against central finite differences, in float64 so the comparison is tight.

import assert from 'node:assert/strict'
import { Graph } from '../../compute/graph/graph.ts'
import { differentiate } from '../../compute/graph/autodiff.ts'
import { mul, reduceSum } from '../../compute/graph/ops.ts'
import { Session, type Feed } from '../../compute/onnx/session.ts'
import { Rng } from '../../compute/random.ts'

export interface GradCase {
  /** Declares inputs with g.input and builds the forward part; returns its output. */
  build: (g: Graph) => string
  /** Values for every input; float inputs listed in `params` are differentiated. */
  feeds: Record<string, Feed>
  params: string[]
  /** At most this many elements per parameter are perturbed (spread evenly). */
  maxChecks?: number
  /**
   * For operators onnxruntime has no float64 kernel for (LayerNormalization): the
   * gradient is taken in float32 from `build`, and the finite differences in float64
   * from this composite reference of the same function.
   */
  reference?: (g: Graph) => string
}

export function randomFeed (rng: Rng, dims: number[], opts: { min?: number, max?: number } = {}): Feed {
  const { min = -1, max = 1 } = opts
  const n = dims.reduce((a, b) => a * b, 1)
  return { data: Float64Array.from({ length: n }, () => min + (max - min) * rng.uniform()), dims }
}

function lossGraph (float: 'float32' | 'float64', build: (g: Graph) => string): { g: Graph, loss: string } {
  const g = new Graph(float)
  const out = build(g)
  const shape = g.shape(out)
  if (!shape.every(d => typeof d === 'number')) throw new Error('grad-check outputs need static shapes')
  const rng = new Rng(0xc0ffee)
  const count = (shape as number[]).reduce((a, b) => a * b, 1)
  const weights = g.constant(g.floats(Array.from({ length: count }, () => rng.uniform() * 2 - 1)), shape as number[])
  return { g, loss: reduceSum(g, mul(g, out, weights), [], false) }
}

export async function checkGradients (c: GradCase): Promise<{ maxAbsError: number, checked: number }> {
  const { g, loss } = lossGraph(c.reference === undefined ? 'float64' : 'float32', c.build)
  const grads = differentiate(g, loss, c.params)
  g.output(loss, ...c.params.map(p => grads.get(p) as string))
  const session = await Session.create(g.toModel(), { threads: 1 })
  const ref = c.reference === undefined ? undefined : lossGraph('float64', c.reference)
  ref?.g.output(ref.loss)
  const refSession = ref === undefined ? session : await Session.create(ref.g.toModel(), { threads: 1 })
  const refLoss = ref?.loss ?? loss
  const tolerance = c.reference === undefined ? 1e-6 : 1e-4
  try {
    const asFloat32 = (feeds: Record<string, Feed>) => Object.fromEntries(Object.entries(feeds).map(([k, v]) =>
      [k, v.data instanceof Float64Array ? { data: Float32Array.from(v.data), dims: v.dims } : v]))
    const result = await session.run(c.reference === undefined ? c.feeds : asFloat32(c.feeds))
    const lossOf = async (feeds: Record<string, Feed>) => Number((await refSession.run(feeds, [refLoss]))[refLoss].data[0])
    let maxAbsError = 0
    let checked = 0
    for (const p of c.params) {
      const analytic = result[grads.get(p) as string].data as Float64Array | Float32Array
      const base = c.feeds[p].data as Float64Array
      assert.equal(analytic.length, base.length, `gradient of ${p} has the parameter's size`)
      const step = Math.max(1, Math.floor(base.length / (c.maxChecks ?? 40)))
      for (let i = 0; i < base.length; i += step) {
        const h = 1e-6
        const plus = Float64Array.from(base)
        plus[i] += h
        const minus = Float64Array.from(base)
        minus[i] -= h
        const numeric = (await lossOf({ ...c.feeds, [p]: { data: plus, dims: c.feeds[p].dims } }) -
          await lossOf({ ...c.feeds, [p]: { data: minus, dims: c.feeds[p].dims } })) / (2 * h)
        const err = Math.abs(analytic[i] - numeric)
        assert.ok(err <= tolerance * (1 + Math.abs(numeric)), `d/d${p}[${i}]: autodiff ${analytic[i]} vs finite difference ${numeric}`)
        maxAbsError = Math.max(maxAbsError, err)
        checked++
      }
    }
    return { maxAbsError, checked }
  } finally {
    await session.release()
    if (refSession !== session) await refSession.release()
  }
}

/**
 * Finite-difference check of a whole float64 model graph (a model's step graph): the
 * gradient outputs for `names` against central differences of its scalar loss.
 */
export async function checkGraphGradients (float64Graph: { model: Uint8Array, loss: string, grads: Map<string, string> }, feeds: Record<string, Feed>, names: string[]): Promise<number> {
  const s = await Session.create(float64Graph.model, { threads: 1 })
  try {
    const out = await s.run(feeds)
    let checked = 0
    for (const name of names) {
      const analytic = out[float64Graph.grads.get(name) as string].data as Float64Array
      const base = feeds[name].data as Float64Array
      const step = Math.max(1, Math.floor(base.length / 6))
      for (let i = 0; i < base.length; i += step) {
        const at = async (delta: number) => {
          const d = Float64Array.from(base)
          d[i] += delta
          return Number((await s.run({ ...feeds, [name]: { data: d, dims: feeds[name].dims } }, [float64Graph.loss]))[float64Graph.loss].data[0])
        }
        const numeric = (await at(1e-6) - await at(-1e-6)) / 2e-6
        assert.ok(Math.abs(numeric - analytic[i]) <= 1e-6 * (1 + Math.abs(numeric)), `${name}[${i}]: ${analytic[i]} vs ${numeric}`)
        checked++
      }
    }
    return checked
  } finally {
    await s.release()
  }
}
