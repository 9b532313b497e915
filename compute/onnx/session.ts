// One place that opens onnxruntime sessions, so every graph the engine runs gets the
// same settings: a fixed thread count (results are bitwise reproducible only for a
// fixed count), sequential execution and full graph optimisation.

import os from 'node:os'
import { InferenceSession, Tensor } from 'onnxruntime-node'
import { MalformedArtifactError } from '../errors.ts'
import { currentDevice, DeviceUnavailableError, executionProviders, type Device } from './devices.ts'
import type { TensorData } from './model-proto.ts'

export interface SessionOptions {
  /** ORT intra-op threads; default: every core this process may use. */
  threads?: number
  /** Disable graph optimisations (gradient checks compare against the graph as written). */
  optimize?: boolean
  /** Where the graph runs (default: the process's, useDevice; cpu unless set). Results are bit-reproducible only on one device class. */
  device?: Device
  /** Write onnxruntime's profile (every kernel run and its provider) to files starting with this path (placement.ts reads them). */
  profilePrefix?: string
}

export type Feed = { data: TensorData, dims: readonly number[] }

export class Session {
  readonly inner: InferenceSession
  readonly threads: number
  readonly device: Device
  private readonly profiling: boolean

  private constructor (inner: InferenceSession, threads: number, device: Device, profiling: boolean) {
    this.inner = inner
    this.threads = threads
    this.device = device
    this.profiling = profiling
  }

  static async create (model: Uint8Array, opts: SessionOptions = {}): Promise<Session> {
    const threads = opts.threads ?? defaultThreads()
    const device = opts.device ?? currentDevice()
    const providers = executionProviders(device)
    try {
      const inner = await InferenceSession.create(model, {
        executionProviders: providers,
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: opts.optimize === false ? 'disabled' : 'all',
        logSeverityLevel: 3,
        ...(opts.profilePrefix !== undefined ? { enableProfiling: true, profileFilePrefix: opts.profilePrefix } : {})
      })
      return new Session(inner, threads, device, opts.profilePrefix !== undefined)
    } catch (err) {
      const message = (err as Error).message
      // On another device a refusal is most often the provider failing to start (no driver).
      if (device !== 'cpu' && !/protobuf|invalid model|Load model/i.test(message)) throw new DeviceUnavailableError(device, `its provider would not start: ${message.slice(0, 300)}`, { cause: err })
      throw new MalformedArtifactError('onnxruntime refused the model', { cause: message })
    }
  }

  /** Runs the graph; returns the requested outputs' data (all outputs by default). */
  async run (feeds: Record<string, Feed | Tensor>, outputs?: readonly string[]): Promise<Record<string, Tensor>> {
    const tensors: Record<string, Tensor> = {}
    for (const [name, feed] of Object.entries(feeds)) {
      tensors[name] = feed instanceof Tensor ? feed : toTensor(feed as Feed)
    }
    return outputs === undefined
      ? await this.inner.run(tensors)
      : await this.inner.run(tensors, outputs as string[])
  }

  async release (): Promise<void> {
    // The profile is written when profiling ends, not at release.
    if (this.profiling) this.inner.endProfiling()
    await this.inner.release()
  }
}

export function toTensor (feed: Feed): Tensor {
  const { data, dims } = feed
  if (data instanceof Float32Array) return new Tensor('float32', data, dims)
  if (data instanceof Float64Array) return new Tensor('float64', data, dims)
  if (data instanceof Int32Array) return new Tensor('int32', data, dims)
  if (data instanceof BigInt64Array) return new Tensor('int64', data, dims)
  return new Tensor('bool', data, dims)
}

export function defaultThreads (): number {
  return Math.max(1, os.availableParallelism())
}
