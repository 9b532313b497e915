// Describes the machine a bench ran on: cores, CPU model and the SIMD flags that
// matter, Node, and the versions of the libraries the figures depend on.
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface MachineInfo {
  cores: number
  cpuModel: string
  cpuFlags: { avx2: boolean, avx512f: boolean, fma: boolean }
  node: string
  platform: string
  libs: Record<string, string | null>
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Libraries every bench reports; benches may add their own. */
export const DEFAULT_LIBS = ['libp2p', '@noble/curves', '@noble/hashes', 'msgpackr', 'msgpackr-extract', 'zod']

/** Version from node_modules/<name>/package.json (read as a file: `exports` may hide it). */
export function libVersion (name: string): string | null {
  try {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string }
    return pkg.version ?? null
  } catch {
    return null
  }
}

function cpuFlags (): MachineInfo['cpuFlags'] {
  let set = new Set<string>()
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find(l => /^(flags|Features)\s*:/.test(l))
    if (line != null) set = new Set(line.slice(line.indexOf(':') + 1).trim().split(/\s+/))
  } catch {}
  return { avx2: set.has('avx2'), avx512f: set.has('avx512f'), fma: set.has('fma') }
}

export function machineInfo (libs: readonly string[] = DEFAULT_LIBS): MachineInfo {
  return {
    cores: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cpuFlags: cpuFlags(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    libs: Object.fromEntries([...new Set(libs)].map(name => [name, libVersion(name)]))
  }
}

/** One line for humans: "2 cores, AMD EPYC (avx2 fma), node v24.21.0, linux-x64". */
export function machineLine (m: MachineInfo): string {
  const flags = Object.entries(m.cpuFlags).filter(([, on]) => on).map(([f]) => f).join(' ')
  return `${m.cores} cores, ${m.cpuModel}${flags !== '' ? ` (${flags})` : ''}, node ${m.node}, ${m.platform}`
}
