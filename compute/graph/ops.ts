// Small builders over Graph.node for the operators models and gradient rules use, so
// graph code reads like the maths: `add(g, matmul(g, x, w), b)`.

import type { ElementType } from '../onnx/model-proto.ts'
import { floatAttribute } from '../onnx/model-proto.ts'
import type { Graph } from './graph.ts'
import { codeOfElementType } from './shapes.ts'

type V = string

export const matmul = (g: Graph, a: V, b: V): V => g.op('MatMul', [a, b])
export const add = (g: Graph, a: V, b: V): V => g.op('Add', [a, b])
export const sub = (g: Graph, a: V, b: V): V => g.op('Sub', [a, b])
export const mul = (g: Graph, a: V, b: V): V => g.op('Mul', [a, b])
export const div = (g: Graph, a: V, b: V): V => g.op('Div', [a, b])
export const pow = (g: Graph, a: V, b: V): V => g.op('Pow', [a, b])
export const neg = (g: Graph, x: V): V => g.op('Neg', [x])
export const exp = (g: Graph, x: V): V => g.op('Exp', [x])
export const log = (g: Graph, x: V): V => g.op('Log', [x])
export const sqrt = (g: Graph, x: V): V => g.op('Sqrt', [x])
export const tanh = (g: Graph, x: V): V => g.op('Tanh', [x])
export const sigmoid = (g: Graph, x: V): V => g.op('Sigmoid', [x])
export const relu = (g: Graph, x: V): V => g.op('Relu', [x])
export const identity = (g: Graph, x: V): V => g.op('Identity', [x])
export const where = (g: Graph, cond: V, a: V, b: V): V => g.op('Where', [cond, a, b])
export const greater = (g: Graph, a: V, b: V): V => g.op('Greater', [a, b])
/** x's shape as an int64 tensor: a constant when static, else read at run time. */
export function shapeOf (g: Graph, x: V): V {
  const shape = g.shape(x)
  return shape.every(d => typeof d === 'number') ? g.ints(shape as number[]) : g.op('Shape', [x])
}

/** `a * s` for a plain number s. */
export const scale = (g: Graph, a: V, s: number): V => mul(g, a, g.scalar(s))

export const transpose = (g: Graph, x: V, perm: readonly number[]): V => g.op('Transpose', [x], { perm: [...perm] })

/** Swaps the last two axes. */
export function transposeLast2 (g: Graph, x: V): V {
  const rank = g.shape(x).length
  const perm = [...Array(rank).keys()]
  perm[rank - 2] = rank - 1
  perm[rank - 1] = rank - 2
  return transpose(g, x, perm)
}

export const reshape = (g: Graph, x: V, dims: readonly number[]): V => g.op('Reshape', [x, g.ints(dims)])
export const unsqueeze = (g: Graph, x: V, axes: readonly number[]): V => g.op('Unsqueeze', [x, g.ints(axes)])
export const squeeze = (g: Graph, x: V, axes: readonly number[]): V => g.op('Squeeze', [x, g.ints(axes)])
export const expand = (g: Graph, x: V, dims: readonly number[]): V => g.op('Expand', [x, g.ints(dims)])
export const concat = (g: Graph, xs: readonly V[], axis: number): V => g.op('Concat', xs, { axis })
export const gather = (g: Graph, data: V, indices: V, axis = 0): V => g.op('Gather', [data, indices], { axis })
export const gatherElements = (g: Graph, data: V, indices: V, axis: number): V => g.op('GatherElements', [data, indices], { axis })
export const cast = (g: Graph, x: V, to: ElementType): V => g.op('Cast', [x], { to: codeOfElementType(to) })

export const reduceSum = (g: Graph, x: V, axes: readonly number[], keepdims = true): V =>
  g.op('ReduceSum', [x, g.ints(axes)], { keepdims: keepdims ? 1 : 0 })
export const reduceMean = (g: Graph, x: V, axes: readonly number[], keepdims = true): V =>
  g.op('ReduceMean', [x, g.ints(axes)], { keepdims: keepdims ? 1 : 0 })

export const softmax = (g: Graph, x: V, axis = -1): V => g.op('Softmax', [x], { axis })
export const logSoftmax = (g: Graph, x: V, axis = -1): V => g.op('LogSoftmax', [x], { axis })

/**
 * Layer normalisation over the last axis. onnxruntime has no float64 kernel for it, so
 * float64 graphs (gradient checks) get the same function from primitives.
 */
export function layerNorm (g: Graph, x: V, scaleW: V, bias: V, epsilon = 1e-5): V {
  if (g.float === 'float32') return g.op('LayerNormalization', [x, scaleW, bias], { axis: -1, epsilon: floatAttribute(epsilon) })
  const centred = sub(g, x, reduceMean(g, x, [-1]))
  const variance = reduceMean(g, mul(g, centred, centred), [-1])
  return add(g, mul(g, div(g, centred, sqrt(g, add(g, variance, g.scalar(epsilon)))), scaleW), bias)
}

/** GELU, tanh approximation (GPT-2's), from primitives so autodiff needs no extra rule. */
export function gelu (g: Graph, x: V): V {
  const cube = mul(g, mul(g, x, x), x)
  const inner = scale(g, add(g, x, scale(g, cube, 0.044715)), Math.sqrt(2 / Math.PI))
  return mul(g, scale(g, x, 0.5), add(g, g.scalar(1), tanh(g, inner)))
}

/** Zeros with x's shape and type (the shape read at run time, so symbolic dims work). */
export function zerosLike (g: Graph, x: V): V {
  const zero = g.float === 'float64' ? new Float64Array(1) : new Float32Array(1)
  return g.op('ConstantOfShape', [shapeOf(g, x)], { value: { tensor: zero } })
}
