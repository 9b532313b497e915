// Operators that move values without computing on them: the gradient moves back the
// same way (transpose back, reshape back, scatter-add what was gathered).

import { NoGradientError } from '../../errors.ts'
import { normAxis } from '../shapes.ts'
import { reshape, shapeOf, transpose, unsqueeze, zerosLike } from '../ops.ts'
import type { GradRule } from './context.ts'
import { sumToShape } from './sum-to-shape.ts'

export const transposeGrad: GradRule = ({ g, node, dy }) => {
  const d = dy[0]
  if (d === undefined) return []
  const rank = g.shape(node.inputs[0]).length
  const perm = (node.attrs.perm as number[] | undefined) ?? [...Array(rank).keys()].reverse()
  const inverse: number[] = []
  perm.forEach((p, i) => { inverse[p] = i })
  return [transpose(g, d, inverse)]
}

/** Reshape, Squeeze, Unsqueeze: same elements, old shape. */
export const reshapeLikeGrad: GradRule = ({ g, node, dy }) => {
  const d = dy[0]
  if (d === undefined) return []
  const x = node.inputs[0]
  const shape = g.shape(x)
  const target = shape.every(s => typeof s === 'number') ? g.ints(shape as number[]) : shapeOf(g, x)
  return [g.op('Reshape', [d, target])]
}

export const expandGrad: GradRule = ({ g, node, dy }) => {
  const d = dy[0]
  return d === undefined ? [] : [sumToShape(g, d, node.inputs[0])]
}

export const concatGrad: GradRule = ({ g, node, dy, needs }) => {
  const d = dy[0]
  if (d === undefined) return []
  const rank = g.shape(node.inputs[0]).length
  const axis = normAxis('Concat', typeof node.attrs.axis === 'number' ? node.attrs.axis : 0, rank)
  const sizes = node.inputs.map(x => g.shape(x)[axis])
  if (!sizes.every(s => typeof s === 'number')) throw new NoGradientError('Concat gradient needs static sizes on the concat axis', { sizes })
  const parts = g.node('Split', [d, g.ints(sizes as number[])], { axis }, { outputs: sizes.length })
  return parts.map((p, i) => needs[i] ? p : undefined)
}

export const sliceGrad: GradRule = ({ g, node, dy }) => {
  const d = dy[0]
  if (d === undefined) return []
  const [x, startsName, endsName, axesName, stepsName] = node.inputs
  const shape = g.shape(x)
  const starts = g.constantInts(startsName)
  const ends = g.constantInts(endsName)
  const axes = axesName !== undefined && axesName !== '' ? g.constantInts(axesName) : starts?.map((_, i) => i)
  const steps = stepsName !== undefined && stepsName !== '' ? g.constantInts(stepsName) : starts?.map(() => 1)
  if (starts === undefined || ends === undefined || axes === undefined || steps === undefined || steps.some(s => s !== 1)) {
    throw new NoGradientError('Slice gradient needs constant starts/ends and step 1')
  }
  const pads = new Array<number>(shape.length * 2).fill(0)
  axes.forEach((a, i) => {
    const axis = normAxis('Slice', a, shape.length)
    const dim = shape[axis]
    if (typeof dim !== 'number') throw new NoGradientError('Slice gradient needs a static dim on sliced axes')
    const begin = Math.min(Math.max(starts[i] < 0 ? starts[i] + dim : starts[i], 0), dim)
    const end = Math.min(Math.max(ends[i] < 0 ? ends[i] + dim : ends[i], 0), dim)
    pads[axis] = begin
    pads[axis + shape.length] = dim - Math.max(end, begin)
  })
  return [g.op('Pad', [d, g.ints(pads)], { mode: 'constant' })]
}

/** Gather along axis 0 (embeddings, adapter banks): scatter-add rows back. */
export const gatherGrad: GradRule = ({ g, node, dy, needs }) => {
  const d = dy[0]
  if (d === undefined || !needs[0]) return []
  const [data, indices] = node.inputs
  const axis = typeof node.attrs.axis === 'number' ? node.attrs.axis : 0
  if (normAxis('Gather', axis, g.shape(data).length) !== 0) throw new NoGradientError('Gather gradient supports axis 0 only', { axis })
  const rest = g.shape(data).slice(1)
  if (!rest.every(s => typeof s === 'number')) throw new NoGradientError('Gather gradient needs static row shape', { shape: g.shape(data) })
  let idx = indices
  if (g.info(idx).type !== 'int64') idx = g.op('Cast', [idx], { to: 7 })
  const flatIdx = unsqueeze(g, reshape(g, idx, [-1]), [1])
  const updates = reshape(g, d, [-1, ...(rest as number[])])
  return [g.op('ScatterND', [zerosLike(g, data), flatIdx, updates], { reduction: 'add' })]
}

export const gatherElementsGrad: GradRule = ({ g, node, dy, needs }) => {
  const d = dy[0]
  if (d === undefined || !needs[0]) return []
  const [data, indices] = node.inputs
  const axis = typeof node.attrs.axis === 'number' ? node.attrs.axis : 0
  return [g.op('ScatterElements', [zerosLike(g, data), indices, d], { axis, reduction: 'add' })]
}
