// The device names alone, without loading onnxruntime (the CLI's option parser needs them).
export const DEVICES = ['cpu', 'webgpu', 'cuda'] as const
export type Device = typeof DEVICES[number]
/** What a user asks for: a device, or `auto` (the fastest one the peer measured). */
export type DeviceChoice = Device | 'auto'

/** What a receipt or a bid says of the hardware that computes (compute/onnx/device-class.ts). */
export interface DeviceStamp {
  device: Device
  /** The onnxruntime-node version (its kernels). */
  ort: string
  /** The CPU model for `cpu`; the GPU's name for the others ("unnamed" when the peer could not read it). */
  hardware: string
}

export const MAX_HARDWARE_CHARS = 160

/** A device class as one string (logs, the dashboard, the assignment rule's referee match): `webgpu/NVIDIA L4/ort 1.30.0`. */
export function deviceClassName (s: DeviceStamp): string {
  return `${s.device}/${s.hardware}/ort ${s.ort}`
}
