// Where verified blocks go: concurrent blockstore writes behind the network, with a
// count of the bytes still waiting (the requester pauses the stream above a budget).
// A failed write stops the sink; writes already started finish.
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

export type SinkBlockstore = Pick<Blockstore, 'put'>

export class BlockSink {
  private readonly store: SinkBlockstore
  private readonly concurrency: number
  private readonly release: (bytes: Uint8Array) => void
  private readonly queue: Array<{ cid: CID, bytes: Uint8Array }> = []
  private inFlight = 0
  private waiters: Array<() => void> = []
  /** Bytes accepted and not yet written (or dropped). */
  queuedBytes = 0
  written = 0
  writtenBytes = 0
  error: unknown = undefined
  /** Called when queuedBytes went down. */
  onDrained: () => void = () => {}
  /** Called once, with the first failed write. */
  onError: (err: unknown) => void = () => {}

  /** `release` gets every buffer back once the sink is done with it. */
  constructor (store: SinkBlockstore, concurrency: number, release: (bytes: Uint8Array) => void) {
    this.store = store
    this.concurrency = concurrency
    this.release = release
  }

  /** Queue a verified block for the store (the sink now owns its buffer). */
  accept (cid: CID, bytes: Uint8Array): void {
    if (this.error !== undefined) {
      this.release(bytes)
      return
    }
    this.queue.push({ cid, bytes })
    this.queuedBytes += bytes.byteLength
    this.pump()
  }

  private pump (): void {
    while (this.inFlight < this.concurrency && this.queue.length > 0 && this.error === undefined) {
      const block = this.queue.shift()!
      this.inFlight++
      Promise.resolve(this.store.put(block.cid, block.bytes)).then(() => {
        this.written++
        this.writtenBytes += block.bytes.byteLength
      }, (err: unknown) => {
        this.fail(err)
      }).finally(() => {
        this.inFlight--
        this.drop(block)
        this.pump()
        this.notify()
      })
    }
  }

  private drop (block: { bytes: Uint8Array }): void {
    this.queuedBytes -= block.bytes.byteLength
    this.release(block.bytes)
    this.onDrained()
  }

  private fail (err: unknown): void {
    if (this.error !== undefined) return
    this.error = err
    for (const b of this.queue.splice(0)) this.drop(b)
    this.onError(err)
  }

  private get idle (): boolean {
    return this.inFlight === 0 && (this.error !== undefined || this.queue.length === 0)
  }

  private notify (): void {
    if (this.idle) for (const w of this.waiters.splice(0)) w()
  }

  /** Resolves once every accepted block is written or dropped (no rejection: read `error`). */
  async settle (): Promise<void> {
    if (this.idle) return
    await new Promise<void>(resolve => this.waiters.push(resolve))
  }
}
