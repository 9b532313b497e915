import assert from 'node:assert/strict'
import os from 'node:os'
import path from 'node:path'
import { InferenceSession, Tensor } from 'onnxruntime-node'
import { buildModel } from '../compute/onnx/model-proto.ts'
import { measureMatmulGflops } from '../compute/capacity/matmul-bench.ts'
import { measureHardware, parseCpuFlags, parseNvidiaSmiGpus } from '../compute/capacity/hardware.ts'
import { measureCapacity } from '../compute/capacity/index.ts'

function jsMatmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
  const out = new Float32Array(m * n)
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0
      for (let p = 0; p < k; p++) sum += a[i * k + p] * b[p * n + j]
      out[i * n + j] = sum
    }
  }
  return out
}

describe('compute/capacity', () => {
  describe('buildModel', () => {
    it('builds a MatMul graph that ORT runs with the correct result', async () => {
      const [m, k, n] = [3, 4, 5]
      const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i + 1))
      const w = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.7) * 0.5)
      const bytes = buildModel({
        nodes: [{ opType: 'MatMul', inputs: ['a', 'w'], outputs: ['y'] }],
        inputs: [{ name: 'a', type: 'float32', shape: ['batch', k] }],
        outputs: [{ name: 'y', type: 'float32', shape: ['batch', n] }],
        initializers: [{ name: 'w', dims: [k, n], data: w }]
      })

      const session = await InferenceSession.create(bytes)
      try {
        const { y } = await session.run({ a: new Tensor('float32', a, [m, k]) })
        assert.deepEqual(y.dims, [m, n])
        const expected = jsMatmul(a, w, m, k, n)
        const actual = y.data as Float32Array
        for (let i = 0; i < expected.length; i++) {
          assert.ok(Math.abs(actual[i] - expected[i]) < 1e-4, `element ${i}: ${actual[i]} vs ${expected[i]}`)
        }
      } finally {
        await session.release()
      }
    })

    it('rejects an initializer whose data does not match its dims', () => {
      assert.throws(
        () =>
          buildModel({
            nodes: [],
            inputs: [],
            outputs: [],
            initializers: [{ name: 'w', dims: [2, 2], data: new Float32Array(3) }]
          }),
        /need 4 values, got 3/
      )
    })
  })

  describe('measureMatmulGflops', () => {
    it('returns a finite positive throughput', async () => {
      const result = await measureMatmulGflops({ size: 128, chain: 4, runs: 3, threads: 1 })
      assert.ok(Number.isFinite(result.gflops) && result.gflops > 0, `gflops = ${result.gflops}`)
      assert.ok(result.medianMs > 0)
      assert.deepEqual(
        { size: result.size, chain: result.chain, runs: result.runs, threads: result.threads },
        { size: 128, chain: 4, runs: 3, threads: 1 }
      )
    })
  })

  describe('measureHardware', () => {
    it('reports sane, JSON-safe facts', async () => {
      const facts = await measureHardware({ dataDir: os.tmpdir() })
      assert.ok(facts.cpu.cores >= 1)
      assert.equal(typeof facts.cpu.model, 'string')
      assert.ok(facts.memory.totalBytes > 0)
      assert.ok(facts.memory.freeBytes >= 0)
      assert.ok(facts.disk.totalBytes > 0)
      assert.ok(facts.disk.freeBytes >= 0)
      assert.match(facts.ort.version, /^\d+\.\d+\.\d+/)
      assert.ok(facts.ort.providers.includes('cpu'), `providers = ${facts.ort.providers}`)
      assert.ok(Array.isArray(facts.gpus))
      assert.deepEqual(JSON.parse(JSON.stringify(facts)), facts)
    })

    it('measures the disk of a data dir that does not exist yet', async () => {
      const facts = await measureHardware({ dataDir: path.join(os.tmpdir(), 'openledger-missing', 'deeper') })
      assert.ok(facts.disk.totalBytes > 0)
    })
  })

  describe('parseNvidiaSmiGpus', () => {
    it('parses a two-GPU sample', () => {
      const sample = 'NVIDIA GeForce RTX 4090, 24564\nNVIDIA A100-SXM4-80GB, 81920\n'
      assert.deepEqual(parseNvidiaSmiGpus(sample), [
        { name: 'NVIDIA GeForce RTX 4090', memoryMiB: 24564 },
        { name: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81920 }
      ])
    })

    it('skips garbage lines and tolerates CRLF', () => {
      const sample = [
        'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.',
        'Tesla T4, 15360\r',
        ', 1024',
        'Some GPU, [N/A]',
        '',
        'garbage,,'
      ].join('\n')
      assert.deepEqual(parseNvidiaSmiGpus(sample), [{ name: 'Tesla T4', memoryMiB: 15360 }])
      assert.deepEqual(parseNvidiaSmiGpus(''), [])
    })
  })

  describe('parseCpuFlags', () => {
    it('reads x86 flags', () => {
      const cpuinfo = 'processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma avx512f\n'
      assert.deepEqual(parseCpuFlags(cpuinfo), { avx2: true, avx512f: true, fma: true, neon: false })
    })

    it('reads ARM features (asimd is NEON)', () => {
      const cpuinfo = 'processor\t: 0\nFeatures\t: fp asimd evtstrm aes\n'
      assert.deepEqual(parseCpuFlags(cpuinfo), { avx2: false, avx512f: false, fma: false, neon: true })
    })

    it('returns undefined without a flags line', () => {
      assert.equal(parseCpuFlags('model name : something'), undefined)
    })
  })

  describe('measureCapacity', () => {
    it('combines hardware facts with the MatMul benchmark', async () => {
      const facts = await measureCapacity({ dataDir: os.tmpdir(), benchSize: 128, benchRuns: 2 })
      assert.ok(facts.ort.matmulGflops > 0 && Number.isFinite(facts.ort.matmulGflops))
      assert.equal(facts.ort.matmulSize, 128)
      assert.ok(facts.ort.threads >= 1)
      assert.ok(facts.ort.providers.includes('cpu'))
      assert.ok(Number.isSafeInteger(facts.measuredAt) && facts.measuredAt > Date.parse('2024-01-01'))
      assert.deepEqual(JSON.parse(JSON.stringify(facts)), facts)
    })
  })
})
