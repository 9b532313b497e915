// The devices a graph can run on, and how each reaches onnxruntime: its execution
// provider, whether this onnxruntime-node build carries it, and what a user must do when
// it is missing. A session opened on a device uses only that provider (no silent CPU
// fallback of the whole graph: ORT still places ops the provider lacks on the CPU).

import { mkdirSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { listSupportedBackends } from 'onnxruntime-node'

import { DEVICES, type Device, type DeviceChoice } from './device-names.ts'

export { DEVICES, type Device, type DeviceChoice }

/** What each device needs on a machine, and how to get it (the message a user sees when it is missing). */
export const DEVICE_HINTS: Readonly<Record<Device, string>> = Object.freeze({
  cpu: 'always available',
  webgpu: 'needs a Vulkan driver: a GPU driver (NVIDIA, AMD, Intel), or on a machine without a GPU Mesa\'s lavapipe, mesa-vulkan-drivers >= 25 (Debian bookworm-backports) with libvulkan1',
  cuda: 'not in this onnxruntime-node install: reinstall it with the CUDA provider (npm install --onnxruntime-node-install=cuda12, needs NVIDIA\'s CUDA 12 driver and internet)'
})

export class UnknownDeviceError extends Error {
  override name = 'UnknownDeviceError'
  readonly value: unknown
  constructor (value: unknown) {
    super(`unknown device ${JSON.stringify(value)}: use one of auto, ${DEVICES.join(', ')}`)
    this.value = value
  }
}

/** The device was asked for but its provider is missing or would not start. */
export class DeviceUnavailableError extends Error {
  override name = 'DeviceUnavailableError'
  readonly device: Device
  readonly hint: string
  constructor (device: Device, reason: string, opts: { cause?: unknown } = {}) {
    super(`device ${device} is unavailable: ${reason} (${DEVICE_HINTS[device]})`, opts)
    this.device = device
    this.hint = DEVICE_HINTS[device]
  }
}

// The device this process runs its graphs on unless a session names another. A peer is
// one process on one device (its receipts name that device class); `node start --device`
// sets it once at start-up, before any session opens.
let processDevice: Device = 'cpu'
export function useDevice (device: Device): void {
  if (!(DEVICES as readonly string[]).includes(device)) throw new UnknownDeviceError(device)
  if (device !== 'cpu' && !providerBundled(device)) throw new DeviceUnavailableError(device, 'its onnxruntime execution provider is not installed')
  processDevice = device
}

export function currentDevice (): Device {
  return processDevice
}

export function parseDeviceChoice (value: unknown): DeviceChoice {
  if (value === 'auto' || (DEVICES as readonly unknown[]).includes(value)) return value as DeviceChoice
  throw new UnknownDeviceError(value)
}

/** Whether this onnxruntime-node build carries the device's provider (bundled, not merely known). */
export function providerBundled (device: Device): boolean {
  if (device === 'cpu') return true
  return listSupportedBackends().some(b => b.name === device && b.bundled)
}

/** The execution providers a session on `device` is opened with. */
export function executionProviders (device: Device): string[] {
  if (device !== 'cpu' && !providerBundled(device)) throw new DeviceUnavailableError(device, 'its onnxruntime execution provider is not installed')
  if (device === 'webgpu') ensureRuntimeDir()
  return [device]
}

/**
 * Mesa's Vulkan loader wants XDG_RUNTIME_DIR (a private, writable folder) and prints
 * errors without it; a service started outside a login session has none.
 */
function ensureRuntimeDir (): void {
  if (process.env.XDG_RUNTIME_DIR !== undefined && process.env.XDG_RUNTIME_DIR !== '') return
  const dir = join(os.tmpdir(), `openledger-runtime-${process.getuid?.() ?? 'user'}`)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  process.env.XDG_RUNTIME_DIR = dir
}
