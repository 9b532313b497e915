// Reads the static hardware facts a peer advertises. Everything returned is
// plain JSON; probes that can fail on some hosts (cpuinfo, nvidia-smi) degrade
// to "absent" instead of throwing, so a capacity advert is always producible.

import { execFile } from 'node:child_process'
import { readFile, statfs } from 'node:fs/promises'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { listSupportedBackends } from 'onnxruntime-node'

export interface CpuFlags {
  avx2: boolean
  avx512f: boolean
  fma: boolean
  neon: boolean
}

export interface GpuInfo {
  name: string
  memoryMiB: number
}

export interface HardwareFacts {
  cpu: { cores: number; model: string; flags?: CpuFlags }
  memory: { totalBytes: number; freeBytes: number }
  disk: { totalBytes: number; freeBytes: number }
  ort: { version: string; providers: string[] }
  gpus: GpuInfo[]
}

const NVIDIA_SMI_TIMEOUT_MS = 3_000

export async function measureHardware({ dataDir }: { dataDir: string }): Promise<HardwareFacts> {
  const [flags, disk, gpus] = await Promise.all([readCpuFlags(), measureDisk(dataDir), queryNvidiaGpus()])
  return {
    cpu: {
      cores: os.availableParallelism(),
      model: os.cpus()[0]?.model.trim() ?? 'unknown',
      ...(flags ? { flags } : {})
    },
    memory: { totalBytes: os.totalmem(), freeBytes: os.freemem() },
    disk,
    ort: {
      version: onnxruntimeVersion(),
      // Only providers bundled with this ORT build: the others (cuda, tensorrt) need
      // runtime libraries on the host, and an advert must not claim what may not load.
      providers: listSupportedBackends()
        .filter(backend => backend.bundled)
        .map(backend => backend.name)
    },
    gpus
  }
}

/** Parses `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits`; skips lines it cannot read. */
export function parseNvidiaSmiGpus(output: string): GpuInfo[] {
  const gpus: GpuInfo[] = []
  for (const line of output.split(/\r?\n/)) {
    // Split on the LAST comma: the memory column is numeric, the name is free text.
    const comma = line.lastIndexOf(',')
    if (comma < 0) continue
    const name = line.slice(0, comma).trim()
    const memoryText = line.slice(comma + 1).trim()
    if (!name || !/^\d+(\.\d+)?$/.test(memoryText)) continue
    gpus.push({ name, memoryMiB: Math.round(Number(memoryText)) })
  }
  return gpus
}

/** Presence of the SIMD extensions that decide MatMul speed; undefined where /proc/cpuinfo is unavailable. */
export function parseCpuFlags(cpuinfo: string): CpuFlags | undefined {
  // x86 lists them on "flags", ARM on "Features" (64-bit ARM calls NEON "asimd").
  const line = cpuinfo.split('\n').find(l => /^(flags|Features)\s*:/.test(l))
  if (!line) return undefined
  const flags = new Set(
    line
      .slice(line.indexOf(':') + 1)
      .trim()
      .split(/\s+/)
  )
  return {
    avx2: flags.has('avx2'),
    avx512f: flags.has('avx512f'),
    fma: flags.has('fma'),
    neon: flags.has('neon') || flags.has('asimd')
  }
}

async function readCpuFlags(): Promise<CpuFlags | undefined> {
  try {
    return parseCpuFlags(await readFile('/proc/cpuinfo', 'utf8'))
  } catch {
    return undefined
  }
}

async function measureDisk(dataDir: string): Promise<HardwareFacts['disk']> {
  const stats = await statfs(await nearestExistingDir(dataDir))
  // bavail, not bfree: blocks reserved for root are not usable by the peer.
  return { totalBytes: stats.blocks * stats.bsize, freeBytes: stats.bavail * stats.bsize }
}

/** The data dir may not be created yet on first start; its nearest existing ancestor sits on the same filesystem in practice. */
async function nearestExistingDir(dir: string): Promise<string> {
  let current = path.resolve(dir)
  for (;;) {
    try {
      await statfs(current)
      return current
    } catch (err) {
      const parent = path.dirname(current)
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === current) throw err
      current = parent
    }
  }
}

function queryNvidiaGpus(): Promise<GpuInfo[]> {
  return new Promise(resolve => {
    execFile(
      'nvidia-smi',
      ['--query-gpu=name,memory.total', '--format=csv,noheader,nounits'],
      { timeout: NVIDIA_SMI_TIMEOUT_MS, windowsHide: true },
      // No nvidia-smi (ENOENT), no driver, or a hung driver (timeout): report no GPUs.
      (err, stdout) => resolve(err ? [] : parseNvidiaSmiGpus(stdout))
    )
  })
}

function onnxruntimeVersion(): string {
  const require = createRequire(import.meta.url)
  return (require('onnxruntime-node/package.json') as { version: string }).version
}
