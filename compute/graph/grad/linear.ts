// MatMul and Gemm. A weight shared by every row of a batch ([B, T, d] @ [d, n]) gets
// its gradient from one [d, B*T] x [B*T, n] product, not B small products and a sum.

import { floatAttribute } from '../../onnx/model-proto.ts'
import type { Attribute, Graph } from '../graph.ts'
import { matmul, reshape, scale, transposeLast2 } from '../ops.ts'
import type { GradRule } from './context.ts'
import { sumToShape } from './sum-to-shape.ts'

export const matmulGrad: GradRule = ({ g, node, dy, needs }) => {
  const [a, b] = node.inputs
  const d = dy[0]
  if (d === undefined) return []
  const da = needs[0] ? sumToShape(g, matmul(g, d, transposeLast2(g, b)), a) : undefined
  let db: string | undefined
  if (needs[1]) {
    const rankA = g.shape(a).length
    const rankB = g.shape(b).length
    if (rankB === 2 && rankA > 2) {
      const k = g.shape(a)[rankA - 1]
      const n = g.shape(b)[1]
      db = typeof k === 'number' && typeof n === 'number'
        ? gemm(g, reshape(g, a, [-1, k]), reshape(g, d, [-1, n]), { transA: 1 })
        : sumToShape(g, matmul(g, transposeLast2(g, a), d), b)
    } else {
      db = sumToShape(g, matmul(g, transposeLast2(g, a), d), b)
    }
  }
  return [da, db]
}

export const gemmGrad: GradRule = ({ g, node, dy, needs }) => {
  const [a, b, c] = node.inputs
  const d = dy[0]
  if (d === undefined) return []
  const alpha = numberAttr(node.attrs.alpha, 1)
  const beta = numberAttr(node.attrs.beta, 1)
  const tA = node.attrs.transA === 1 ? 1 : 0
  const tB = node.attrs.transB === 1 ? 1 : 0
  // Y = alpha op(A) op(B) + beta C
  let da: string | undefined
  let db: string | undefined
  if (needs[0]) {
    da = tA === 0
      ? gemm(g, d, b, { transB: 1 - tB, alpha })
      : gemm(g, b, d, { transA: tB, transB: 1, alpha })
  }
  if (needs[1]) {
    db = tB === 0
      ? gemm(g, a, d, { transA: 1 - tA, alpha })
      : gemm(g, d, a, { transA: 1, transB: tA, alpha })
  }
  const dc = needs[2] && c !== undefined && c !== '' ? sumToShape(g, beta === 1 ? d : scale(g, d, beta), c) : undefined
  return [da, db, dc]
}

function gemm (g: Graph, a: string, b: string, opts: { transA?: number, transB?: number, alpha?: number }): string {
  const attrs: Record<string, Attribute> = {}
  if (opts.transA === 1) attrs.transA = 1
  if (opts.transB === 1) attrs.transB = 1
  if (opts.alpha !== undefined && opts.alpha !== 1) attrs.alpha = floatAttribute(opts.alpha)
  return g.op('Gemm', [a, b], attrs)
}

function numberAttr (value: unknown, fallback: number): number {
  if (typeof value === 'number') return value
  if (typeof value === 'object' && value !== null && 'float' in value && typeof value.float === 'number') return value.float
  return fallback
}
