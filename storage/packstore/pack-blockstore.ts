// A blockstore that appends blocks to a few large pack files instead of writing one
// file per block (blockstore-fs), because creating a file per 256 KiB block is most
// of the receiver's cost when shards arrive in bulk (see bench/RESULTS.md, shard-sync).
//
// Record: u8 kind (1 block, 2 delete) | u16be cid length | u32be block length | cid | block.
// The index (CID -> pack, offset, length) lives in memory and is rebuilt by scanning
// the packs on open; a record cut short by a kill -9 is at the tail of the last pack
// and is truncated away, so what was fully written survives and nothing half-written
// is ever served. Deleted blocks stay on disk until a compaction (not written yet).
import { mkdir, open, readdir, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { Pair, InputPair } from 'interface-blockstore'
import { CID } from 'multiformats/cid'
import { StorageError } from '../errors.ts'

/** A block this store does not hold. */
export class BlockNotFoundError extends StorageError {}

const KIND_BLOCK = 1
const KIND_DELETE = 2
const HEADER = 7
const PACK_NAME = /^pack-(\d{6})\.bin$/

interface Location { cid: CID, pack: number, offset: number, length: number }
interface Pending { head: Buffer, block: Uint8Array, resolve: (at: { pack: number, offset: number }) => void, reject: (err: Error) => void }
type Bytes = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>

async function whole (bytes: Bytes): Promise<Uint8Array> {
  if (bytes instanceof Uint8Array) return bytes
  const chunks: Uint8Array[] = []
  for await (const c of bytes as AsyncIterable<Uint8Array>) chunks.push(c)
  return Buffer.concat(chunks)
}

export interface PackBlockstoreOptions {
  /** Start a new pack file beyond this size. */
  maxPackBytes?: number
}

export class PackBlockstore {
  private readonly dir: string
  private readonly maxPackBytes: number
  private readonly index = new Map<string, Location>()
  private readonly packs: FileHandle[] = []
  /** Bytes written to the last pack. */
  private tail = 0
  private readonly queue: Pending[] = []
  private flushing = false

  constructor (dir: string, opts: PackBlockstoreOptions = {}) {
    this.dir = dir
    this.maxPackBytes = opts.maxPackBytes ?? 256 * 1024 * 1024
  }

  private key (cid: CID): string {
    // By multihash, as other blockstores do: CIDv0 and v1 of the same bytes are one block.
    return Buffer.from(cid.multihash.bytes).toString('base64')
  }

  async open (): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    const names = (await readdir(this.dir)).filter(n => PACK_NAME.test(n)).sort()
    for (const name of names) {
      const fh = await open(join(this.dir, name), 'r+')
      this.packs.push(fh)
      await this.scan(this.packs.length - 1, fh)
    }
    if (this.packs.length === 0) await this.newPack()
  }

  /** Rebuild the index from one pack; cut off a torn record at its end. */
  private async scan (pack: number, fh: FileHandle): Promise<void> {
    const size = (await fh.stat()).size
    const header = Buffer.alloc(HEADER)
    let offset = 0
    while (offset + HEADER <= size) {
      await fh.read(header, 0, HEADER, offset)
      const kind = header[0]
      const cidLen = header.readUInt16BE(1)
      const len = header.readUInt32BE(3)
      const end = offset + HEADER + cidLen + len
      if ((kind !== KIND_BLOCK && kind !== KIND_DELETE) || end > size) break
      const cidBytes = Buffer.alloc(cidLen)
      await fh.read(cidBytes, 0, cidLen, offset + HEADER)
      let cid: CID
      try { cid = CID.decode(cidBytes) } catch { break }
      const key = this.key(cid)
      if (kind === KIND_BLOCK) this.index.set(key, { cid, pack, offset: offset + HEADER + cidLen, length: len })
      else this.index.delete(key)
      offset = end
    }
    if (offset < size) await fh.truncate(offset)
    this.tail = offset
  }

  private async newPack (): Promise<void> {
    const name = `pack-${String(this.packs.length + 1).padStart(6, '0')}.bin`
    this.packs.push(await open(join(this.dir, name), 'w+'))
    this.tail = 0
  }

  private async append (kind: number, cid: CID, block: Uint8Array): Promise<Location> {
    const cidBytes = cid.bytes
    const head = Buffer.allocUnsafe(HEADER + cidBytes.byteLength)
    head[0] = kind
    head.writeUInt16BE(cidBytes.byteLength, 1)
    head.writeUInt32BE(block.byteLength, 3)
    head.set(cidBytes, HEADER)
    const { pack, offset } = await new Promise<{ pack: number, offset: number }>((resolve, reject) => {
      this.queue.push({ head, block, resolve, reject })
      if (!this.flushing) void this.flush()
    })
    return { cid, pack, offset: offset + head.byteLength, length: block.byteLength }
  }

  /**
   * Writes queued records in order, as many as are waiting in one writev, so a burst
   * of puts costs one system call and no copying of block bytes. A put is
   * acknowledged only once every record before it is written too, so a kill -9 can
   * only ever cut the unacknowledged tail.
   */
  private async flush (): Promise<void> {
    this.flushing = true
    try {
      while (this.queue.length > 0) {
        const batch: Pending[] = []
        let size = 0
        // Up to the end of the current pack (a pack rolls over between batches).
        while (this.queue.length > 0) {
          const next = this.queue[0]
          const len = next.head.byteLength + next.block.byteLength
          if (batch.length > 0 && (this.tail + size + len > this.maxPackBytes || batch.length >= 64)) break
          batch.push(this.queue.shift()!)
          size += len
        }
        if (this.tail > 0 && this.tail + size > this.maxPackBytes) await this.newPack()
        const pack = this.packs.length - 1
        let offset = this.tail
        try {
          await this.packs[pack].writev(batch.flatMap(r => [r.head, r.block]), this.tail)
        } catch (err) {
          for (const r of batch) r.reject(err as Error)
          continue
        }
        this.tail += size
        for (const r of batch) {
          r.resolve({ pack, offset })
          offset += r.head.byteLength + r.block.byteLength
        }
      }
    } finally {
      this.flushing = false
    }
  }

  async put (cid: CID, bytes: Bytes): Promise<CID> {
    const key = this.key(cid)
    if (this.index.has(key)) return cid
    this.index.set(key, await this.append(KIND_BLOCK, cid, await whole(bytes)))
    return cid
  }

  async * putMany (source: Iterable<InputPair> | AsyncIterable<InputPair>): AsyncGenerator<CID> {
    for await (const { cid, bytes } of source) yield await this.put(cid, bytes)
  }

  async has (cid: CID): Promise<boolean> {
    return this.index.has(this.key(cid))
  }

  async * get (cid: CID): AsyncGenerator<Uint8Array> {
    const loc = this.index.get(this.key(cid))
    if (loc == null) throw new BlockNotFoundError(`block ${cid} not found`, { cid: cid.toString() })
    const out = Buffer.allocUnsafe(loc.length)
    await this.packs[loc.pack].read(out, 0, loc.length, loc.offset)
    yield new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
  }

  async * getMany (source: Iterable<CID> | AsyncIterable<CID>): AsyncGenerator<Pair> {
    for await (const cid of source) yield { cid, bytes: this.get(cid) }
  }

  async * getAll (): AsyncGenerator<Pair> {
    for (const { cid } of [...this.index.values()]) yield { cid, bytes: this.get(cid) }
  }

  async delete (cid: CID): Promise<void> {
    const key = this.key(cid)
    if (!this.index.has(key)) return
    await this.append(KIND_DELETE, cid, new Uint8Array(0))
    this.index.delete(key)
  }

  async * deleteMany (source: Iterable<CID> | AsyncIterable<CID>): AsyncGenerator<CID> {
    for await (const cid of source) { await this.delete(cid); yield cid }
  }

  async close (): Promise<void> {
    for (const fh of this.packs) {
      await fh.sync()
      await fh.close()
    }
    this.packs.length = 0
  }
}
