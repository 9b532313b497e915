// Which devices this peer can run graphs on, measured rather than assumed: each
// candidate's provider opens the MatMul-chain benchmark, runs it, and its output is
// compared with the CPU's (a provider that starts but computes wrongly is not a device).
// `auto` then picks the fastest device that passed.

import { DEVICE_HINTS, DEVICES, DeviceUnavailableError, providerBundled, type Device, type DeviceChoice } from '../onnx/devices.ts'
import { measureMatmulGflops } from './matmul-bench.ts'

export interface DeviceProbe {
  device: Device
  available: boolean
  /** Median float32 GFLOP/s of the MatMul chain on this device's provider. */
  gflops?: number
  /** Largest |device - cpu| / max|cpu| over the chain's output. */
  drift?: number
  /** Why it is unavailable, and how to get it. */
  error?: string
  hint?: string
}

/** Largest relative drift a device may show on the MatMul chain before it is refused. */
export const MAX_PROBE_DRIFT = 1e-3

export interface ProbeOptions { size?: number, chain?: number, runs?: number, threads?: number }

export async function probeDevices (devices: readonly Device[] = DEVICES, opts: ProbeOptions = {}): Promise<DeviceProbe[]> {
  const bench = { size: opts.size ?? 256, chain: opts.chain ?? 4, runs: opts.runs ?? 3, threads: opts.threads }
  const cpu = await measureMatmulGflops({ ...bench, device: 'cpu' })
  const out: DeviceProbe[] = []
  for (const device of devices) {
    if (device === 'cpu') { out.push({ device, available: true, gflops: cpu.gflops, drift: 0 }); continue }
    if (!providerBundled(device)) { out.push({ device, available: false, error: 'its onnxruntime execution provider is not installed', hint: DEVICE_HINTS[device] }); continue }
    try {
      const r = await measureMatmulGflops({ ...bench, device })
      let scale = 0
      let diff = 0
      for (let i = 0; i < cpu.sample.length; i++) { scale = Math.max(scale, Math.abs(cpu.sample[i])); diff = Math.max(diff, Math.abs(r.sample[i] - cpu.sample[i])) }
      const drift = diff / Math.max(scale, 1e-30)
      out.push(Number.isFinite(drift) && drift <= MAX_PROBE_DRIFT
        ? { device, available: true, gflops: r.gflops, drift }
        : { device, available: false, drift, error: `its MatMul chain differs from the CPU's by ${drift.toExponential(2)} (limit ${MAX_PROBE_DRIFT})`, hint: DEVICE_HINTS[device] })
    } catch (err) {
      out.push({ device, available: false, error: `its provider would not start: ${(err as Error).message.slice(0, 300)}`, hint: DEVICE_HINTS[device] })
    }
  }
  return out
}

/**
 * The device a peer runs on: the one asked for (refused with its hint when the probe
 * found it unavailable), or for `auto` the fastest available (the CPU when no other is).
 */
export function pickDevice (choice: DeviceChoice, probes: readonly DeviceProbe[]): { device: Device, reason: string } {
  if (choice !== 'auto') {
    const p = probes.find(x => x.device === choice)
    if (choice !== 'cpu' && (p === undefined || !p.available)) throw new DeviceUnavailableError(choice, p?.error ?? 'it was not probed')
    return { device: choice, reason: 'asked for' }
  }
  const usable = probes.filter(p => p.available && p.gflops !== undefined)
  if (usable.length === 0) return { device: 'cpu', reason: 'no device measured: the CPU' }
  const best = usable.reduce((a, b) => (b.gflops as number) > (a.gflops as number) ? b : a)
  const others = probes.filter(p => p.device !== best.device).map(p => p.available ? `${p.device} ${(p.gflops as number).toFixed(1)} GFLOP/s` : `${p.device} unavailable`)
  return { device: best.device, reason: `fastest measured: ${best.device} ${(best.gflops as number).toFixed(1)} GFLOP/s${others.length > 0 ? ` (${others.join(', ')})` : ''}` }
}
