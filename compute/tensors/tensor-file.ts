// Named float32 tensors as bytes, in the safetensors layout (an 8-byte little-endian
// header length, a JSON header naming each tensor's dtype, shape and byte range, then
// the raw data), so a model or adapter file opens in any safetensors reader. Our own
// metadata travels as one JSON string under `__metadata__.openledger`. Encoding is
// deterministic (insertion order, no timestamps): the same tensors give the same CID.
// Decoding trusts nothing: sizes, ranges, shapes and the JSON are all checked.

import { MalformedArtifactError } from '../errors.ts'
import { sizeOf, type ParamSet } from './param-set.ts'

const HEADER_ALIGN = 8
/** Far more than a few thousand tensor names need; refuses a header that claims gigabytes. */
const MAX_HEADER_BYTES = 16 * 1024 * 1024
const META_KEY = 'openledger'

export function encodeTensors (params: ParamSet, meta: unknown): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { [META_KEY]: JSON.stringify(meta) } }
  let offset = 0
  for (const [name, t] of params) {
    if (name === '__metadata__') throw new MalformedArtifactError('a tensor may not be named __metadata__')
    if (t.data.length !== sizeOf(t.shape)) throw new MalformedArtifactError(`tensor ${name} does not match its shape`, { name, shape: t.shape })
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] }
    offset += t.data.byteLength
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8')
  const padded = Math.ceil(json.length / HEADER_ALIGN) * HEADER_ALIGN
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)])
  const out = new Uint8Array(8 + json.length + offset)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
  out.set(json, 8)
  let at = 8 + json.length
  for (const t of params.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at)
    at += t.data.byteLength
  }
  return out
}

export function decodeTensors (bytes: Uint8Array, opts: { maxBytes: number }): { params: ParamSet, meta: unknown } {
  const bad = (message: string, details: Record<string, unknown> = {}) => new MalformedArtifactError(message, details)
  if (bytes.byteLength > opts.maxBytes) throw bad('tensor file too large', { bytes: bytes.byteLength, max: opts.maxBytes })
  if (bytes.byteLength < 8) throw bad('tensor file truncated', { bytes: bytes.byteLength })
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true))
  if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > bytes.byteLength) throw bad('tensor file header length is out of range', { headerLen, bytes: bytes.byteLength })
  let header: unknown
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)))
  } catch (err) {
    throw bad('tensor file header is not JSON', { cause: (err as Error).message })
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw bad('tensor file header is not an object')

  const dataStart = 8 + headerLen
  const dataLen = bytes.byteLength - dataStart
  let meta: unknown
  const entries: Array<{ name: string, shape: number[], begin: number, end: number }> = []
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      const text = (value as Record<string, unknown> | null)?.[META_KEY]
      if (typeof text !== 'string') throw bad('tensor file has no openledger metadata')
      try {
        meta = JSON.parse(text)
      } catch {
        throw bad('tensor file metadata is not JSON')
      }
      continue
    }
    const v = value as { dtype?: unknown, shape?: unknown, data_offsets?: unknown } | null
    if (v === null || typeof v !== 'object') throw bad(`tensor ${name} has no description`, { name })
    if (v.dtype !== 'F32') throw bad(`tensor ${name} is not float32`, { name, dtype: v.dtype })
    const shape = v.shape
    if (!Array.isArray(shape) || shape.length > 8 || !shape.every(d => Number.isSafeInteger(d) && d >= 0)) throw bad(`tensor ${name} has a bad shape`, { name, shape })
    const range = v.data_offsets
    if (!Array.isArray(range) || range.length !== 2 || !range.every(o => Number.isSafeInteger(o) && o >= 0)) throw bad(`tensor ${name} has bad offsets`, { name })
    const [begin, end] = range as number[]
    if (end < begin || end > dataLen) throw bad(`tensor ${name} lies outside the file`, { name, begin, end, dataLen })
    if (end - begin !== sizeOf(shape as number[]) * 4) throw bad(`tensor ${name} byte range does not match its shape`, { name, shape })
    entries.push({ name, shape: shape as number[], begin, end })
  }
  if (meta === undefined) throw bad('tensor file has no openledger metadata')

  // The byte ranges must tile the data section exactly: no overlaps, no gaps, no trailer.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin)
  let expected = 0
  for (const e of sorted) {
    if (e.begin !== expected) throw bad('tensor byte ranges overlap or leave gaps', { name: e.name })
    expected = e.end
  }
  if (expected !== dataLen) throw bad('tensor file has trailing bytes', { trailing: dataLen - expected })

  const params: ParamSet = new Map()
  for (const e of entries) {
    // Copy: the file's bytes need not be 4-byte aligned, and the caller may reuse them.
    const data = new Float32Array(sizeOf(e.shape))
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart + e.begin, dataStart + e.end))
    params.set(e.name, { shape: e.shape, data })
  }
  return { params, meta }
}
