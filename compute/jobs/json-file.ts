// The parts every JSON job file shares (prompts, outputs, receipts, attribution
// results): a size cap before parsing, strict UTF-8 and JSON, a schema check, and the
// canonical-bytes test that lets one content have one CID. Each file's errors are its
// own typed class, passed in.
import type { z } from 'zod'

export type FileErrorClass = new (message: string, details?: Record<string, unknown>) => Error

/** The JSON value of `bytes`, refused with `Err` when too large, not UTF-8 or not JSON. */
export function parseJsonFile (bytes: Uint8Array, max: number, file: string, Err: FileErrorClass): unknown {
  if (!(bytes instanceof Uint8Array)) throw new Err(`${file} file is not bytes`, { file })
  if (bytes.byteLength > max) throw new Err(`${file} file too large`, { file, bytes: bytes.byteLength, max })
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new Err(`${file} file is not UTF-8`, { file })
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new Err(`${file} file is not JSON`, { file, reason: (err as Error).message })
  }
}

/** `value` checked against `schema` (named `format` in the error), refused with `Err`. */
export function checkJsonFile<S extends z.ZodType> (schema: S, value: unknown, file: string, format: string, Err: FileErrorClass): z.infer<S> {
  const r = schema.safeParse(value)
  if (!r.success) throw new Err(`${file} file does not match ${format}`, { file, issues: r.error.issues.slice(0, 5).map(i => `${i.path.join('.')}: ${i.message}`) })
  return r.data
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

export function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}
