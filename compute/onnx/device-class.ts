// What a receipt says about the hardware that computed it. A replay is bit-identical only
// on the same device class: the same provider, the same onnxruntime build and the same
// hardware (its kernels, lane widths, reduction orders). Two stamps of one class are
// checked bit for bit; two classes within the drift measured for that pair of providers
// (compute/verify/device-tolerance.ts).
//
// The stamp is the worker's own claim: nothing proves which card computed a run. A worker
// that names another class gains only the tolerance of that pair, which a skipped step
// still exceeds (test/verify-devices.test.ts).
import os from 'node:os'
import { env } from 'onnxruntime-node'
import { currentDevice } from './devices.ts'
import { deviceClassName, MAX_HARDWARE_CHARS, type Device, type DeviceStamp } from './device-names.ts'

export { deviceClassName, MAX_HARDWARE_CHARS, type DeviceStamp }

/**
 * The stamp of the process's device (or `device`, computed here). A GPU is not named yet
 * ("unnamed"): onnxruntime does not say which adapter its WebGPU provider picked.
 */
export function deviceStamp (device: Device = currentDevice()): DeviceStamp {
  const hardware = device === 'cpu' ? cpuName() : 'unnamed'
  return { device, ort: env.versions.node ?? env.versions.common, hardware: clean(hardware) }
}

export function sameDeviceClass (a: DeviceStamp, b: DeviceStamp): boolean {
  return a.device === b.device && a.ort === b.ort && a.hardware === b.hardware
}

function cpuName (): string {
  const model = os.cpus()[0]?.model?.trim()
  return `${os.arch()} ${model !== undefined && model !== '' ? model : 'unknown'}`
}

/** Printable ASCII, single spaces, capped: it travels in receipts and bids. */
function clean (s: string): string {
  const out = s.replace(/[^\x20-\x7e]/g, '').replace(/\s+/g, ' ').trim().slice(0, MAX_HARDWARE_CHARS)
  return out === '' ? 'unnamed' : out
}
