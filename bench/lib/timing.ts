// The timing loop: warm-up, then repetitions of every case interleaved (A B A B ...),
// so that machine noise (other tenants, frequency changes, GC) hits all cases alike.
import { performance } from 'node:perf_hooks'
import { median } from './stats.ts'

export interface TimedCase {
  /** Does `ops` operations once. Timed as a whole; setup belongs outside or in `prepare`. */
  run: (ops: number) => void | Promise<void>
  /** Untimed setup before each repetition (e.g. a fresh replay guard, fresh inputs). */
  prepare?: (ops: number) => void | Promise<void>
}

export interface AlternateOptions {
  /** Operations per repetition. */
  ops: number
  /** Timed repetitions of each case (>= 5 per BENCHMARKS.md). */
  reps: number
  /** Untimed repetitions of each case first (JIT, caches, precomputed tables). */
  warmupReps: number
  /** Keep warming up (whole rounds) until at least this long has passed in total. */
  warmupMinMs?: number
  /** Called after every timed repetition, e.g. for progress on stderr. */
  onRep?: (name: string, rep: number, opsPerSec: number) => void
}

export interface CaseTimings {
  /** Ops per second of each timed repetition, in run order. */
  opsPerSec: number[]
  medianOpsPerSec: number
  /** Median wall time of one operation, microseconds. */
  medianUsPerOp: number
}

async function timeOnce (c: TimedCase, ops: number): Promise<number> {
  await c.prepare?.(ops)
  const t0 = performance.now()
  await c.run(ops)
  const ms = performance.now() - t0
  return ops / (ms / 1000)
}

/** Warm every case up, then time them round-robin; returns per-case timings. */
export async function alternate<K extends string> (cases: Record<K, TimedCase>, opts: AlternateOptions): Promise<Record<K, CaseTimings>> {
  if (opts.reps < 1 || opts.ops < 1) throw new RangeError('reps and ops must be >= 1')
  const names = Object.keys(cases) as K[]
  const warmStart = performance.now()
  for (let w = 0; w < opts.warmupReps || performance.now() - warmStart < (opts.warmupMinMs ?? 0); w++) {
    for (const name of names) await timeOnce(cases[name], opts.ops)
  }
  const samples = Object.fromEntries(names.map(n => [n, [] as number[]])) as Record<K, number[]>
  for (let r = 0; r < opts.reps; r++) {
    for (const name of names) {
      const rate = await timeOnce(cases[name], opts.ops)
      samples[name].push(rate)
      opts.onRep?.(name, r, rate)
    }
  }
  return Object.fromEntries(names.map(n => {
    const m = median(samples[n])
    return [n, { opsPerSec: samples[n], medianOpsPerSec: m, medianUsPerOp: 1e6 / m }]
  })) as Record<K, CaseTimings>
}
