// How a verifier compares its replay with a worker's checkpoint, by the two device stamps
// (compute/onnx/device-class.ts). Measured on this machine, one 50-step checkpoint segment
// replayed from the worker's own start checkpoint, compared group by group (bench
// cross-device and bench/RESULTS.md; bench determinism for the CPU kernels):
// - CPU kernels of one class reproduce bit for bit; another CPU's kernels drift 3.8e-7 on
//   weights and 6.2e-8 on a step's loss (WEIGHT_TOLERANCE 1e-5, LOSS_TOLERANCE 1e-6).
// - A GPU is not bit-reproducible even against itself (the classifier's embedding
//   gradient is a scatter-add whose order varies): WebGPU against WebGPU, 4 seeds x 3
//   segments, at worst 3.9e-7 on weights, 6.4e-7 on a moment, 5.1e-6 on a loss. Same GPU
//   class: 1e-3 on the state, 1e-4 on a loss (20x the loss drift).
// - A GPU against another class: WebGPU against the CPU, both ways, 3 seeds x 3 segments,
//   at worst 1.1e-3 on weights (a first segment: Adam's normalised step turns the tiniest
//   gradient difference of a near-zero coordinate into a whole step), 2.6e-4 on a moment,
//   1.1e-4 on a loss; one flywheel run's first segment drifted 2.2e-3 on weights. So 2e-2
//   on the state and 2e-3 on a loss: about 9x and 19x the worst seen.
// The loss is the sharp test: a skipped step changes the losses after it by far more
// (test/verify-devices.test.ts: off by 0.37 to 0.98), and its faked losses must be made
// up without the forward pass that would reveal them.
import { sameDeviceClass, type DeviceStamp } from '../onnx/device-class.ts'
import { LOSS_TOLERANCE, WEIGHT_TOLERANCE, type VerifyMode } from './training.ts'

export const SAME_GPU_TOLERANCE = Object.freeze({ tolerance: 1e-3, lossTolerance: 1e-4 })
export const CROSS_DEVICE_TOLERANCE = Object.freeze({ tolerance: 2e-2, lossTolerance: 2e-3 })
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
