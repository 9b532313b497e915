// Broadcasting in the forward pass means summing in the backward pass: the gradient of
// a broadcast operand is the output gradient summed over the axes it was stretched on.

import { NoGradientError } from '../../errors.ts'
import type { Graph } from '../graph.ts'
import { reduceSum, squeeze } from '../ops.ts'

export function sumToShape (g: Graph, grad: string, target: string): string {
  const from = g.shape(grad)
  const to = g.shape(target)
  const lead = from.length - to.length
  if (lead < 0) throw new NoGradientError('gradient has lower rank than its operand', { grad: from, operand: to })
  const axes: number[] = []
  for (let i = 0; i < lead; i++) axes.push(i)
  to.forEach((d, i) => {
    const f = from[lead + i]
    if (d === f) return
    if (d === 1) axes.push(lead + i)
    else throw new NoGradientError('cannot sum gradient back to operand shape', { grad: from, operand: to })
  })
  if (axes.length === 0) return grad
  const summed = reduceSum(g, grad, axes, true)
  return lead > 0 ? squeeze(g, summed, axes.slice(0, lead)) : summed
}
