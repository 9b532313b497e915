// `--device D` for the benches that time graphs (train, lora-serve): every session of the
// bench then opens on that device's provider, the baseline's included, so the ratio is
// against that provider's own MatMul rate. A missing device is a usage error with how to
// get it.
import { probeDevices } from '../../compute/capacity/device-probe.ts'
import { DEVICES, parseDeviceChoice, useDevice, type Device } from '../../compute/onnx/devices.ts'
import { BenchUsageError } from './bench.ts'

export const DEVICE_FLAG = `--device D   where every session runs: ${DEVICES.join(', ')} (default cpu)`

export async function benchDevice (value: unknown): Promise<Device> {
  if (value === undefined) return 'cpu'
  let choice
  try { choice = parseDeviceChoice(value) } catch (err) { throw new BenchUsageError((err as Error).message) }
  if (choice === 'auto') throw new BenchUsageError('--device takes a device, not auto: a bench measures the one you name')
  if (choice !== 'cpu') {
    const [probe] = await probeDevices([choice], { size: 64, chain: 2, runs: 1 })
    if (!probe.available) throw new BenchUsageError(`device ${choice} is unavailable: ${probe.error} (${probe.hint})`)
  }
  useDevice(choice)
  return choice
}
