// Reverse-mode differentiation of an ONNX graph, as more ONNX nodes: the backward pass
// is appended to the same graph, so one InferenceSession computes the loss and the
// gradients (onnxruntime-node has no training API). Only nodes that lie between a
// parameter and the loss are differentiated.

import { NoGradientError } from '../errors.ts'
import type { Graph } from './graph.ts'
import { GRAD_RULES } from './grad/rules.ts'
import { shapeOf, zerosLike } from './ops.ts'

export interface DifferentiateOptions {
  /**
   * A graph input holding dLoss/dLoss (same shape as the loss), for callers that scale
   * or mask the loss at run time; by default the seed is the constant 1.
   */
  seed?: string
}

/** Appends the backward pass; returns the gradient's value name for each parameter. */
export function differentiate (g: Graph, loss: string, params: readonly string[], opts: DifferentiateOptions = {}): Map<string, string> {
  const lossInfo = g.info(loss)
  if (lossInfo.type !== g.float) throw new NoGradientError('loss must be a float tensor', { loss, type: lossInfo.type })
  for (const p of params) {
    const type = g.info(p).type
    if (type !== g.float) throw new NoGradientError('parameters must be float tensors', { param: p, type })
  }

  // Values that depend on a parameter (forward reachability).
  const forward = g.nodes.slice() // the backward pass appends to g.nodes; walk only the forward part
  const live = new Set(params)
  for (const node of forward) {
    if (node.inputs.some(i => live.has(i))) for (const o of node.outputs) if (o !== '') live.add(o)
  }
  if (!live.has(loss)) throw new NoGradientError('loss does not depend on any parameter', { loss })

  const contributions = new Map<string, string[]>()
  const push = (name: string, grad: string) => {
    const list = contributions.get(name)
    if (list === undefined) contributions.set(name, [grad])
    else list.push(grad)
  }
  const total = (name: string): string | undefined => {
    const list = contributions.get(name)
    if (list === undefined || list.length === 0) return undefined
    if (list.length === 1) return list[0]
    const summed = g.op('Sum', list, {}, 'grad_sum')
    contributions.set(name, [summed])
    return summed
  }

  const seed = opts.seed ?? (lossInfo.shape.length === 0 ? g.scalar(1) : g.op('Expand', [g.scalar(1), shapeOf(g, loss)]))
  push(loss, seed)

  for (let n = forward.length - 1; n >= 0; n--) {
    const node = forward[n]
    if (!node.outputs.some(o => contributions.has(o))) continue
    const needs = node.inputs.map(i => i !== '' && live.has(i) && g.info(i).type === g.float)
    if (!needs.some(Boolean)) continue
    const rule = GRAD_RULES[node.op]
    if (rule === undefined) throw new NoGradientError(`no gradient rule for operator ${node.op}`, { op: node.op })
    const dy = node.outputs.map(o => (o === '' ? undefined : total(o)))
    const dx = rule({ g, node, dy, needs })
    node.inputs.forEach((input, i) => {
      const grad = dx[i]
      if (needs[i] && grad !== undefined) push(input, grad)
    })
  }

  const grads = new Map<string, string>()
  for (const p of params) grads.set(p, total(p) ?? zerosLike(g, p))
  return grads
}
