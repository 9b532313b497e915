// Builds a minimal ONNX ModelProto in memory, so the engine can run graphs it
// generates itself without shipping .onnx files. Deliberately thin: it maps
// plain objects onto the protobuf messages of `onnx-proto` and nothing more.

// onnx-proto is CommonJS with a single `module.exports`, so only the default
// import is reliable under Node's ESM loader.
import onnxProto from 'onnx-proto'

const { onnx } = onnxProto

/** ONNX IR version 8 pairs with opset 17 (onnx 1.12); ORT 1.30 loads both. */
const DEFAULT_IR_VERSION = 8
const DEFAULT_OPSET = 17

export type ElementType = 'float32' | 'float64' | 'int32' | 'int64' | 'bool'

export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array

/** A graph input or output: name, element type and shape (strings are symbolic dims). */
export interface ValueInfo {
  name: string
  type: ElementType
  shape: readonly (number | string)[]
}

/** A constant tensor baked into the graph (weights, shape constants). */
export interface Initializer {
  name: string
  dims: readonly number[]
  data: TensorData
  /** Only needed to tell bool (one byte per value) from other Uint8Array data. */
  type?: ElementType
}

export type AttributeValue = number | string | readonly number[]

export interface GraphNode {
  opType: string
  inputs: readonly string[]
  outputs: readonly string[]
  name?: string
  domain?: string
  /** Numbers are encoded as INT when integral, FLOAT otherwise; use `floatAttribute` to force FLOAT. */
  attributes?: Readonly<Record<string, AttributeValue | FloatAttribute | TensorAttribute>>
}

/** Marks a numeric attribute as FLOAT(S) even when its value happens to be integral (e.g. alpha = 1). */
export interface FloatAttribute {
  float: number | readonly number[]
}

export function floatAttribute(value: number | readonly number[]): FloatAttribute {
  return { float: value }
}

/** A TENSOR attribute (ConstantOfShape's `value`). */
export interface TensorAttribute {
  tensor: TensorData
}

export interface ModelSpec {
  nodes: readonly GraphNode[]
  inputs: readonly ValueInfo[]
  outputs: readonly ValueInfo[]
  initializers?: readonly Initializer[]
  opset?: number
  irVersion?: number
  graphName?: string
}

const ELEMENT_TYPE_CODES: Record<ElementType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  bool: onnx.TensorProto.DataType.BOOL,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64
}

/** Serialises a single-graph model; the bytes can go straight into `InferenceSession.create`. */
export function buildModel(spec: ModelSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: spec.irVersion ?? DEFAULT_IR_VERSION,
    producerName: 'openledger',
    opsetImport: [{ domain: '', version: spec.opset ?? DEFAULT_OPSET }],
    graph: {
      name: spec.graphName ?? 'graph',
      node: spec.nodes.map(toNodeProto),
      input: spec.inputs.map(toValueInfoProto),
      output: spec.outputs.map(toValueInfoProto),
      initializer: (spec.initializers ?? []).map(toTensorProto)
    }
  })
  return onnx.ModelProto.encode(model).finish()
}

function toNodeProto(node: GraphNode, index: number) {
  return onnx.NodeProto.create({
    opType: node.opType,
    name: node.name ?? `${node.opType}_${index}`,
    domain: node.domain ?? '',
    input: [...node.inputs],
    output: [...node.outputs],
    attribute: Object.entries(node.attributes ?? {}).map(([name, value]) => toAttributeProto(name, value))
  })
}

function toAttributeProto(name: string, value: AttributeValue | FloatAttribute | TensorAttribute) {
  const Type = onnx.AttributeProto.AttributeType
  if (typeof value === 'string') {
    return onnx.AttributeProto.create({ name, type: Type.STRING, s: new TextEncoder().encode(value) })
  }
  if (typeof value === 'number') {
    return Number.isInteger(value)
      ? onnx.AttributeProto.create({ name, type: Type.INT, i: value })
      : onnx.AttributeProto.create({ name, type: Type.FLOAT, f: value })
  }
  if ('tensor' in value) {
    const t = toTensorProto({ name: '', dims: value.tensor.length === 1 ? [1] : [value.tensor.length], data: value.tensor })
    return onnx.AttributeProto.create({ name, type: Type.TENSOR, t })
  }
  if ('float' in value) {
    const f = value.float
    return typeof f === 'number'
      ? onnx.AttributeProto.create({ name, type: Type.FLOAT, f })
      : onnx.AttributeProto.create({ name, type: Type.FLOATS, floats: [...f] })
  }
  return value.every(Number.isInteger)
    ? onnx.AttributeProto.create({ name, type: Type.INTS, ints: [...value] })
    : onnx.AttributeProto.create({ name, type: Type.FLOATS, floats: [...value] })
}

function toValueInfoProto(info: ValueInfo) {
  return onnx.ValueInfoProto.create({
    name: info.name,
    type: {
      tensorType: {
        elemType: ELEMENT_TYPE_CODES[info.type],
        shape: {
          dim: info.shape.map(d => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }))
        }
      }
    }
  })
}

function toTensorProto(init: Initializer) {
  const expected = init.dims.reduce((a, b) => a * b, 1)
  if (init.data.length !== expected) {
    throw new Error(`initializer ${init.name}: dims [${init.dims}] need ${expected} values, got ${init.data.length}`)
  }
  return onnx.TensorProto.create({
    name: init.name,
    dims: [...init.dims],
    dataType: ELEMENT_TYPE_CODES[elementTypeOf(init)],
    // raw_data is little-endian by spec; every platform onnxruntime-node ships for is
    // little-endian, so the typed array's bytes can be used as they are (no copy).
    rawData: new Uint8Array(init.data.buffer, init.data.byteOffset, init.data.byteLength)
  })
}

function elementTypeOf(init: Initializer): ElementType {
  if (init.type !== undefined) return init.type
  const data = init.data
  if (data instanceof Float32Array) return 'float32'
  if (data instanceof Float64Array) return 'float64'
  if (data instanceof Int32Array) return 'int32'
  if (data instanceof BigInt64Array) return 'int64'
  return 'bool'
}
