// How a verifier compares its replay with a worker's checkpoint, by the two device stamps
// (compute/onnx/device-class.ts). Measured on this machine (bench/RESULTS.md,
// "determinism on WebGPU"), over one 50-step checkpoint segment:
// - CPU kernels of one class reproduce bit for bit; another CPU's kernels drift 3.8e-7 on
//   weights and 6.2e-8 on a step's loss (WEIGHT_TOLERANCE 1e-5, LOSS_TOLERANCE 1e-6).
// - A GPU is not bit-reproducible even against itself: the classifier's embedding
//   gradient is a scatter-add whose order varies, and two WebGPU reruns differed by 2.6e-8
//   on weights and 4.0e-7 on a loss. Same GPU class: 1e-5 on both (25x the loss drift).
// - A GPU against another class (a CPU, another card): 2.3e-4 on weights and 6.6e-5 on a
//   loss (classifier; the LM drifted 1.5e-6). 2e-3 and 1e-3: about 9x and 15x that.
// A step that is skipped moves the weights by far more than any of these (the skipping
// worker of test/verify-devices.test.ts is off by orders of magnitude).
import { sameDeviceClass, type DeviceStamp } from '../onnx/device-class.ts'
import { LOSS_TOLERANCE, WEIGHT_TOLERANCE, type VerifyMode } from './training.ts'

export const SAME_GPU_TOLERANCE = Object.freeze({ tolerance: 1e-5, lossTolerance: 1e-5 })
export const CROSS_DEVICE_TOLERANCE = Object.freeze({ tolerance: 2e-3, lossTolerance: 1e-3 })
export const CROSS_CPU_TOLERANCE = Object.freeze({ tolerance: WEIGHT_TOLERANCE, lossTolerance: LOSS_TOLERANCE })

/**
 * Bit for bit only where a replay is bit-identical (one CPU class, or a receipt that names
 * no device: what every receipt was before devices, and the strictest reading); otherwise
 * the tolerance of the pair.
 */
export function verifyModeFor (worker: DeviceStamp | undefined, verifier: DeviceStamp): VerifyMode {
  if (worker === undefined) return 'exact'
  const same = sameDeviceClass(worker, verifier)
  if (same && worker.device === 'cpu') return 'exact'
  if (same) return { ...SAME_GPU_TOLERANCE }
  if (worker.device === 'cpu' && verifier.device === 'cpu') return { ...CROSS_CPU_TOLERANCE }
  return { ...CROSS_DEVICE_TOLERANCE }
}

/** Whether a replay on `verifier` can be compared state hash by state hash (a bisection's claims). */
export function bitExact (worker: DeviceStamp | undefined, verifier: DeviceStamp): boolean {
  return verifyModeFor(worker, verifier) === 'exact'
}
