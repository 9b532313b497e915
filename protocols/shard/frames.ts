// Framing of /openledger/shard/1.0.0: every frame is an unsigned-varint length, then
// that many bytes. The first byte of a response frame says what it is:
//   0x00 BLOCK  cid bytes (binary CID, self-delimiting) || block bytes
//   0x01 ERROR  msgpack [errorName, message]
//   0x02 END    msgpack [blocks, bytes]: what the responder sent
// The request is one frame of msgpack [1, [cid bytes, ...]]. A binary CID needs no
// length of its own (a CIDv0 is a 34-byte sha2-256 multihash, a CIDv1 starts with
// varints), so a block costs 1 + 34..36 bytes of framing and nothing is encoded twice.
import type { Stream } from '@libp2p/interface'
import { decode, encode } from '../codec.ts'
import { MalformedMessageError, MessageTooLargeError, RequestTimeoutError } from '../errors.ts'

export const KIND_BLOCK = 0
export const KIND_ERROR = 1
export const KIND_END = 2
export const REQUEST_VERSION = 1

/** Bytes of an unsigned LEB128 varint for n. */
export function varintLength (n: number): number {
  let len = 1
  while (n >= 0x80) { n = Math.floor(n / 128); len++ }
  return len
}

export function writeVarint (n: number, out: Uint8Array, offset: number): number {
  while (n >= 0x80) {
    out[offset++] = (n & 0x7f) | 0x80
    n = Math.floor(n / 128)
  }
  out[offset++] = n
  return offset
}

/** One frame: varint(len) || payload. */
export function frame (payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(varintLength(payload.byteLength) + payload.byteLength)
  out.set(payload, writeVarint(payload.byteLength, out, 0))
  return out
}

/** An uninitialised BLOCK frame for a block of `size` bytes: header written, the
 *  block's bytes to be put in its last `size` bytes. */
export function blockFrameFor (cid: Uint8Array, size: number): Uint8Array {
  const len = 1 + cid.byteLength + size
  const buf = Buffer.allocUnsafe(varintLength(len) + len)
  const out = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
  let o = writeVarint(len, out, 0)
  out[o++] = KIND_BLOCK
  out.set(cid, o)
  return out
}

/** A BLOCK frame built from the chunks a blockstore hands out: one copy. */
export function blockFrame (cid: Uint8Array, chunks: readonly Uint8Array[], size: number): Uint8Array {
  const out = blockFrameFor(cid, size)
  let o = out.byteLength - size
  for (const c of chunks) { out.set(c, o); o += c.byteLength }
  return out
}

function tagged (kind: number, value: unknown): Uint8Array {
  const body = encode(value)
  const payload = new Uint8Array(1 + body.byteLength)
  payload[0] = kind
  payload.set(body, 1)
  return frame(payload)
}

export function errorFrame (name: string, message: string): Uint8Array {
  return tagged(KIND_ERROR, [name, message.slice(0, 200)])
}

export function endFrame (blocks: number, bytes: number): Uint8Array {
  return tagged(KIND_END, [blocks, bytes])
}

export function requestFrame (roots: readonly Uint8Array[]): Uint8Array {
  return frame(encode([REQUEST_VERSION, roots]))
}

/** The roots of a request frame, shape-checked; the caller checks each is a CID. */
export function parseRequest (payload: Uint8Array, maxBytes: number, maxRoots: number): Uint8Array[] {
  const value = decode(payload, maxBytes)
  if (!Array.isArray(value) || value.length !== 2 || value[0] !== REQUEST_VERSION || !Array.isArray(value[1])) {
    throw new MalformedMessageError('bad shard request', { expected: '[1, [cid, ...]]' })
  }
  const roots = value[1] as unknown[]
  if (roots.length === 0) throw new MalformedMessageError('shard request names no root')
  if (roots.length > maxRoots) throw new MessageTooLargeError('too many roots in one request', { roots: roots.length, max: maxRoots })
  for (const r of roots) if (!(r instanceof Uint8Array)) throw new MalformedMessageError('a root is not bytes')
  return roots as Uint8Array[]
}

/** msgpack [name, message] of an ERROR frame (after the kind byte). */
export function parseError (body: Uint8Array): { name: string, message: string } {
  const value = decode(body, 1024)
  if (!Array.isArray(value) || typeof value[0] !== 'string' || value[0].length > 64) {
    throw new MalformedMessageError('bad error frame')
  }
  return { name: value[0], message: String(value[1] ?? '').slice(0, 200) }
}

/** msgpack [blocks, bytes] of an END frame. */
export function parseEnd (body: Uint8Array): { blocks: number, bytes: number } {
  const value = decode(body, 64)
  if (!Array.isArray(value) || !Number.isSafeInteger(value[0]) || !Number.isSafeInteger(value[1])) {
    throw new MalformedMessageError('bad end frame')
  }
  return { blocks: value[0] as number, bytes: value[1] as number }
}

/**
 * Splits a byte stream into frames. The length is checked against the cap as soon as
 * its varint is complete, before any of the frame is buffered. A frame that sits in
 * one incoming chunk is handed out as a view of it (no copy); one that spans chunks
 * is copied once.
 */
export class FrameDecoder {
  private readonly maxFrameBytes: number
  private readonly chunks: Uint8Array[] = []
  private head = 0
  private buffered = 0
  private need = -1
  private readonly alloc: (n: number) => Uint8Array

  /** `alloc` gives the buffer a frame that spans chunks is copied into (default: a new one). */
  constructor (maxFrameBytes: number, alloc?: (n: number) => Uint8Array) {
    this.maxFrameBytes = maxFrameBytes
    this.alloc = alloc ?? allocUnsafe
  }

  get bufferedBytes (): number { return this.buffered }

  push (chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return
    this.chunks.push(chunk)
    this.buffered += chunk.byteLength
  }

  /** The next whole frame's payload, or undefined until more bytes arrive. */
  next (): Uint8Array | undefined {
    if (this.need < 0) {
      const len = this.readLength()
      if (len < 0) return undefined
      this.need = len
    }
    if (this.buffered < this.need) return undefined
    const out = this.take(this.need)
    this.need = -1
    return out
  }

  /** Parses the varint prefix if it is complete; -1 otherwise. */
  private readLength (): number {
    let value = 0
    let scale = 1
    let i = 0
    let c = 0
    let o = this.head
    while (i < this.buffered) {
      const chunk = this.chunks[c]
      if (o >= chunk.byteLength) { c++; o = 0; continue }
      const byte = chunk[o++]
      i++
      value += (byte & 0x7f) * scale
      if (value > this.maxFrameBytes) {
        throw new MessageTooLargeError('frame too large', { max: this.maxFrameBytes })
      }
      if ((byte & 0x80) === 0) {
        this.skip(i)
        return value
      }
      scale *= 128
      if (i >= 5) throw new MalformedMessageError('bad frame length')
    }
    return -1
  }

  private skip (n: number): void {
    this.buffered -= n
    while (n > 0) {
      const left = this.chunks[0].byteLength - this.head
      if (n < left) { this.head += n; return }
      n -= left
      this.chunks.shift()
      this.head = 0
    }
  }

  private take (n: number): Uint8Array {
    const first = this.chunks[0]
    if (n === 0) return new Uint8Array(0)
    if (first.byteLength - this.head >= n) {
      const view = first.subarray(this.head, this.head + n)
      this.skip(n)
      return view
    }
    const out = this.alloc(n)
    let o = 0
    while (o < n) {
      const chunk = this.chunks[0]
      const part = Math.min(chunk.byteLength - this.head, n - o)
      out.set(chunk.subarray(this.head, this.head + part), o)
      o += part
      this.skip(part)
    }
    return out
  }
}

/** Not zero-filled: for buffers every byte of which is written at once. */
export function allocUnsafe (n: number): Uint8Array {
  const buf = Buffer.allocUnsafe(n)
  return new Uint8Array(buf.buffer, buf.byteOffset, n)
}

/**
 * Reuses the buffers of received blocks once the blockstore has written them. Fresh
 * memory costs a page fault per 4 KiB on first touch (a VM's especially: measured
 * here at ~70 ms per 64 MiB, several times the copy itself). Only for blockstores that
 * keep no reference to what they are given (blockstore-fs writes it to a file).
 */
export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>()
  private readonly owned = new WeakSet<ArrayBufferLike>()
  private pooledBytes = 0
  private readonly maxPooledBytes: number

  constructor (maxPooledBytes: number) {
    this.maxPooledBytes = maxPooledBytes
  }

  /** A buffer of exactly n bytes (not zeroed), reused when one of its size class is free. */
  alloc (n: number): Uint8Array {
    if (n < 16 * 1024) return allocUnsafe(n)
    const size = Math.ceil(n / 4096) * 4096
    const ab = this.free.get(size)?.pop()
    if (ab != null) {
      this.pooledBytes -= size
      return new Uint8Array(ab, 0, n)
    }
    const fresh = new ArrayBuffer(size)
    this.owned.add(fresh)
    return new Uint8Array(fresh, 0, n)
  }

  /** Give back the buffer under `view` (no-op for one this pool did not hand out). */
  release (view: Uint8Array): void {
    const ab = view.buffer
    if (!this.owned.has(ab) || !(ab instanceof ArrayBuffer)) return
    if (this.pooledBytes + ab.byteLength > this.maxPooledBytes) return
    let list = this.free.get(ab.byteLength)
    if (list == null) { list = []; this.free.set(ab.byteLength, list) }
    if (list.includes(ab)) return
    list.push(ab)
    this.pooledBytes += ab.byteLength
  }
}

/** Every byte array in a stream 'message' event (a Uint8Array or a Uint8ArrayList). */
export function * chunksOf (data: Uint8Array | Iterable<Uint8Array>): Iterable<Uint8Array> {
  if (data instanceof Uint8Array) yield data
  else yield * data
}

/** Send one frame, waiting for 'drain' when the stream says its buffer is full. */
export async function sendFrame (stream: Stream, bytes: Uint8Array, signal: AbortSignal): Promise<void> {
  if (!stream.send(bytes)) await stream.onDrain({ signal })
}

/**
 * Aborts `signal` with RequestTimeoutError when `touch()` has not been called for
 * `ms`: one timer per stream, re-armed (not re-created) on every sign of progress.
 */
export class IdleTimer {
  private readonly controller = new AbortController()
  private readonly timer: NodeJS.Timeout
  private readonly parent?: AbortSignal
  private readonly onParentAbort = (): void => { this.controller.abort(this.parent?.reason) }

  constructor (ms: number, what: string, parent?: AbortSignal) {
    this.timer = setTimeout(() => {
      this.controller.abort(new RequestTimeoutError(`${what}: no progress for ${ms} ms`, { timeoutMs: ms }))
    }, ms)
    this.timer.unref()
    this.parent = parent
    if (parent?.aborted === true) this.onParentAbort()
    else parent?.addEventListener('abort', this.onParentAbort, { once: true })
  }

  get signal (): AbortSignal { return this.controller.signal }

  touch (): void { this.timer.refresh() }

  clear (): void {
    clearTimeout(this.timer)
    this.parent?.removeEventListener('abort', this.onParentAbort)
  }
}
