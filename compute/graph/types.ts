// The values an ONNX graph under construction is made of (graph.ts builds them, shapes.ts
// infers them): dims, element types and shapes, nodes, constants. Dims are numbers or
// symbols ('batch').
import type { AttributeValue, ElementType, FloatAttribute, TensorAttribute, TensorData } from '../onnx/model-proto.ts'

export type Dim = number | string
export type FloatType = 'float32' | 'float64'

export interface TensorInfo {
  type: ElementType
  shape: readonly Dim[]
}

export type Attribute = AttributeValue | FloatAttribute | TensorAttribute

export interface Node {
  op: string
  inputs: string[]
  outputs: string[]
  attrs: Record<string, Attribute>
}

export interface Constant {
  info: TensorInfo
  data: TensorData
}
