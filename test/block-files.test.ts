// storage/block-files.ts, the fast path into a blockstore-fs folder, agrees with
// FsBlockstore itself: what the store puts the fast path reads, what the fast path
// writes the store gets, has and lists; for the default layout and a custom one.
import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagPb from '@ipld/dag-pb'
import { FsBlockstore } from 'blockstore-fs'
import { FlatDirectory } from 'blockstore-fs/sharding'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { BlockFiles, putCopiesBytes } from '../storage/block-files.ts'
import { getBlock } from '../storage/blocks.ts'
import { PackBlockstore } from '../storage/packstore/pack-blockstore.ts'

function pattern (n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; out[i] = x >>> 24 }
  return out
}

/** Byte equality without a diff of 300 KB arrays in the failure message. */
function assertBytes (actual: Uint8Array | undefined, expected: Uint8Array, what: string): void {
  assert.ok(actual != null, `${what}: not found`)
  assert.ok(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected), `${what}: ${actual.byteLength} bytes differ from the ${expected.byteLength} expected`)
}

/** One block of each kind the shard protocol moves: raw (CIDv1), dag-pb (CIDv0 and v1), dag-cbor, empty. */
async function sampleBlocks (seed: number): Promise<Array<{ cid: CID, bytes: Uint8Array }>> {
  const leaf = pattern(300_000 + seed, seed)
  const leafCid = CID.createV1(raw.code, await sha256.digest(leaf))
  const node = dagPb.encode(dagPb.prepare({ Data: pattern(40, seed + 1), Links: [{ Hash: leafCid, Tsize: leaf.byteLength }] }))
  const nodeHash = await sha256.digest(node)
  const entry = dagCbor.encode({ seed, file: leafCid })
  const empty = new Uint8Array(0)
  return [
    { cid: leafCid, bytes: leaf },
    { cid: CID.createV0(nodeHash), bytes: node },
    { cid: CID.createV1(dagPb.code, nodeHash), bytes: node },
    { cid: CID.createV1(dagCbor.code, await sha256.digest(entry)), bytes: entry },
    { cid: CID.createV1(raw.code, await sha256.digest(empty)), bytes: empty }
  ]
}

describe('storage/block-files: the fast path agrees with blockstore-fs', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'openledger-block-files-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  for (const [name, layout] of [['default layout', undefined], ['a custom layout (FlatDirectory)', new FlatDirectory()]] as const) {
    describe(name, () => {
      async function openStore (): Promise<FsBlockstore> {
        const store = new FsBlockstore(join(dir, 'blocks'), layout != null ? { shardingStrategy: layout } : {})
        await store.open()
        return store
      }

      it('reads back every block FsBlockstore put', async () => {
        const store = await openStore()
        const files = BlockFiles.of(store)
        assert.ok(files != null)
        const blocks = await sampleBlocks(1)
        for (const b of blocks) await store.put(b.cid, b.bytes)
        for (const b of blocks) {
          assertBytes(await files.read(b.cid), b.bytes, `${b.cid} through the store's layout`)
          // The same files from the folder alone, given the store's layout.
          assertBytes(await new BlockFiles(join(dir, 'blocks'), layout).read(b.cid), b.bytes, `${b.cid} from the folder`)
        }
      })

      it('writes blocks FsBlockstore gets, has and lists (and nothing else)', async () => {
        const store = await openStore()
        const files = new BlockFiles(join(dir, 'blocks'), layout)
        const blocks = await sampleBlocks(2)
        for (const b of blocks) await files.write(b.cid, b.bytes)
        await files.write(blocks[0].cid, blocks[0].bytes) // again: replaced, still whole
        for (const b of blocks) {
          assert.equal(await store.has(b.cid), true)
          assertBytes(await getBlock(store, b.cid), b.bytes, `${b.cid} through FsBlockstore`)
        }
        const hashOf = (cid: CID): string => Buffer.from(cid.multihash.bytes).toString('hex')
        const listed = new Set<string>()
        for await (const { cid } of store.getAll()) listed.add(hashOf(cid))
        // CIDv0 and v1 of one dag-pb node are one file (blockstore-fs keys by multihash).
        assert.deepEqual(listed, new Set(blocks.map(b => hashOf(b.cid))))
        assert.equal(listed.size, blocks.length - 1)
      })
    })
  }

  it('the default layout is blockstore-fs\'s default: pathOf names the file the store wrote', async () => {
    const store = new FsBlockstore(join(dir, 'blocks'))
    await store.open()
    const [b] = await sampleBlocks(3)
    await store.put(b.cid, b.bytes)
    const path = new BlockFiles(join(dir, 'blocks')).pathOf(b.cid)
    const [sub] = await readdir(join(dir, 'blocks'))
    assert.deepEqual(await readdir(join(dir, 'blocks', sub)), [path.split('/').at(-1)])
    assert.equal(path, join(dir, 'blocks', sub, path.split('/').at(-1)!))
  })

  it('readInto fills the tail of the caller\'s buffer; a missing block is undefined; alloc may refuse', async () => {
    const files = new BlockFiles(join(dir, 'blocks'))
    const [b, , , entry] = await sampleBlocks(4)
    assert.equal(await files.read(b.cid), undefined)
    await files.write(b.cid, b.bytes)
    const out = await files.readInto(b.cid, size => {
      const buf = new Uint8Array(5 + size)
      buf.set([1, 2, 3, 4, 5])
      return buf
    })
    assert.ok(out != null)
    assert.deepEqual(out.subarray(0, 5), Uint8Array.from([1, 2, 3, 4, 5]))
    assertBytes(out.subarray(5), b.bytes, 'the tail')
    await assert.rejects(files.readInto(b.cid, size => { throw new RangeError(`too big: ${size}`) }), /too big: 300004/)
    await assert.rejects(files.read(entry.cid, AbortSignal.abort()), { name: 'AbortError' })
  })

  it('is offered only for a blockstore-fs', async () => {
    const fs = new FsBlockstore(join(dir, 'fs'))
    const packs = new PackBlockstore(join(dir, 'packs'))
    assert.ok(BlockFiles.of(fs) instanceof BlockFiles)
    assert.equal(BlockFiles.of(fs)?.root, join(dir, 'fs'))
    assert.equal(BlockFiles.of(packs), undefined)
    assert.equal(BlockFiles.of({ get () {}, has () {} }), undefined)
    assert.equal(putCopiesBytes(fs), true)
    assert.equal(putCopiesBytes(packs), false)
  })
})
