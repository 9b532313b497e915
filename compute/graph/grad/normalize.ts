// Softmax, LogSoftmax and LayerNormalization: closed-form backward passes that reuse
// the forward outputs (and LayerNormalization's saved mean and inverse std-dev).

import { exp, mul, reduceMean, reduceSum, sub } from '../ops.ts'
import { normAxis } from '../shapes.ts'
import type { GradRule } from './context.ts'
import { sumToShape } from './sum-to-shape.ts'

function axisOf (attr: unknown, rank: number, op: string): number {
  return normAxis(op, typeof attr === 'number' ? attr : -1, rank)
}

export const softmaxGrad: GradRule = ({ g, node, dy }) => {
  const d = dy[0]
  if (d === undefined) return []
  const y = node.outputs[0]
  const axis = axisOf(node.attrs.axis, g.shape(y).length, node.op)
  // dx = y * (d - sum(d * y))
  return [mul(g, y, sub(g, d, reduceSum(g, mul(g, d, y), [axis])))]
}

export const logSoftmaxGrad: GradRule = ({ g, node, dy }) => {
  const d = dy[0]
  if (d === undefined) return []
  const y = node.outputs[0]
  const axis = axisOf(node.attrs.axis, g.shape(y).length, node.op)
  // dx = d - softmax(x) * sum(d)
  return [sub(g, d, mul(g, exp(g, y), reduceSum(g, d, [axis])))]
}

export const layerNormGrad: GradRule = ({ g, node, dy, needs }) => {
  const d = dy[0]
  if (d === undefined) return []
  const [x, scaleW, bias] = node.inputs
  const rank = g.shape(x).length
  const axis = axisOf(node.attrs.axis, rank, node.op)
  const axes = [...Array(rank - axis).keys()].map(i => axis + i)
  const mean = g.nameOptionalOutput(node, 1, 'ln_mean')
  const invStd = g.nameOptionalOutput(node, 2, 'ln_inv_std')
  const xhat = mul(g, sub(g, x, mean), invStd)
  let dx: string | undefined
  if (needs[0]) {
    const dxhat = mul(g, d, scaleW)
    const m1 = reduceMean(g, dxhat, axes)
    const m2 = reduceMean(g, mul(g, dxhat, xhat), axes)
    dx = mul(g, invStd, sub(g, sub(g, dxhat, m1), mul(g, xhat, m2)))
  }
  const dScale = needs[1] ? sumToShape(g, mul(g, d, xhat), scaleW) : undefined
  const dBias = needs[2] && bias !== undefined && bias !== '' ? sumToShape(g, d, bias) : undefined
  return [dx, dScale, dBias]
}

