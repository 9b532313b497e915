// Named float32 tensors: a model's weights, an adapter's LoRA factors, an optimiser's
// moments. Kept in insertion order, which is the order they serialise in.

import { ShapeMismatchError } from '../errors.ts'

export interface NamedTensor {
  shape: readonly number[]
  data: Float32Array
}

export type ParamSet = Map<string, NamedTensor>

export function sizeOf (shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1)
}

export function tensor (shape: readonly number[], data?: Float32Array): NamedTensor {
  const size = sizeOf(shape)
  if (data !== undefined && data.length !== size) throw new ShapeMismatchError('tensor data does not match its shape', { shape, length: data.length })
  return { shape: [...shape], data: data ?? new Float32Array(size) }
}

/** A deep copy (new buffers). */
export function cloneParams (params: ParamSet): ParamSet {
  return new Map([...params].map(([name, t]) => [name, { shape: [...t.shape], data: Float32Array.from(t.data) }]))
}

export function zerosLike (params: ParamSet): ParamSet {
  return new Map([...params].map(([name, t]) => [name, tensor(t.shape)]))
}

/** Throws unless `actual` has exactly the names and shapes of `expected`. */
export function assertSameLayout (expected: ParamSet, actual: ParamSet, what = 'tensors'): void {
  const missing = [...expected.keys()].filter(k => !actual.has(k))
  const extra = [...actual.keys()].filter(k => !expected.has(k))
  if (missing.length > 0 || extra.length > 0) throw new ShapeMismatchError(`${what} do not match the expected names`, { missing, extra })
  for (const [name, t] of expected) {
    const other = actual.get(name) as NamedTensor
    if (other.shape.length !== t.shape.length || other.shape.some((d, i) => d !== t.shape[i])) {
      throw new ShapeMismatchError(`${what}: ${name} has the wrong shape`, { name, expected: t.shape, actual: other.shape })
    }
  }
}

export function countParams (params: ParamSet): number {
  let n = 0
  for (const t of params.values()) n += t.data.length
  return n
}
