// A job's fingerprint: sha256 of its description as canonical JSON (keys sorted), so
// the same data, model, hyper-parameters and seed always name the same run, and a
// checkpoint of one run is never resumed into another.

import { createHash } from 'node:crypto'

export function fingerprint (value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex')
}

export function canonicalJson (value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  })
}

/** sha256 hex of raw bytes (training data, token streams), for a job description. */
export function digestBytes (data: ArrayBufferView): string {
  return createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex')
}
