// The serving end of /openledger/shard/1.0.0: read one request (a list of roots),
// check every root is held, then stream every block of their DAGs, root first,
// depth-first in link order, each block once, and an END frame. Blocks are read a few
// ahead of the one being sent so disk reads overlap the network; sends honour
// backpressure (send() false -> wait for 'drain'). Any refusal is an ERROR frame
// naming a typed error.
import type { Connection, Stream } from '@libp2p/interface'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import { BlockFiles } from '../../storage/block-files.ts'
import { StorageError } from '../../storage/errors.ts'
import { MalformedMessageError, MessageTooLargeError, WireError } from '../errors.ts'
import { RateLimiter } from '../rate-limiter.ts'
import { checkCid, cidFromBytes, keyOf, linksOf } from './blocks.ts'
import { NotFoundError, TooManyBlocksError } from './errors.ts'
import { blockFrame, blockFrameFor, chunksOf, endFrame, errorFrame, FrameDecoder, IdleTimer, parseRequest, sendFrame } from './frames.ts'
import { maxRequestBytes, type ShardLimits } from './limits.ts'

export type ServingBlockstore = Pick<Blockstore, 'get' | 'has'>

/** A block read from the store, already inside its BLOCK frame (bytes at the end). */
interface LoadedBlock { frame: Uint8Array, size: number }

/** The error name a remote may learn: our typed errors by name, anything else hidden. */
function nameOf (err: unknown): [string, string] {
  if (err instanceof WireError || err instanceof StorageError) return [err.name, err.message]
  return ['InternalError', 'request failed']
}

function notFound (cid: CID): NotFoundError {
  return new NotFoundError(`block ${cid} is not held here`, { cid: cid.toString() })
}

function tooLarge (cid: CID, max: number): MessageTooLargeError {
  return new MessageTooLargeError(`block ${cid} is larger than ${max} bytes`, { cid: cid.toString(), max })
}

/** Any blockstore: gather the chunks it hands out, then copy them into the frame. */
async function loadFromStore (store: ServingBlockstore, cid: CID, maxBytes: number, signal: AbortSignal): Promise<LoadedBlock> {
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for await (const chunk of store.get(cid, { signal })) {
      size += chunk.byteLength
      if (size > maxBytes) throw tooLarge(cid, maxBytes)
      chunks.push(chunk)
    }
  } catch (err) {
    if ((err as Error)?.name === 'NotFoundError' && !(err instanceof WireError)) throw notFound(cid)
    throw err
  }
  return { frame: blockFrame(cid.bytes, chunks, size), size }
}

/**
 * A blockstore-fs: its block's file read straight into the frame (storage/block-files.ts),
 * one read and no copy. The store's get() streams the file in 64 KiB chunks that then
 * have to be joined: 1.6-2.4x the provider CPU and a fifth or more off the transfer rate
 * (bench notes).
 */
async function loadFromFiles (files: BlockFiles, cid: CID, maxBytes: number, signal: AbortSignal): Promise<LoadedBlock> {
  let size = 0
  const frame = await files.readInto(cid, (n) => {
    if (n > maxBytes) throw tooLarge(cid, maxBytes)
    size = n
    return blockFrameFor(cid.bytes, n)
  }, signal)
  if (frame == null) throw notFound(cid)
  return { frame, size }
}

/** Reads the request frame; rejects on timeout, oversize or a stream that ends first. */
async function readRequest (stream: Stream, maxBytes: number, signal: AbortSignal): Promise<Uint8Array> {
  const decoder = new FrameDecoder(maxBytes)
  const { promise, resolve, reject } = Promise.withResolvers<Uint8Array>()
  const onMessage = (evt: { data: Uint8Array | Iterable<Uint8Array> }): void => {
    try {
      for (const c of chunksOf(evt.data)) decoder.push(c)
      const f = decoder.next()
      if (f != null) resolve(f)
    } catch (err) { reject(err) }
  }
  const onEnd = (): void => { reject(new MalformedMessageError('stream ended before a whole request')) }
  const onAbort = (): void => { reject(signal.reason) }
  stream.addEventListener('message', onMessage)
  stream.addEventListener('end', onEnd)
  stream.addEventListener('close', onEnd)
  signal.addEventListener('abort', onAbort)
  try {
    return await promise
  } finally {
    stream.removeEventListener('message', onMessage)
    stream.removeEventListener('end', onEnd)
    stream.removeEventListener('close', onEnd)
    signal.removeEventListener('abort', onAbort)
  }
}

export class ShardResponder {
  private readonly store: ServingBlockstore
  /** The store's block files when it is a blockstore-fs (the fast path), else undefined. */
  private readonly files: BlockFiles | undefined
  private readonly limits: ShardLimits
  private readonly limiter: RateLimiter
  private readonly active = new Set<Stream>()

  constructor (store: ServingBlockstore, limits: ShardLimits) {
    this.store = store
    this.files = BlockFiles.of(store)
    this.limits = limits
    this.limiter = new RateLimiter(limits.rateLimit)
  }

  /** Aborts every stream being served (on stop). */
  abortAll (err: Error): void {
    for (const s of this.active) s.abort(err)
    this.active.clear()
  }

  async handle (stream: Stream, connection: Connection): Promise<void> {
    this.active.add(stream)
    const idle = new IdleTimer(this.limits.requestTimeoutMs, 'shard request')
    try {
      this.limiter.take(connection.remotePeer.toString())
      const payload = await readRequest(stream, maxRequestBytes(this.limits), idle.signal)
      const roots = parseRequest(payload, maxRequestBytes(this.limits), this.limits.maxRootsPerRequest).map(cidFromBytes)
      for (const root of roots) {
        if (!(await this.store.has(root, { signal: idle.signal }))) {
          throw new NotFoundError(`root ${root} is not held here`, { cid: root.toString() })
        }
      }
      idle.clear()
      await this.sendDag(stream, roots)
    } catch (err) {
      idle.clear()
      await this.refuse(stream, err)
    } finally {
      this.active.delete(stream)
    }
  }

  /** ERROR frame then close; if even that cannot be sent, reset the stream. */
  private async refuse (stream: Stream, err: unknown): Promise<void> {
    if (stream.status !== 'open' || stream.writeStatus !== 'writable') {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      return
    }
    const [name, message] = nameOf(err)
    try {
      const signal = AbortSignal.timeout(this.limits.idleTimeoutMs)
      await sendFrame(stream, errorFrame(name, message), signal)
      await stream.close({ signal })
    } catch (e) {
      stream.abort(e as Error)
    }
  }

  private async sendDag (stream: Stream, roots: CID[]): Promise<void> {
    const idle = new IdleTimer(this.limits.idleTimeoutMs, 'shard send')
    const signal = idle.signal
    // The walk: a stack of [cid, key], top = next block; keys computed once per CID.
    const stack: Array<[CID, string]> = roots.map((r): [CID, string] => [r, keyOf(r)]).reverse()
    const seen = new Set<string>()
    const loading = new Map<string, Promise<LoadedBlock>>()
    const readAhead = this.limits.readAheadBlocks
    const files = this.files
    const read = files != null ? loadFromFiles.bind(null, files) : loadFromStore.bind(null, this.store)
    const load = (cid: CID, key: string): Promise<LoadedBlock> => {
      let p = loading.get(key)
      if (p == null) {
        p = read(cid, this.limits.maxBlockBytes, signal)
        p.catch(() => {})
        loading.set(key, p)
      }
      return p
    }
    // Start reading the next few blocks of the walk (the top of the stack).
    const prefetch = (): void => {
      for (let i = stack.length - 1, scanned = 0; i >= 0 && loading.size < readAhead && scanned < readAhead * 4; i--, scanned++) {
        const [cid, key] = stack[i]
        if (!seen.has(key)) load(cid, key)
      }
    }
    let blocks = 0
    let bytes = 0
    try {
      // The requester closes its writable end after the request: anything more is ignored.
      while (stack.length > 0) {
        const [cid, key] = stack.pop()!
        if (seen.has(key)) continue
        seen.add(key)
        if (seen.size > this.limits.maxBlocks) {
          throw new TooManyBlocksError(`the DAG has more than ${this.limits.maxBlocks} blocks`, { max: this.limits.maxBlocks })
        }
        const block = await load(cid, key)
        loading.delete(key)
        const out = block.frame
        const links = linksOf(cid, out.subarray(out.byteLength - block.size))
        for (let i = links.length - 1; i >= 0; i--) {
          checkCid(links[i])
          stack.push([links[i], keyOf(links[i])])
        }
        prefetch()
        await sendFrame(stream, out, signal)
        // Let I/O callbacks run: with every awaited read already done, this loop would
        // otherwise run on microtasks alone and the read-ahead (open, stat, read,
        // close: four trips through the thread pool each) would stall behind it.
        await new Promise(resolve => setImmediate(resolve))
        idle.touch()
        blocks++
        bytes += block.size
      }
      await sendFrame(stream, endFrame(blocks, bytes), signal)
      await stream.close({ signal })
    } finally {
      idle.clear()
    }
  }
}
