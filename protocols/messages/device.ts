// Devices as messages name them: the providers a peer's graphs can run on (the same list
// as compute/onnx/device-names.ts, which test/devices.test.ts holds them to; protocols/
// does not import the engines), and the stamp a bid states: provider, onnxruntime build,
// hardware, and the MatMul rate the peer measured there.
import { z } from 'zod'

export const DEVICE_NAMES = ['cpu', 'webgpu', 'cuda'] as const

export const deviceName = z.enum(DEVICE_NAMES)
/** A measured rate: finite, >= 0, below anything real (1 EFLOP/s). */
export const gflops = z.number().nonnegative().max(1e9)

export const bidDeviceSchema = z.strictObject({
  device: deviceName,
  ort: z.string().regex(/^[0-9A-Za-z.+-]{1,32}$/),
  hardware: z.string().min(1).max(160).regex(/^[\x20-\x7e]+$/, 'printable ASCII'),
  gflops
})
export type BidDevice = z.infer<typeof bidDeviceSchema>

/** What a requester asks of its worker's device. */
export const deviceNeedsSchema = z.strictObject({
  device: deviceName.optional(),
  minGflops: z.number().positive().max(1e9).optional()
})
export type DeviceNeeds = z.infer<typeof deviceNeedsSchema>
