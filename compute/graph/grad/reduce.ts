// Reductions: every input element that fed a sum gets the sum's gradient (divided by
// the count for a mean).

import { NoGradientError } from '../../errors.ts'
import { normAxis } from '../shapes.ts'
import { scale, shapeOf, unsqueeze } from '../ops.ts'
import type { Graph, Node } from '../graph.ts'
import type { GradRule } from './context.ts'

function broadcastBack (g: Graph, node: Node, d: string): { grad: string, axes: number[] } {
  const x = node.inputs[0]
  const rank = g.shape(x).length
  const given = node.inputs[1] !== undefined && node.inputs[1] !== '' ? g.constantInts(node.inputs[1]) : []
  if (given === undefined) throw new NoGradientError(`${node.op} gradient needs constant axes`)
  if (given.length === 0 && node.attrs.noop_with_empty_axes === 1) return { grad: d, axes: [] }
  const axes = (given.length === 0 ? [...Array(rank).keys()] : given.map(a => normAxis(node.op, a, rank))).sort((a, b) => a - b)
  const kept = node.attrs.keepdims === 0 ? unsqueeze(g, d, axes) : d
  return { grad: g.op('Expand', [kept, shapeOf(g, x)]), axes }
}

export const reduceSumGrad: GradRule = ({ g, node, dy }) => {
  const d = dy[0]
  return d === undefined ? [] : [broadcastBack(g, node, d).grad]
}

export const reduceMeanGrad: GradRule = ({ g, node, dy }) => {
  const d = dy[0]
  if (d === undefined) return []
  const { grad, axes } = broadcastBack(g, node, d)
  const shape = g.shape(node.inputs[0])
  let count = 1
  for (const a of axes) {
    const dim = shape[a]
    if (typeof dim !== 'number') throw new NoGradientError('ReduceMean gradient needs static reduced dims')
    count *= dim
  }
  return [count === 1 ? grad : scale(g, grad, 1 / count)]
}
