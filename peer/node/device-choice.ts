// The device a peer's graphs run on, chosen once at start-up before any session opens:
// `cpu` (the default: no probe), a named device (probed, refused with how to get it when
// it is missing or computes wrongly), or `auto` (every device probed, the fastest kept).
import { pickDevice, probeDevices, type DeviceProbe } from '../../compute/capacity/device-probe.ts'
import type { CapacityFacts } from '../../compute/capacity/index.ts'
import { DEVICES, DeviceUnavailableError, useDevice, type Device, type DeviceChoice } from '../../compute/onnx/devices.ts'
import { DeviceChoiceError } from '../errors.ts'

export { DeviceChoiceError }

export interface ChosenDevice { device: Device, reason: string, probes: DeviceProbe[] }

/**
 * The devices a peer's advert lists: each one the start-up probe found available, with
 * its rate, and which is in use. Without a probe (`--device cpu`), the CPU alone at the
 * capacity benchmark's rate.
 */
export function advertisedDevices (facts: CapacityFacts, chosen?: ChosenDevice): NonNullable<CapacityFacts['devices']> {
  const inUse = chosen?.device ?? 'cpu'
  const probed = (chosen?.probes ?? []).filter(p => p.available && p.gflops !== undefined && p.device !== 'cpu')
  return [{ device: 'cpu', gflops: facts.ort.matmulGflops, inUse: inUse === 'cpu' }, ...probed.map(p => ({ device: p.device, gflops: p.gflops as number, inUse: inUse === p.device }))]
}

/**
 * How many times slower than this machine's CPU the chosen device ran the start-up probe
 * (1 when it is the CPU, unprobed, or faster): the compute part of a bid's time estimate is stretched by it,
 * so a slow device (lavapipe emulates a GPU on the CPU) is not declared silent halfway
 * through its honest work.
 */
export function slowdownOf (chosen?: ChosenDevice): number {
  if (chosen === undefined || chosen.device === 'cpu') return 1
  const cpu = chosen.probes.find(p => p.device === 'cpu')?.gflops
  const mine = chosen.probes.find(p => p.device === chosen.device)?.gflops
  if (cpu === undefined || mine === undefined || !(mine > 0)) return 1
  return Math.max(1, cpu / mine)
}

export async function chooseDevice (choice: DeviceChoice, opts: { threads?: number, log?: (msg: string, fields?: Record<string, unknown>) => void } = {}): Promise<ChosenDevice> {
  if (choice === 'cpu') {
    useDevice('cpu')
    return { device: 'cpu', reason: 'asked for', probes: [] }
  }
  const probes = await probeDevices(choice === 'auto' ? DEVICES : ['cpu', choice], { threads: opts.threads })
  for (const p of probes) opts.log?.('device probe', Object.fromEntries(Object.entries({ device: p.device, available: p.available, gflops: p.gflops, drift: p.drift, error: p.error }).filter(([, v]) => v !== undefined)))
  try {
    const { device, reason } = pickDevice(choice, probes)
    useDevice(device)
    opts.log?.('device', { device, reason })
    return { device, reason, probes }
  } catch (err) {
    if (err instanceof DeviceUnavailableError) throw new DeviceChoiceError(err.message, { device: err.device, hint: err.hint })
    throw err
  }
}
