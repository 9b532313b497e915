// Where onnxruntime actually ran each op. A session on a GPU provider still places the
// ops that provider lacks on the CPU (and copies tensors across for them); ORT's own
// profile (one JSON event per kernel run, with its provider) says which ops and how much
// of the time. Used by the benches to report a device's CPU fallbacks.
import { readdir, readFile, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

export interface ProviderShare {
  /** Kernel runs on this provider. */
  kernels: number
  /** Summed kernel time, in ms. */
  ms: number
  /** Its share of all kernel time. */
  share: number
  /** The op types it ran. */
  ops: string[]
}

/** Per execution provider (e.g. CPUExecutionProvider, WebGpuExecutionProvider). */
export type Placement = Record<string, ProviderShare>

/** Summarises an ORT profile (the array of trace events ORT writes with enableProfiling). */
export function placementOf (events: unknown): Placement {
  if (!Array.isArray(events)) throw new TypeError('an onnxruntime profile is an array of events')
  const acc = new Map<string, { kernels: number, us: number, ops: Set<string> }>()
  let total = 0
  for (const e of events as Array<{ cat?: unknown, name?: unknown, dur?: unknown, args?: { provider?: unknown, op_name?: unknown } } | null>) {
    if (e === null || typeof e !== 'object' || e.cat !== 'Node' || typeof e.name !== 'string' || !e.name.endsWith('_kernel_time')) continue
    const provider = typeof e.args?.provider === 'string' ? e.args.provider : 'unknown'
    const dur = typeof e.dur === 'number' && Number.isFinite(e.dur) ? e.dur : 0
    const r = acc.get(provider) ?? { kernels: 0, us: 0, ops: new Set<string>() }
    r.kernels++
    r.us += dur
    if (typeof e.args?.op_name === 'string') r.ops.add(e.args.op_name)
    acc.set(provider, r)
    total += dur
  }
  return Object.fromEntries([...acc].map(([p, r]) => [p, { kernels: r.kernels, ms: r.us / 1000, share: total > 0 ? r.us / total : 0, ops: [...r.ops].sort() }]))
}

/** Reads (and removes) the profiles ORT wrote under `prefix` (its file names add a timestamp), merged. */
export async function readPlacement (prefix: string): Promise<Placement> {
  const dir = dirname(prefix)
  const files = (await readdir(dir)).filter(f => f.startsWith(basename(prefix)) && f.endsWith('.json'))
  const events: unknown[] = []
  for (const f of files) {
    const parsed = JSON.parse(await readFile(join(dir, f), 'utf8')) as unknown
    if (Array.isArray(parsed)) events.push(...parsed)
    await rm(join(dir, f), { force: true })
  }
  return placementOf(events)
}
