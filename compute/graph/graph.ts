// An ONNX graph under construction: values (each with an element type and a shape),
// nodes in topological order, constants, inputs and outputs. Shapes are inferred as
// nodes are added, because autodiff needs them (a broadcast Add's gradient must be
// summed back to the smaller operand's shape). Dims are numbers or symbols ('batch').

import { buildModel, type ElementType, type TensorData } from '../onnx/model-proto.ts'
import { GraphBuildError } from '../errors.ts'
import { inferShapes } from './shapes.ts'
import type { Attribute, Constant, Dim, FloatType, Node, TensorInfo } from './types.ts'

export type { Attribute, Constant, Dim, FloatType, Node, TensorInfo } from './types.ts'

/** ONNX 1.13: opset 18 (Reduce* and Split take axes/sizes as inputs), IR version 8. */
export const OPSET = 18
const IR_VERSION = 8

export class Graph {
  /** Element type of the float tensors this graph computes in (float64 for gradient checks). */
  readonly float: FloatType
  readonly nodes: Node[] = []
  readonly inputs: string[] = []
  readonly outputs: string[] = []
  readonly constants = new Map<string, Constant>()
  private readonly infos = new Map<string, TensorInfo>()
  private readonly constantKeys = new Map<string, string>()
  private counter = 0

  constructor (float: FloatType = 'float32') {
    this.float = float
  }

  /** A name no value of this graph has yet. */
  fresh (prefix: string): string {
    let name: string
    do name = `${prefix}_${this.counter++}`
    while (this.infos.has(name))
    return name
  }

  has (name: string): boolean {
    return this.infos.has(name)
  }

  info (name: string): TensorInfo {
    const info = this.infos.get(name)
    if (info === undefined) throw new GraphBuildError(`unknown value ${name}`, { name })
    return info
  }

  shape (name: string): readonly Dim[] {
    return this.info(name).shape
  }

  /** A graph input fed at run time. */
  input (name: string, shape: readonly Dim[], type: ElementType = this.float): string {
    this.define(name, { type, shape })
    this.inputs.push(name)
    return name
  }

  output (...names: string[]): void {
    for (const name of names) {
      this.info(name)
      if (!this.outputs.includes(name)) this.outputs.push(name)
    }
  }

  /**
   * A constant tensor (an initializer). Small constants with the same type, shape and
   * bytes are shared, so rules can ask for `1` or `[0, 2, 1]` freely.
   */
  constant (data: TensorData, shape: readonly number[], opts: { name?: string, type?: ElementType } = {}): string {
    const type = opts.type ?? typeOfData(data)
    const count = shape.reduce((a, b) => a * b, 1)
    if (data.length !== count) throw new GraphBuildError('constant data does not match its shape', { shape, length: data.length })
    let key: string | undefined
    if (opts.name === undefined && data.byteLength <= 256) {
      key = `${type}|${shape.join(',')}|${Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex')}`
      const existing = this.constantKeys.get(key)
      if (existing !== undefined) return existing
    }
    const name = opts.name ?? this.fresh('const')
    this.define(name, { type, shape })
    this.constants.set(name, { info: { type, shape }, data })
    if (key !== undefined) this.constantKeys.set(key, name)
    return name
  }

  /** A float scalar (shape []) in the graph's float type. */
  scalar (value: number): string {
    return this.constant(this.floats([value]), [])
  }

  /** An int64 vector, as shape, axes and index operands need. */
  ints (values: readonly number[]): string {
    return this.constant(BigInt64Array.from(values, v => BigInt(v)), [values.length])
  }

  floats (values: ArrayLike<number>): Float32Array | Float64Array {
    return this.float === 'float64' ? Float64Array.from(values as ArrayLike<number>) : Float32Array.from(values as ArrayLike<number>)
  }

  /** The integer values of a constant int64/int32 tensor, or undefined if `name` is not one. */
  constantInts (name: string): number[] | undefined {
    const c = this.constants.get(name)
    if (c === undefined) return undefined
    if (c.data instanceof BigInt64Array) return Array.from(c.data, Number)
    if (c.data instanceof Int32Array) return Array.from(c.data)
    return undefined
  }

  /**
   * Appends a node and returns its output names. Output shapes are inferred from the
   * inputs' shapes (and constant operands such as a Reshape's target shape).
   */
  node (op: string, inputs: readonly string[], attrs: Record<string, Attribute> = {}, opts: { outputs?: number | string[], prefix?: string } = {}): string[] {
    for (const name of inputs) if (name !== '') this.info(name)
    const outputs = Array.isArray(opts.outputs)
      ? opts.outputs
      : Array.from({ length: opts.outputs ?? 1 }, () => this.fresh(opts.prefix ?? op.toLowerCase()))
    const node: Node = { op, inputs: [...inputs], outputs, attrs }
    const infos = inferShapes(this, node)
    outputs.forEach((name, i) => {
      if (name === '') return
      const info = infos[i]
      if (info === undefined) throw new GraphBuildError(`${op} has no output ${i}`, { op })
      this.define(name, info)
    })
    this.nodes.push(node)
    return outputs
  }

  /** A node with one output. */
  op (op: string, inputs: readonly string[], attrs: Record<string, Attribute> = {}, prefix?: string): string {
    return this.node(op, inputs, attrs, { prefix })[0]
  }

  /**
   * Gives an existing node's optional output a name (LayerNormalization's Mean and
   * InvStdDev, which its gradient reuses), declaring its inferred shape.
   */
  nameOptionalOutput (node: Node, index: number, prefix: string): string {
    const existing = node.outputs[index]
    if (existing !== undefined && existing !== '') return existing
    const infos = inferShapes(this, node)
    const name = this.fresh(prefix)
    while (node.outputs.length <= index) node.outputs.push('')
    node.outputs[index] = name
    this.define(name, infos[index])
    return name
  }

  /** Serialises the graph; `outputs` defaults to the declared outputs. */
  toModel (opts: { outputs?: readonly string[], name?: string } = {}): Uint8Array {
    const outputs = opts.outputs ?? this.outputs
    if (outputs.length === 0) throw new GraphBuildError('graph has no outputs')
    const vi = (name: string) => ({ name, type: this.info(name).type, shape: this.info(name).shape })
    return buildModel({
      graphName: opts.name ?? 'openledger',
      opset: OPSET,
      irVersion: IR_VERSION,
      nodes: this.nodes.map(n => ({ opType: n.op, inputs: n.inputs, outputs: n.outputs, attributes: n.attrs })),
      inputs: this.inputs.map(vi),
      outputs: outputs.map(vi),
      initializers: [...this.constants].map(([name, c]) => ({ name, dims: c.info.shape as number[], data: c.data, type: c.info.type }))
    })
  }

  private define (name: string, info: TensorInfo): void {
    if (this.infos.has(name)) throw new GraphBuildError(`value ${name} is defined twice`, { name })
    this.infos.set(name, { type: info.type, shape: [...info.shape] })
  }
}

function typeOfData (data: TensorData): ElementType {
  if (data instanceof Float32Array) return 'float32'
  if (data instanceof Float64Array) return 'float64'
  if (data instanceof Int32Array) return 'int32'
  if (data instanceof BigInt64Array) return 'int64'
  return 'bool'
}
