// Elementwise operators. Binary ones broadcast, so each operand's gradient is summed
// back to that operand's shape.

import { NoGradientError } from '../../errors.ts'
import { div, exp, mul, neg, pow, scale, sub, where } from '../ops.ts'
import type { GradRule } from './context.ts'
import { sumToShape } from './sum-to-shape.ts'

export const addGrad: GradRule = ({ g, node, dy, needs }) => {
  const d = dy[0]
  if (d === undefined) return []
  return node.inputs.map((x, i) => needs[i] ? sumToShape(g, d, x) : undefined)
}

export const subGrad: GradRule = ({ g, node, dy, needs }) => {
  const [a, b] = node.inputs
  const d = dy[0]
  if (d === undefined) return []
  return [needs[0] ? sumToShape(g, d, a) : undefined, needs[1] ? sumToShape(g, neg(g, d), b) : undefined]
}

export const mulGrad: GradRule = ({ g, node, dy, needs }) => {
  const [a, b] = node.inputs
  const d = dy[0]
  if (d === undefined) return []
  return [needs[0] ? sumToShape(g, mul(g, d, b), a) : undefined, needs[1] ? sumToShape(g, mul(g, d, a), b) : undefined]
}

export const divGrad: GradRule = ({ g, node, dy, needs }) => {
  const [a, b] = node.inputs
  const y = node.outputs[0]
  const d = dy[0]
  if (d === undefined) return []
  // y = a / b: da = d / b, db = -d * a / b^2 = -d * y / b
  return [
    needs[0] ? sumToShape(g, div(g, d, b), a) : undefined,
    needs[1] ? sumToShape(g, neg(g, div(g, mul(g, d, y), b)), b) : undefined
  ]
}

export const powGrad: GradRule = ({ g, node, dy, needs }) => {
  const [x, p] = node.inputs
  const d = dy[0]
  if (d === undefined) return []
  if (needs[1]) throw new NoGradientError('Pow: gradient with respect to the exponent is not supported', { exponent: p })
  // d/dx x^p = p x^(p-1)
  const dx = mul(g, d, mul(g, p, pow(g, x, sub(g, p, g.scalar(1)))))
  return [sumToShape(g, dx, x), undefined]
}

export const sumGrad: GradRule = addGrad

export const negGrad: GradRule = ({ g, dy }) => [dy[0] === undefined ? undefined : neg(g, dy[0])]
export const identityGrad: GradRule = ({ dy }) => [dy[0]]
export const expGrad: GradRule = ({ g, node, dy }) => [dy[0] === undefined ? undefined : mul(g, dy[0], node.outputs[0])]
export const logGrad: GradRule = ({ g, node, dy }) => [dy[0] === undefined ? undefined : div(g, dy[0], node.inputs[0])]
export const sqrtGrad: GradRule = ({ g, node, dy }) => [dy[0] === undefined ? undefined : div(g, scale(g, dy[0], 0.5), node.outputs[0])]
export const reciprocalGrad: GradRule = ({ g, node, dy }) => {
  const y = node.outputs[0]
  return [dy[0] === undefined ? undefined : neg(g, mul(g, dy[0], mul(g, y, y)))]
}
export const tanhGrad: GradRule = ({ g, node, dy }) => {
  const y = node.outputs[0]
  return [dy[0] === undefined ? undefined : mul(g, dy[0], sub(g, g.scalar(1), mul(g, y, y)))]
}
export const sigmoidGrad: GradRule = ({ g, node, dy }) => {
  const y = node.outputs[0]
  return [dy[0] === undefined ? undefined : mul(g, dy[0], mul(g, y, sub(g, g.scalar(1), y)))]
}
export const reluGrad: GradRule = ({ g, node, dy }) => {
  const d = dy[0]
  if (d === undefined) return []
  const positive = g.op('Greater', [node.inputs[0], g.scalar(0)])
  return [where(g, positive, d, g.scalar(0))]
}
export const erfGrad: GradRule = ({ g, node, dy }) => {
  const d = dy[0]
  if (d === undefined) return []
  const x = node.inputs[0]
  return [mul(g, d, scale(g, exp(g, neg(g, mul(g, x, x))), 2 / Math.sqrt(Math.PI)))]
}

export const whereGrad: GradRule = ({ g, node, dy, needs }) => {
  const [cond, a, b] = node.inputs
  const d = dy[0]
  if (d === undefined) return []
  const zero = g.scalar(0)
  return [
    undefined,
    needs[1] ? sumToShape(g, where(g, cond, d, zero), a) : undefined,
    needs[2] ? sumToShape(g, where(g, cond, zero, d), b) : undefined
  ]
}

export const castGrad: GradRule = ({ g, node, dy }) => {
  const d = dy[0]
  const from = g.info(node.inputs[0]).type
  if (d === undefined || (from !== 'float32' && from !== 'float64')) return []
  return [from === g.info(d).type ? d : g.op('Cast', [d], { to: from === 'float32' ? 1 : 11 })]
}

/** Operators through which no gradient flows (comparisons, shapes, integer work). */
export const noGrad: GradRule = () => []
