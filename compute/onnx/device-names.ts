// The device names alone, without loading onnxruntime (the CLI's option parser needs them).
export const DEVICES = ['cpu', 'webgpu', 'cuda'] as const
export type Device = typeof DEVICES[number]
/** What a user asks for: a device, or `auto` (the fastest one the peer measured). */
export type DeviceChoice = Device | 'auto'
