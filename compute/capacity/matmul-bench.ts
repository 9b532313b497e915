// Measures sustained float32 MatMul throughput through onnxruntime, the same
// runtime that later executes jobs. A chain of MatMuls inside ONE session is
// measured: one small MatMul per run() call would mostly time call overhead.

import os from 'node:os'
import { performance } from 'node:perf_hooks'
import { InferenceSession, Tensor } from 'onnxruntime-node'
import { executionProviders, type Device } from '../onnx/devices.ts'
import { buildModel, type GraphNode, type Initializer } from '../onnx/model-proto.ts'

export interface MatmulBenchOptions {
  /** Side of the square matrices. */
  size?: number
  /** Number of chained MatMuls per run. */
  chain?: number
  /** Timed runs after one warm-up run. */
  runs?: number
  /** ORT intra-op threads; defaults to every core the process may use. */
  threads?: number
  /** The execution provider's device (default cpu). */
  device?: Device
}

export interface MatmulBenchResult {
  /** Median over the timed runs. */
  gflops: number
  size: number
  chain: number
  runs: number
  threads: number
  medianMs: number
  device: Device
  /** The first output's values (a drift check against another device). */
  sample: Float32Array
}

export async function measureMatmulGflops(options: MatmulBenchOptions = {}): Promise<MatmulBenchResult> {
  const { size = 512, chain = 8, runs = 5, threads = os.availableParallelism(), device = 'cpu' } = options
  for (const [name, value] of Object.entries({ size, chain, runs, threads })) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`)
  }

  const session = await InferenceSession.create(buildMatmulChainModel(size, chain), {
    executionProviders: executionProviders(device),
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3
  })
  try {
    const feeds = { x0: new Tensor('float32', scaledRandomMatrix(size, 0x5eed), [size, size]) }
    // warm-up: first run allocates buffers, spins up the thread pool (compiles shaders on a GPU)
    const first = await session.run(feeds)
    const sample = Float32Array.from(first[`x${chain}`].data as Float32Array)

    const timesMs: number[] = []
    for (let i = 0; i < runs; i++) {
      const start = performance.now()
      await session.run(feeds)
      timesMs.push(performance.now() - start)
    }

    const medianMs = median(timesMs)
    const flopsPerRun = chain * 2 * size ** 3
    return { gflops: flopsPerRun / (medianMs * 1e6), size, chain, runs, threads, medianMs, device, sample }
  } finally {
    await session.release()
  }
}

/** x0 @ W1 @ W2 ... @ Wchain, weights as initializers; output name is `x{chain}`. */
export function buildMatmulChainModel(size: number, chain: number): Uint8Array {
  const nodes: GraphNode[] = []
  const initializers: Initializer[] = []
  for (let i = 1; i <= chain; i++) {
    initializers.push({ name: `w${i}`, dims: [size, size], data: scaledRandomMatrix(size, i) })
    nodes.push({ opType: 'MatMul', inputs: [`x${i - 1}`, `w${i}`], outputs: [`x${i}`] })
  }
  return buildModel({
    graphName: 'matmul_chain',
    nodes,
    initializers,
    inputs: [{ name: 'x0', type: 'float32', shape: [size, size] }],
    outputs: [{ name: `x${chain}`, type: 'float32', shape: [size, size] }]
  })
}

/**
 * Uniform values in ±sqrt(3/size): variance 1/size, so each product keeps the
 * activations' variance steady and a long chain neither overflows to inf nor
 * sinks into slow denormals. Seeded, so every peer benchmarks the same numbers.
 */
function scaledRandomMatrix(size: number, seed: number): Float32Array {
  const next = mulberry32(seed)
  const bound = Math.sqrt(3 / size)
  const values = new Float32Array(size * size)
  for (let i = 0; i < values.length; i++) values[i] = (next() * 2 - 1) * bound
  return values
}

/** Tiny deterministic PRNG returning floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
