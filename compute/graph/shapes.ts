// Output types and shapes of the operators the engine builds graphs from, following
// the ONNX opset-18 definitions. Symbolic dims pass through; a dim that cannot be
// known statically (a Reshape's -1 over a symbolic input) becomes a fresh symbol.

import { GraphBuildError } from '../errors.ts'
import type { ElementType } from '../onnx/model-proto.ts'
import type { Dim, FloatType, Node, TensorInfo } from './types.ts'

const UNARY = new Set(['Identity', 'Neg', 'Exp', 'Log', 'Sqrt', 'Tanh', 'Sigmoid', 'Relu', 'Erf', 'Reciprocal', 'Abs', 'Softmax', 'LogSoftmax'])
const BINARY = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min'])
const COMPARE = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual'])
const REDUCE = new Set(['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceSumSquare'])

/** What shape inference reads of the graph it runs in (a Graph is one). */
export interface ShapeScope {
  readonly float: FloatType
  readonly nodes: readonly Node[]
  info (name: string): TensorInfo
  shape (name: string): readonly Dim[]
  constantInts (name: string): number[] | undefined
  /** A name no value of the graph has yet (for dims that cannot be known statically). */
  fresh (prefix: string): string
}

export function inferShapes (g: ShapeScope, node: Node): TensorInfo[] {
  const { op, inputs, attrs } = node
  const info = (i: number): TensorInfo => {
    const name = inputs[i]
    if (name === undefined || name === '') throw new GraphBuildError(`${op} needs input ${i}`, { op })
    return g.info(name)
  }
  const constInts = (i: number): number[] => {
    const values = inputs[i] === undefined || inputs[i] === '' ? undefined : g.constantInts(inputs[i])
    if (values === undefined) throw new GraphBuildError(`${op} input ${i} must be an int64 constant`, { op, input: inputs[i] })
    return values
  }
  // A shape operand: an int64 constant, or the output of a Shape node (its source's dims).
  const shapeOperand = (i: number): Dim[] => {
    const source = g.nodes.find(n => n.outputs.includes(inputs[i]))
    return source?.op === 'Shape' ? [...g.shape(source.inputs[0])] : constInts(i)
  }
  const int = (name: string, fallback: number): number => {
    const v = attrs[name]
    return typeof v === 'number' ? v : fallback
  }

  if (UNARY.has(op)) return [info(0)]
  if (BINARY.has(op)) return [{ type: info(0).type, shape: broadcast(op, [info(0).shape, info(1).shape]) }]
  if (COMPARE.has(op)) return [{ type: 'bool', shape: broadcast(op, [info(0).shape, info(1).shape]) }]
  if (op === 'Not') return [info(0)]
  if (REDUCE.has(op)) {
    const x = info(0)
    const axes = inputs.length > 1 && inputs[1] !== '' ? constInts(1) : []
    const keep = int('keepdims', 1) === 1
    const all = axes.length === 0 && int('noop_with_empty_axes', 0) === 0
    const norm = new Set((all ? x.shape.map((_, i) => i) : axes).map(a => normAxis(op, a, x.shape.length)))
    const shape: Dim[] = []
    x.shape.forEach((d, i) => {
      if (!norm.has(i)) shape.push(d)
      else if (keep) shape.push(1)
    })
    return [{ type: x.type, shape }]
  }

  switch (op) {
    case 'Sum': return [{ type: info(0).type, shape: broadcast(op, inputs.map((_, i) => info(i).shape)) }]
    case 'Where': return [{ type: info(1).type, shape: broadcast(op, [info(0).shape, info(1).shape, info(2).shape]) }]
    case 'Cast': return [{ type: elementTypeOfCode(int('to', 1)), shape: info(0).shape }]
    case 'MatMul': return [{ type: info(0).type, shape: matmulShape(info(0).shape, info(1).shape) }]
    case 'Gemm': {
      const a = info(0).shape
      const b = info(1).shape
      if (a.length !== 2 || b.length !== 2) throw new GraphBuildError('Gemm operands must be 2-D', { a, b })
      const m = int('transA', 0) === 1 ? a[1] : a[0]
      const n = int('transB', 0) === 1 ? b[0] : b[1]
      return [{ type: info(0).type, shape: [m, n] }]
    }
    case 'Transpose': {
      const x = info(0)
      const perm = (attrs.perm as number[] | undefined) ?? x.shape.map((_, i) => x.shape.length - 1 - i)
      if (perm.length !== x.shape.length) throw new GraphBuildError('Transpose perm does not match rank', { perm, shape: x.shape })
      return [{ type: x.type, shape: perm.map(p => x.shape[p]) }]
    }
    case 'Reshape': return [{ type: info(0).type, shape: reshapeShape(g, node, info(0).shape, shapeOperand(1)) }]
    case 'Unsqueeze': {
      const x = info(0)
      const rank = x.shape.length + constInts(1).length
      const axes = new Set(constInts(1).map(a => normAxis(op, a, rank)))
      const shape: Dim[] = []
      let j = 0
      for (let i = 0; i < rank; i++) shape.push(axes.has(i) ? 1 : x.shape[j++])
      return [{ type: x.type, shape }]
    }
    case 'Squeeze': {
      const x = info(0)
      const axes = new Set(constInts(1).map(a => normAxis(op, a, x.shape.length)))
      for (const a of axes) if (x.shape[a] !== 1) throw new GraphBuildError('Squeeze of a dim that is not 1', { shape: x.shape, axis: a })
      return [{ type: x.type, shape: x.shape.filter((_, i) => !axes.has(i)) }]
    }
    case 'Expand': return [{ type: info(0).type, shape: broadcast(op, [info(0).shape, shapeOperand(1)]) }]
    case 'Concat': {
      const first = info(0)
      const axis = normAxis(op, int('axis', 0), first.shape.length)
      let total: Dim = 0
      for (let i = 0; i < inputs.length; i++) {
        const d = info(i).shape[axis]
        total = typeof total === 'number' && typeof d === 'number' ? total + d : g.fresh('concat_dim')
      }
      const shape = [...first.shape]
      shape[axis] = total
      return [{ type: first.type, shape }]
    }
    case 'Split': {
      const x = info(0)
      const axis = normAxis(op, int('axis', 0), x.shape.length)
      return constInts(1).map(size => {
        const shape = [...x.shape]
        shape[axis] = size
        return { type: x.type, shape }
      })
    }
    case 'Slice': {
      const x = info(0)
      const starts = constInts(1)
      const ends = constInts(2)
      const axes = inputs[3] !== undefined && inputs[3] !== '' ? constInts(3) : starts.map((_, i) => i)
      const steps = inputs[4] !== undefined && inputs[4] !== '' ? constInts(4) : starts.map(() => 1)
      const shape = [...x.shape]
      axes.forEach((a, i) => {
        const axis = normAxis(op, a, x.shape.length)
        const d = x.shape[axis]
        if (typeof d !== 'number') { shape[axis] = g.fresh('slice_dim'); return }
        shape[axis] = sliceLength(d, starts[i], ends[i], steps[i])
      })
      return [{ type: x.type, shape }]
    }
    case 'Pad': {
      const x = info(0)
      const pads = constInts(1)
      return [{ type: x.type, shape: x.shape.map((d, i) => typeof d === 'number' ? d + pads[i] + pads[i + x.shape.length] : g.fresh('pad_dim')) }]
    }
    case 'Gather': {
      const data = info(0)
      const indices = info(1)
      const axis = normAxis(op, int('axis', 0), data.shape.length)
      return [{ type: data.type, shape: [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)] }]
    }
    case 'GatherElements': return [{ type: info(0).type, shape: info(1).shape }]
    case 'ScatterElements':
    case 'ScatterND': return [info(0)]
    case 'LayerNormalization': {
      const x = info(0)
      const axis = normAxis(op, int('axis', -1), x.shape.length)
      const stats = { type: elementTypeOfCode(int('stash_type', 1)), shape: x.shape.map((d, i) => i < axis ? d : 1) }
      return [x, stats, stats]
    }
    case 'Shape': return [{ type: 'int64', shape: [info(0).shape.length] }]
    case 'ConstantOfShape': return [{ type: g.float, shape: shapeOperand(0) }]
    case 'Range': return [{ type: info(0).type, shape: [g.fresh('range_dim')] }]
    case 'Trilu': return [info(0)]
  }
  throw new GraphBuildError(`no shape rule for operator ${op}`, { op })
}

export function normAxis (op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new GraphBuildError(`${op}: axis ${axis} out of range for rank ${rank}`, { op, axis, rank })
  return a
}

/**
 * Numpy broadcasting of several shapes. Two different symbols are taken to be equal
 * (the runtime checks them); only numbers are held to the rule here.
 */
export function broadcast (op: string, shapes: readonly (readonly Dim[])[]): Dim[] {
  const rank = Math.max(...shapes.map(s => s.length))
  const out: Dim[] = []
  for (let i = 0; i < rank; i++) {
    let dim: Dim = 1
    for (const s of shapes) {
      const d = s[i - rank + s.length] ?? 1
      if (d === 1) continue
      if (dim === 1) dim = d
      else if (typeof dim === 'string' && typeof d === 'string') continue
      else if (dim !== d) throw new GraphBuildError(`${op}: shapes do not broadcast`, { op, shapes })
    }
    out.push(dim)
  }
  return out
}

function matmulShape (a: readonly Dim[], b: readonly Dim[]): Dim[] {
  if (a.length < 2 || b.length < 2) throw new GraphBuildError('MatMul operands must have rank >= 2', { a, b })
  const k1 = a[a.length - 1]
  const k2 = b[b.length - 2]
  if (k1 !== k2 && !(typeof k1 === 'string' && typeof k2 === 'string')) throw new GraphBuildError('MatMul inner dims differ', { a, b })
  const batch = broadcast('MatMul', [a.slice(0, -2), b.slice(0, -2)])
  return [...batch, a[a.length - 2], b[b.length - 1]]
}

function reshapeShape (g: ShapeScope, node: Node, input: readonly Dim[], target: readonly Dim[]): Dim[] {
  const out: Dim[] = target.map((d, i) => d === 0 ? input[i] : d)
  const unknown = out.indexOf(-1)
  const known = input.every(d => typeof d === 'number')
  const total = known ? (input as number[]).reduce((a, b) => a * b, 1) : undefined
  if (unknown >= 0) {
    const rest = out.filter((_, i) => i !== unknown)
    if (total !== undefined && rest.every(d => typeof d === 'number')) {
      const product = (rest as number[]).reduce((a, b) => a * b, 1)
      if (product === 0 || total % product !== 0) throw new GraphBuildError('Reshape cannot infer -1', { input, target })
      out[unknown] = total / product
    } else {
      out[unknown] = g.fresh(`${node.outputs[0] ?? 'reshape'}_dim`)
    }
  } else if (total !== undefined && out.every(d => typeof d === 'number')) {
    const product = (out as number[]).reduce((a, b) => a * b, 1)
    if (product !== total) throw new GraphBuildError('Reshape changes the element count', { input, target })
  }
  return out
}

function sliceLength (dim: number, start: number, end: number, step: number): number {
  if (step === 0) throw new GraphBuildError('Slice step 0')
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi)
  const s = start < 0 ? start + dim : start
  const e = end < 0 ? end + dim : end
  if (step > 0) {
    const a = clamp(s, 0, dim)
    const b = clamp(e, 0, dim)
    return Math.max(0, Math.ceil((b - a) / step))
  }
  const a = clamp(s, -1, dim - 1)
  const b = clamp(e, -1, dim - 1)
  return Math.max(0, Math.ceil((b - a) / step))
}

const TYPE_CODES: Record<number, ElementType> = { 1: 'float32', 6: 'int32', 7: 'int64', 9: 'bool', 11: 'float64' }

export function elementTypeOfCode (code: number): ElementType {
  const type = TYPE_CODES[code]
  if (type === undefined) throw new GraphBuildError(`unsupported element type code ${code}`, { code })
  return type
}

export function codeOfElementType (type: ElementType): number {
  for (const [code, t] of Object.entries(TYPE_CODES)) if (t === type) return Number(code)
  throw new GraphBuildError(`unsupported element type ${type}`)
}
