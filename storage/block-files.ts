// The fast path into a blockstore-fs folder: a block's bytes by CID, read straight from
// (or written straight to) the file blockstore-fs keeps it in. blockstore-fs 4 keeps one
// file per block where its sharding strategy says (by default NextToLast: the
// base32upper multihash + `.data`, in a folder named by the multihash's last two
// characters); this module is the one place in the project that knows it.
//
// Why: the store's own get() streams a file in 64 KiB chunks, each a fresh buffer that
// then has to be joined; serving a 64 MiB file that way took 1.6-2.4x the CPU of one
// read into the caller's buffer (815-1225 vs ~505 ms) and cut the shard protocol's
// transfer rate by a fifth or more (bench/RESULTS.md, shard-sync). readInto() reads a
// block into the tail of a buffer the caller sizes, so a wire frame needs no copy.
import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { FsBlockstore } from 'blockstore-fs'
import { NextToLast, type ShardingStrategy } from 'blockstore-fs/sharding'
import type { CID } from 'multiformats/cid'

/** Where a block's file lives inside the folder: blockstore-fs's sharding strategy. */
export type BlockFileLayout = Pick<ShardingStrategy, 'encode'>

export class BlockFiles {
  /** The blockstore's folder. */
  readonly root: string
  private readonly layout: BlockFileLayout

  /** `root` is the folder an FsBlockstore was opened on; `layout` its sharding strategy
   *  (the default is blockstore-fs's own default). */
  constructor (root: string, layout: BlockFileLayout = new NextToLast()) {
    this.root = resolve(root)
    this.layout = layout
  }

  /**
   * The files of `store` when it is a blockstore-fs whose layout can be followed (then
   * this reads and writes exactly the files the store does, through the store's own
   * sharding strategy, which blockstore-fs 4 keeps internal); otherwise undefined, and
   * the caller uses the store's get() and put(). If a blockstore-fs release changes its
   * internals, this answers undefined rather than guess.
   */
  static of (store: unknown): BlockFiles | undefined {
    if (!(store instanceof FsBlockstore)) return undefined
    const layout = store['shardingStrategy'] as BlockFileLayout | undefined
    if (typeof layout?.encode !== 'function' || typeof store.path !== 'string') return undefined
    return new BlockFiles(store.path, layout)
  }

  /** The file a block lives in (whether or not it is held). */
  pathOf (cid: CID): string {
    const { dir, file } = this.layout.encode(cid)
    return join(this.root, dir, file)
  }

  /**
   * Reads a block in one go: `alloc(size)` is called with the block's size once the file
   * is open and returns the buffer to read into (the block fills its last `size` bytes,
   * so the caller can put a header in front); a throw from `alloc` (a size limit, say)
   * propagates. Resolves to that buffer, or undefined when the folder holds no such
   * block (or the file was cut short under us).
   */
  async readInto (cid: CID, alloc: (size: number) => Uint8Array, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    signal?.throwIfAborted()
    let fh: FileHandle
    try {
      fh = await open(this.pathOf(cid), 'r')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
    try {
      const { size } = await fh.stat()
      const out = alloc(size)
      const at = out.byteLength - size
      for (let got = 0; got < size;) {
        const { bytesRead } = await fh.read(out, at + got, size - got, got)
        if (bytesRead === 0) return undefined
        got += bytesRead
      }
      return out
    } finally {
      await fh.close()
    }
  }

  /** The block's bytes, or undefined when the folder holds no such block. */
  async read (cid: CID, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    return await this.readInto(cid, size => new Uint8Array(size), signal)
  }

  /**
   * Writes a block where the store will look for it, as blockstore-fs does: to a
   * temporary file in the same folder (not named like a block, so the store never lists
   * it), then renamed into place, so a reader sees the whole block or none. No fsync
   * (blockstore-fs does none either); the bytes are not kept once this resolves.
   */
  async write (cid: CID, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    const path = this.pathOf(cid)
    const dir = dirname(path)
    await mkdir(dir, { recursive: true })
    const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
    try {
      const fh = await open(tmp, 'w')
      try {
        for (let done = 0; done < bytes.byteLength;) {
          const { bytesWritten } = await fh.write(bytes, done, bytes.byteLength - done)
          done += bytesWritten
        }
      } finally {
        await fh.close()
      }
      await rename(tmp, path)
    } catch (err) {
      await rm(tmp, { force: true })
      throw err
    }
  }
}

/**
 * True when `store.put()` keeps no reference to the bytes it is given once it has
 * resolved (blockstore-fs has written them to a file), so the caller may reuse the
 * buffer for the next block.
 */
export function putCopiesBytes (store: unknown): boolean {
  return store instanceof FsBlockstore
}
