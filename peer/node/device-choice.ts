// The device a peer's graphs run on, chosen once at start-up before any session opens:
// `cpu` (the default: no probe), a named device (probed, refused with how to get it when
// it is missing or computes wrongly), or `auto` (every device probed, the fastest kept).
import { pickDevice, probeDevices, type DeviceProbe } from '../../compute/capacity/device-probe.ts'
import { DEVICES, DeviceUnavailableError, useDevice, type Device, type DeviceChoice } from '../../compute/onnx/devices.ts'
import { EXIT, PeerError } from '../errors.ts'

export class DeviceChoiceError extends PeerError {
  constructor (message: string, details?: Record<string, unknown>) { super(message, EXIT.failure, details) }
}

export interface ChosenDevice { device: Device, reason: string, probes: DeviceProbe[] }

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
