// Finds the benches: every bench/<name>.bench.ts module exporting { name, description, run }.
import { readdir } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { join } from 'node:path'
import type { Bench } from './bench.ts'

const BENCH_DIR = fileURLToPath(new URL('../', import.meta.url))
const SUFFIX = '.bench.ts'

export async function benchNames (): Promise<string[]> {
  const files = await readdir(BENCH_DIR)
  return files.filter(f => f.endsWith(SUFFIX)).map(f => f.slice(0, -SUFFIX.length)).sort()
}

export async function loadBench (name: string): Promise<Bench> {
  const mod = await import(pathToFileURL(join(BENCH_DIR, name + SUFFIX)).href) as Partial<Bench>
  if (typeof mod.name !== 'string' || typeof mod.description !== 'string' || typeof mod.run !== 'function') {
    throw new Error(`bench/${name}${SUFFIX} must export name, description and run(args)`)
  }
  if (mod.name !== name) throw new Error(`bench/${name}${SUFFIX} exports name "${mod.name}"; it must match the file name`)
  return mod as Bench
}
