import assert from 'node:assert/strict'
import { floatAttribute } from '../compute/onnx/model-proto.ts'
import type { Graph } from '../compute/graph/graph.ts'
import * as o from '../compute/graph/ops.ts'
import { Rng } from '../compute/random.ts'
import { NoGradientError } from '../compute/errors.ts'
import { Graph as G } from '../compute/graph/graph.ts'
import { differentiate } from '../compute/graph/autodiff.ts'
import { checkGradients, randomFeed } from './helpers/grad-check.ts'
import { expectThrows } from './helpers/expect-throws.ts'

const rng = new Rng(42)
const f = (dims: number[], opts?: { min?: number, max?: number }) => randomFeed(rng, dims, opts)

interface Case {
  name: string
  inputs: Record<string, number[]>
  build: (g: Graph, x: Record<string, string>) => string
  /** A float64 composite of the same function, for operators without float64 kernels. */
  reference?: (g: Graph, x: Record<string, string>) => string
  range?: { min?: number, max?: number }
  extra?: (g: Graph) => void
}

function unary (name: string, op: (g: Graph, x: string) => string, range?: { min?: number, max?: number }): Case {
  return { name, inputs: { x: [3, 4] }, build: (g, x) => op(g, x.x), range }
}

function binary (name: string, op: (g: Graph, a: string, b: string) => string, a: number[], b: number[], range?: { min?: number, max?: number }): Case {
  return { name, inputs: { a, b }, build: (g, x) => op(g, x.a, x.b), range }
}

const cases: Case[] = [
  binary('MatMul 2-D', o.matmul, [3, 4], [4, 5]),
  binary('MatMul 3-D x 2-D (shared weight)', o.matmul, [2, 3, 4], [4, 5]),
  binary('MatMul batched 3-D', o.matmul, [2, 3, 4], [2, 4, 5]),
  binary('MatMul broadcast batch 4-D', o.matmul, [2, 1, 3, 4], [1, 3, 4, 2]),
  binary('MatMul 2-D x 3-D', o.matmul, [3, 4], [2, 4, 5]),
  { name: 'Gemm', inputs: { a: [3, 4], b: [4, 5], c: [5] }, build: (g, x) => g.op('Gemm', [x.a, x.b, x.c], { alpha: floatAttribute(0.7), beta: floatAttribute(1.3) }) },
  { name: 'Gemm transA', inputs: { a: [4, 3], b: [4, 5], c: [3, 5] }, build: (g, x) => g.op('Gemm', [x.a, x.b, x.c], { transA: 1 }) },
  { name: 'Gemm transB', inputs: { a: [3, 4], b: [5, 4], c: [1, 5] }, build: (g, x) => g.op('Gemm', [x.a, x.b, x.c], { transB: 1, alpha: floatAttribute(2) }) },
  { name: 'Gemm transA transB', inputs: { a: [4, 3], b: [5, 4] }, build: (g, x) => g.op('Gemm', [x.a, x.b], { transA: 1, transB: 1 }) },
  binary('Add broadcast', o.add, [2, 3, 4], [4]),
  binary('Add broadcast middle', o.add, [2, 3, 4], [2, 1, 4]),
  binary('Sub broadcast', o.sub, [3, 1], [2, 3, 4]),
  binary('Mul broadcast', o.mul, [2, 3, 4], [3, 1]),
  binary('Div broadcast', o.div, [2, 3, 4], [4], { min: 0.5, max: 2 }),
  { name: 'Pow constant exponent', inputs: { x: [3, 4] }, build: (g, x) => o.pow(g, x.x, g.scalar(3)), range: { min: 0.2, max: 2 } },
  unary('Neg', o.neg),
  unary('Exp', o.exp),
  unary('Log', o.log, { min: 0.3, max: 3 }),
  unary('Sqrt', o.sqrt, { min: 0.3, max: 3 }),
  unary('Reciprocal', (g, x) => g.op('Reciprocal', [x]), { min: 0.5, max: 2 }),
  unary('Tanh', o.tanh),
  unary('Sigmoid', o.sigmoid),
  unary('Relu', o.relu),
  unary('Identity', o.identity),
  unary('GELU (tanh form, composite)', o.gelu, { min: -3, max: 3 }),
  { name: 'Sum of a value used three times', inputs: { x: [3, 4] }, build: (g, x) => g.op('Sum', [o.mul(g, x.x, x.x), x.x, o.exp(g, x.x)]) },
  {
    name: 'Where (masking)',
    inputs: { a: [3, 4], b: [4] },
    build: (g, x) => o.where(g, g.constant(Uint8Array.from([1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0]), [3, 4], { type: 'bool' }), x.a, x.b)
  },
  { name: 'Transpose', inputs: { x: [2, 3, 4] }, build: (g, x) => o.transpose(g, x.x, [2, 0, 1]) },
  { name: 'Reshape', inputs: { x: [2, 3, 4] }, build: (g, x) => o.reshape(g, x.x, [4, -1]) },
  { name: 'Unsqueeze + Squeeze', inputs: { x: [3, 4] }, build: (g, x) => o.squeeze(g, o.mul(g, o.unsqueeze(g, x.x, [0, 2]), g.constant(Float64Array.of(2, 3), [2, 1, 1, 1])), [2]) },
  { name: 'Expand', inputs: { x: [3, 1] }, build: (g, x) => o.expand(g, x.x, [2, 3, 4]) },
  { name: 'Concat', inputs: { a: [2, 3], b: [2, 2] }, build: (g, x) => o.concat(g, [x.a, x.b, x.a], 1) },
  { name: 'Slice', inputs: { x: [4, 6] }, build: (g, x) => g.op('Slice', [x.x, g.ints([1, 2]), g.ints([3, -1]), g.ints([0, 1])]) },
  {
    name: 'Gather rows with repeats (embedding)',
    inputs: { table: [5, 3] },
    build: (g, x) => o.gather(g, x.table, g.constant(BigInt64Array.of(4n, 0n, 4n, 2n, 1n, 4n), [2, 3]))
  },
  {
    name: 'GatherElements (pick target log-probs)',
    inputs: { x: [4, 5] },
    build: (g, x) => o.gatherElements(g, x.x, g.constant(BigInt64Array.of(1n, 0n, 4n, 4n), [4, 1]), 1)
  },
  { name: 'ReduceSum keepdims', inputs: { x: [2, 3, 4] }, build: (g, x) => o.reduceSum(g, x.x, [0, 2], true) },
  { name: 'ReduceSum no keepdims', inputs: { x: [2, 3, 4] }, build: (g, x) => o.reduceSum(g, x.x, [1], false) },
  { name: 'ReduceMean', inputs: { x: [2, 3, 4] }, build: (g, x) => o.reduceMean(g, x.x, [-1], false) },
  { name: 'Softmax last axis', inputs: { x: [3, 5] }, build: (g, x) => o.softmax(g, x.x, -1) },
  { name: 'Softmax axis 1 of 3', inputs: { x: [2, 4, 3] }, build: (g, x) => o.softmax(g, x.x, 1) },
  { name: 'LogSoftmax', inputs: { x: [3, 5] }, build: (g, x) => o.logSoftmax(g, x.x, -1) },
  {
    name: 'LayerNormalization (float32 rule against a float64 composite)',
    inputs: { x: [2, 3, 6], s: [6], b: [6] },
    build: (g, x) => o.layerNorm(g, x.x, x.s, x.b),
    reference: (g, x) => {
      const centred = o.sub(g, x.x, o.reduceMean(g, x.x, [-1]))
      const variance = o.reduceMean(g, o.mul(g, centred, centred), [-1])
      const normed = o.div(g, centred, o.sqrt(g, o.add(g, variance, g.scalar(1e-5))))
      return o.add(g, o.mul(g, normed, x.s), x.b)
    }
  },
  {
    name: 'cross-entropy (composite, masked mean)',
    inputs: { logits: [4, 6] },
    build: (g, x) => {
      const picked = o.gatherElements(g, o.logSoftmax(g, x.logits, -1), g.constant(BigInt64Array.of(5n, 0n, 2n, 2n), [4, 1]), 1)
      const masked = o.mul(g, picked, g.constant(Float64Array.of(1, 1, 0, 1), [4, 1]))
      return o.scale(g, o.reduceSum(g, masked, [], false), -1 / 3)
    }
  },
  {
    name: 'causal self-attention (composite)',
    inputs: { x: [2, 4, 6], wq: [6, 6], wk: [6, 6], wv: [6, 6] },
    build: (g, x) => {
      const heads = (v: string) => o.transpose(g, o.reshape(g, v, [2, 4, 2, 3]), [0, 2, 1, 3])
      const q = heads(o.matmul(g, x.x, x.wq))
      const k = heads(o.matmul(g, x.x, x.wk))
      const v = heads(o.matmul(g, x.x, x.wv))
      const mask = new Float64Array(16)
      for (let i = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) mask[i * 4 + j] = -1e9
      const scores = o.add(g, o.scale(g, o.matmul(g, q, o.transposeLast2(g, k)), 1 / Math.sqrt(3)), g.constant(mask, [4, 4]))
      const attended = o.matmul(g, o.softmax(g, scores, -1), v)
      return o.reshape(g, o.transpose(g, attended, [0, 2, 1, 3]), [2, 4, 6])
    }
  }
]

describe('autodiff: every gradient rule against finite differences (float64)', function () {
  this.timeout(60_000)
  for (const c of cases) {
    it(c.name, async () => {
      const feeds = Object.fromEntries(Object.entries(c.inputs).map(([name, dims]) => [name, f(dims, c.range)]))
      const declare = (g: Graph) => Object.fromEntries(Object.entries(c.inputs).map(([name, dims]) => [name, g.input(name, dims)]))
      const { checked } = await checkGradients({
        build: g => c.build(g, declare(g)),
        reference: c.reference === undefined ? undefined : g => (c.reference as NonNullable<Case['reference']>)(g, declare(g)),
        feeds,
        params: Object.keys(c.inputs)
      })
      assert.ok(checked > 0)
    })
  }

  it('refuses operators without a rule, and losses that no parameter reaches', () => {
    const g = new G()
    const x = g.input('x', [3])
    expectThrows(() => differentiate(g, o.reduceSum(g, g.op('Abs', [x]), [], false), [x]), NoGradientError)
    const h = new G()
    const a = h.input('a', [3])
    const b = h.input('b', [3])
    expectThrows(() => differentiate(h, o.reduceSum(h, b, [], false), [a]), NoGradientError)
  })
})
