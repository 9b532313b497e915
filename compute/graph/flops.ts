// Matrix-multiply FLOPs of a graph with static shapes: what a training step's achieved
// GFLOP/s is counted from (forward and backward MatMul/Gemm; elementwise work is not
// counted, as is usual).

import type { Graph } from './graph.ts'

export function matmulFlops (g: Graph): number {
  let total = 0
  for (const node of g.nodes) {
    if (node.op !== 'MatMul' && node.op !== 'Gemm') continue
    const a = g.shape(node.inputs[0])
    const y = g.shape(node.outputs[0])
    if (![...a, ...y].every(d => typeof d === 'number')) continue
    const k = node.op === 'Gemm' && node.attrs.transA === 1 ? a[0] as number : a[a.length - 1] as number
    const outputs = (y as number[]).reduce((p, d) => p * d, 1)
    total += 2 * outputs * k
  }
  return total
}
