// The capacity facts a peer puts into its advert: static hardware facts plus a
// measured MatMul throughput, so claims about compute are backed by a number.

import { measureHardware, type CpuFlags, type GpuInfo } from './hardware.ts'
import { measureMatmulGflops } from './matmul-bench.ts'
import type { Device } from '../onnx/device-names.ts'

export interface CapacityFacts {
  cpu: { cores: number; model: string; flags?: CpuFlags }
  memory: { totalBytes: number; freeBytes: number }
  disk: { totalBytes: number; freeBytes: number }
  ort: {
    version: string
    providers: string[]
    /** Median float32 GFLOP/s of a MatMul chain on the CPU provider. */
    matmulGflops: number
    matmulSize: number
    threads: number
  }
  gpus: GpuInfo[]
  /** The devices measured at start-up and the one in use (device-probe.ts). */
  devices?: Array<{ device: Device, gflops: number, inUse: boolean }>
  /** When the measurement finished, in ms since the Unix epoch (as on the wire). */
  measuredAt: number
}

export interface MeasureCapacityOptions {
  /** Directory whose filesystem the disk facts describe. */
  dataDir: string
  benchSize?: number
  benchRuns?: number
}

export async function measureCapacity({
  dataDir,
  benchSize,
  benchRuns
}: MeasureCapacityOptions): Promise<CapacityFacts> {
  // Sequential on purpose: the nvidia-smi child process would steal CPU from the benchmark.
  const hardware = await measureHardware({ dataDir })
  const bench = await measureMatmulGflops({ size: benchSize, runs: benchRuns })
  return {
    ...hardware,
    ort: { ...hardware.ort, matmulGflops: bench.gflops, matmulSize: bench.size, threads: bench.threads },
    measuredAt: Date.now()
  }
}

export { measureHardware, parseNvidiaSmiGpus, parseCpuFlags } from './hardware.ts'
export type { CpuFlags, GpuInfo, HardwareFacts } from './hardware.ts'
export { measureMatmulGflops } from './matmul-bench.ts'
export type { MatmulBenchOptions, MatmulBenchResult } from './matmul-bench.ts'
