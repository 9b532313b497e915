// Bench flags: `--name value`, `--name=value` or a bare `--switch`, parsed strictly so
// that a typo fails loudly instead of silently measuring something else.
import { parseArgs } from 'node:util'
import { BenchUsageError } from './bench.ts'

export type FlagValues = Record<string, string | boolean | undefined>

/** Parses the flags named in `spec`; unknown flags and positionals are usage errors. */
export function parseFlags (args: string[], spec: Record<string, 'string' | 'boolean'>): FlagValues {
  try {
    const { values } = parseArgs({
      args,
      options: Object.fromEntries(Object.entries(spec).map(([n, type]) => [n, { type }])),
      strict: true,
      allowPositionals: false
    })
    return values as FlagValues
  } catch (err) {
    throw new BenchUsageError((err as Error).message)
  }
}

/** A numeric flag with a default and a lower bound; integer unless `integer` is false. */
export function numberFlag (values: FlagValues, name: string, dflt: number,
  opts: { min?: number, integer?: boolean } = {}): number {
  const raw = values[name]
  if (raw == null) return dflt
  const integer = opts.integer ?? true
  const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < (opts.min ?? -Infinity)) {
    throw new BenchUsageError(`--${name} must be ${integer ? 'an integer' : 'a number'}${opts.min != null ? ` >= ${opts.min}` : ''}, got "${String(raw)}"`)
  }
  return n
}
