// The fetching end of /openledger/shard/1.0.0.
//
// 1. Walk the DAG locally as far as the blockstore already holds it: the blocks held
//    are not asked for; the first missing block of each branch is (the "frontier").
// 2. Ask the peer for the frontier's DAGs (one stream per maxRootsPerRequest roots).
// 3. For every BLOCK frame, synchronously as it arrives: the CID must be part of the
//    DAG (a root, or linked from a block already received) and not sent before in
//    this stream; its bytes must hash to the CID; only then do its links join the
//    DAG and is it queued for the blockstore (sink.ts). Writes run concurrently,
//    behind the network; when too many bytes wait for the disk the stream is paused
//    (yamux stops granting window) until they drain.
// Any violation resets the stream and fails the fetch with a typed error, after the
// writes already started (all of verified blocks) have settled: a block that failed a
// check is never stored.
import type { PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import { putCopiesBytes } from '../../storage/block-files.ts'
import { getBlock } from '../../storage/blocks.ts'
import { MalformedMessageError, RemoteError } from '../errors.ts'
import type { StreamHost } from '../reqresp.ts'
import { checkCid, keyOf, linksOf, splitCid, verifyBlock } from './blocks.ts'
import { IncompleteTransferError, TooManyBlocksError, UnexpectedBlockError } from './errors.ts'
import { BufferPool, chunksOf, FrameDecoder, IdleTimer, KIND_BLOCK, KIND_END, KIND_ERROR, parseEnd, parseError, requestFrame } from './frames.ts'
import { maxFrameBytes, SHARD_PROTOCOL, type ShardLimits } from './limits.ts'
import { BlockSink } from './sink.ts'

export type FetchingBlockstore = Pick<Blockstore, 'get' | 'put' | 'has'>

export interface FetchOptions {
  signal?: AbortSignal
  /** Called after every verified block bound for the store, with the running totals
   *  of this fetch (bytes, blocks) received so far. */
  onProgress?: (bytes: number, blocks: number) => void
}

export interface FetchResult {
  /** Blocks received, verified and stored. */
  blocks: number
  /** Their bytes. */
  bytes: number
  /** Blocks of the DAG the blockstore held already (not asked for). */
  local: number
  /** Streams opened (one per maxRootsPerRequest frontier roots; 0 if all was held). */
  requests: number
}

/** yamux may have granted up to 16 MiB of window (its default maximum) when the stream
 *  is paused, and one more grant can slip out as it resumes: what is in flight must
 *  fit in the read buffer, or the stream resets itself. */
const PAUSED_READ_BUFFER_BYTES = 40 * 1024 * 1024

interface Progress { bytes: number, blocks: number }

/** The DAG as known to one fetch, keyed by keyOf(cid). */
interface DagState {
  /** Every CID known to belong to the DAG. */
  linked: Set<string>
  /** Those not held yet. */
  missing: Map<string, CID>
}

export class ShardRequester {
  private readonly host: StreamHost
  private readonly store: FetchingBlockstore
  private readonly limits: ShardLimits
  private readonly active = new Set<Stream>()
  /** Only for a store known not to keep the buffers it is given. */
  private readonly pool?: BufferPool

  constructor (host: StreamHost, store: FetchingBlockstore, limits: ShardLimits) {
    this.host = host
    this.store = store
    this.limits = limits
    if (putCopiesBytes(store)) this.pool = new BufferPool(limits.maxQueuedWriteBytes * 2)
  }

  abortAll (err: Error): void {
    for (const s of this.active) s.abort(err)
    this.active.clear()
  }

  async fetch (peer: PeerId | Multiaddr, roots: CID[], opts: FetchOptions = {}): Promise<FetchResult> {
    for (const r of roots) checkCid(r)
    const dag: DagState = { linked: new Set(), missing: new Map() }
    const { frontier, local } = await this.planLocal(roots, dag, opts.signal)
    const pool = this.pool
    const sink = new BlockSink(this.store, this.limits.writeConcurrency, pool != null ? b => pool.release(b) : () => {})
    const progress = { bytes: 0, blocks: 0 }
    let requests = 0
    const max = this.limits.maxRootsPerRequest
    for (let i = 0; i < frontier.length; i += max) {
      // Blocks may already have come in through an earlier request (shared subtrees).
      const batch = frontier.slice(i, i + max).filter(c => dag.missing.has(keyOf(c)))
      if (batch.length === 0) continue
      const later = new Set(frontier.slice(i + max).map(keyOf))
      requests++
      await this.fetchOnce(peer, batch, later, dag, sink, progress, opts)
    }
    return { blocks: sink.written, bytes: sink.writtenBytes, local, requests }
  }

  /** Depth-first over what is held; the first missing CID of each branch is the frontier. */
  private async planLocal (roots: CID[], dag: DagState, signal?: AbortSignal): Promise<{ frontier: CID[], local: number }> {
    const frontier: CID[] = []
    let local = 0
    const stack = [...roots].reverse()
    while (stack.length > 0) {
      signal?.throwIfAborted()
      const cid = stack.pop()!
      const key = keyOf(cid)
      if (dag.linked.has(key)) continue
      this.addLinked(dag, key)
      if (await this.store.has(cid, { signal })) {
        local++
        const links = linksOf(cid, await getBlock(this.store, cid, { signal }))
        for (let i = links.length - 1; i >= 0; i--) { checkCid(links[i]); stack.push(links[i]) }
      } else {
        dag.missing.set(key, cid)
        frontier.push(cid)
      }
    }
    return { frontier, local }
  }

  private addLinked (dag: DagState, key: string): void {
    dag.linked.add(key)
    if (dag.linked.size > this.limits.maxBlocks) {
      throw new TooManyBlocksError(`the DAG has more than ${this.limits.maxBlocks} blocks`, { max: this.limits.maxBlocks })
    }
  }

  private async fetchOnce (peer: PeerId | Multiaddr, roots: CID[], later: Set<string>, dag: DagState,
    sink: BlockSink, progress: Progress, opts: FetchOptions): Promise<void> {
    const idle = new IdleTimer(this.limits.idleTimeoutMs, 'shard fetch', opts.signal)
    let stream: Stream | undefined
    try {
      stream = await this.host.dialProtocol(peer, SHARD_PROTOCOL, { signal: idle.signal })
      this.active.add(stream)
      await this.receive(stream, roots, later, dag, sink, progress, idle, opts)
      // The peer said it was done: what it sent must be written.
      await sink.settle()
      if (sink.error !== undefined) throw sink.error
    } catch (err) {
      stream?.abort(err as Error)
      await sink.settle()
      throw err
    } finally {
      idle.clear()
      if (stream != null) this.active.delete(stream)
    }
  }

  private async receive (stream: Stream, roots: CID[], later: Set<string>, dag: DagState, sink: BlockSink,
    progress: Progress, idle: IdleTimer, opts: FetchOptions): Promise<void> {
    const s = stream
    const seenHere = new Set<string>()
    const pool = this.pool
    const decoder = new FrameDecoder(maxFrameBytes(this.limits), pool != null ? n => pool.alloc(n) : undefined)
    const { promise, resolve, reject } = Promise.withResolvers<void>()
    promise.catch(() => {}) // may settle while the request is still being sent; awaited below
    let settled = false
    let paused = false
    const done = (err?: unknown): void => {
      if (settled) return
      settled = true
      if (err !== undefined) reject(err)
      else resolve()
    }

    /** True when the block went to the sink (which then owns its buffer). */
    const onBlock = (payload: Uint8Array): boolean => {
      const [cid, bytes] = splitCid(payload.subarray(1))
      const key = keyOf(cid)
      if (!dag.linked.has(key) || seenHere.has(key)) {
        throw new UnexpectedBlockError(seenHere.has(key) ? `block ${cid} was sent twice` : `block ${cid} is not part of the requested DAG`, { cid: cid.toString() })
      }
      verifyBlock(cid, bytes)
      const links = linksOf(cid, bytes)
      seenHere.add(key)
      for (const l of links) {
        const lk = keyOf(l)
        if (dag.linked.has(lk)) continue
        checkCid(l)
        this.addLinked(dag, lk)
        dag.missing.set(lk, l)
      }
      // Already held (a subtree shared with what was local): verified, not rewritten.
      if (!dag.missing.delete(key)) return false
      sink.accept(cid, bytes)
      progress.bytes += bytes.byteLength
      progress.blocks++
      return true
    }

    const onEnd = (payload: Uint8Array): void => {
      parseEnd(payload.subarray(1))
      // Everything this request's roots lead to must have come; only roots of later
      // requests may still be missing.
      for (const [key, cid] of dag.missing) {
        if (!later.has(key)) throw new IncompleteTransferError(`the peer ended before sending ${cid}`, { cid: cid.toString() })
      }
      done()
    }

    const onMessage = (evt: { data: Uint8Array | Iterable<Uint8Array> }): void => {
      if (settled) return
      idle.touch()
      try {
        for (const c of chunksOf(evt.data)) decoder.push(c)
        for (let f = decoder.next(); f != null && !settled; f = decoder.next()) {
          let kept = false
          try {
            if (f.byteLength === 0) throw new MalformedMessageError('empty frame')
            const kind = f[0]
            if (kind === KIND_BLOCK) {
              kept = onBlock(f)
              if (kept) opts.onProgress?.(progress.bytes, progress.blocks)
            } else if (kind === KIND_END) {
              onEnd(f)
            } else if (kind === KIND_ERROR) {
              const e = parseError(f.subarray(1))
              throw new RemoteError(`peer refused the request: ${e.name}`, { remoteName: e.name, remoteMessage: e.message, protocol: SHARD_PROTOCOL })
            } else {
              throw new MalformedMessageError(`unknown frame kind ${kind}`)
            }
          } finally {
            if (!kept) pool?.release(f)
          }
        }
        if (!paused && sink.queuedBytes > this.limits.maxQueuedWriteBytes) {
          paused = true
          // Not from inside this dispatch: resume() dispatches the buffered data and
          // only then tells yamux to grant window again, which would undo a pause
          // made here and let the remote fill the read buffer without limit.
          queueMicrotask(() => {
            if (paused && !settled && s.readStatus === 'readable') s.pause()
          })
        }
      } catch (err) {
        done(err)
      }
    }
    sink.onError = (err) => { done(err) }
    sink.onDrained = () => {
      if (paused && !settled && sink.queuedBytes <= this.limits.maxQueuedWriteBytes / 2) {
        paused = false
        // Not from inside the sink: resume() delivers buffered data synchronously.
        queueMicrotask(() => { if (!paused && !settled && s.readStatus === 'paused') s.resume() })
      }
    }
    const onStreamEnd = (): void => {
      done(new IncompleteTransferError('the stream ended before the peer said it was done'))
    }
    // A clean close can come while data still waits in a paused read buffer: only
    // 'end' (buffer drained) or a reset/abort ends the transfer.
    const onClose = (evt: Event): void => {
      const cause = (evt as Event & { error?: Error }).error
      if (cause != null) done(new IncompleteTransferError('the stream was reset before the peer said it was done', { cause: cause.message }))
    }
    const onAbort = (): void => { done(idle.signal.reason) }

    s.maxReadBufferLength = Math.max(s.maxReadBufferLength, PAUSED_READ_BUFFER_BYTES)
    s.addEventListener('message', onMessage)
    s.addEventListener('end', onStreamEnd)
    s.addEventListener('close', onClose)
    idle.signal.addEventListener('abort', onAbort)
    try {
      // Ask, then close our writable end: the request is all we send.
      if (!s.send(requestFrame(roots.map(r => r.bytes)))) await s.onDrain({ signal: idle.signal })
      await s.close({ signal: idle.signal })
      await promise
    } finally {
      s.removeEventListener('message', onMessage)
      s.removeEventListener('end', onStreamEnd)
      s.removeEventListener('close', onClose)
      idle.signal.removeEventListener('abort', onAbort)
      sink.onDrained = () => {}
      sink.onError = () => {}
    }
  }
}
