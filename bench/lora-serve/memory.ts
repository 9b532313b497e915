// Memory readings for the lora-serve bench: RSS and ArrayBuffer bytes after a full
// garbage collection, so that "growth per 1000 adapters" is what the adapters hold.

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

let gcFn: (() => void) | null | undefined

/** Node's gc(), made available at run time (no --expose-gc needed); null if refused. */
function gc (): (() => void) | null {
  if (gcFn === undefined) {
    try {
      setFlagsFromString('--expose-gc')
      gcFn = runInNewContext('gc') as () => void
    } catch {
      gcFn = null
    }
  }
  return gcFn
}

export interface MemoryReading {
  rss: number
  arrayBuffers: number
  heapUsed: number
  /** Whether a full GC ran first. */
  collected: boolean
}

export function memoryNow (): MemoryReading {
  const f = gc()
  if (f !== null) { f(); f() }
  const m = process.memoryUsage()
  return { rss: m.rss, arrayBuffers: m.arrayBuffers, heapUsed: m.heapUsed, collected: f !== null }
}
