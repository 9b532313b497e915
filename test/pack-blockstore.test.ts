// The pack blockstore on disk: round trips, dedup by multihash, deletes, many packs,
// and what survives a torn write at the tail (a kill -9 mid-append).
import assert from 'node:assert/strict'
import { appendFile, mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { getBlock } from '../storage/blocks.ts'
import { BlockNotFoundError, PackBlockstore } from '../storage/packstore/pack-blockstore.ts'
import { importFile, verifyDag } from '../storage/unixfs/index.ts'
import { expectRejects } from './helpers/expect-throws.ts'

function pattern (n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; out[i] = x >>> 24 }
  return out
}

describe('pack blockstore', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'openledger-pack-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('stores a Kubo-style file, serves it back exactly, and keeps it across a reopen', async () => {
    const store = new PackBlockstore(dir, { maxPackBytes: 1024 * 1024 })
    await store.open()
    const bytes = pattern(3 * 1024 * 1024 + 17, 7)
    const { cid, blocks } = await importFile(store, bytes)
    assert.equal((await verifyDag(store, cid)).size, bytes.byteLength)
    await store.close()
    assert.ok((await readdir(dir)).length >= 3) // rolled over into several packs

    const again = new PackBlockstore(dir, { maxPackBytes: 1024 * 1024 })
    await again.open()
    for (const b of blocks) assert.ok(await again.has(b))
    assert.equal((await verifyDag(again, cid)).size, bytes.byteLength)
    let all = 0
    for await (const _ of again.getAll()) all++
    assert.equal(all, blocks.length)
    await again.close()
  })

  it('treats CIDv0 and v1 of the same bytes as one block, and forgets deleted blocks', async () => {
    const store = new PackBlockstore(dir)
    await store.open()
    const { cid } = await importFile(store, new TextEncoder().encode('hello world\n'))
    const v1 = CID.createV1(cid.code, cid.multihash)
    assert.ok(await store.has(v1))
    const size = (await stat(join(dir, 'pack-000001.bin'))).size
    await store.put(v1, await getBlock(store, cid)) // no second copy
    assert.equal((await stat(join(dir, 'pack-000001.bin'))).size, size)
    await store.delete(cid)
    assert.equal(await store.has(cid), false)
    await expectRejects(getBlock(store, cid), BlockNotFoundError)
    await store.close()
    const again = new PackBlockstore(dir)
    await again.open()
    assert.equal(await again.has(cid), false) // the delete record survives too
    await again.close()
  })

  it('drops a record cut short at the tail (kill -9 mid-write) and keeps everything before it', async () => {
    const store = new PackBlockstore(dir)
    await store.open()
    const first = await importFile(store, pattern(600_000, 1))
    await store.close()
    const packFile = join(dir, 'pack-000001.bin')
    const good = (await stat(packFile)).size
    // Half a record: a header that promises more bytes than follow.
    await appendFile(packFile, Buffer.from([1, 0, 34, 0, 4, 0, 0, 1, 2, 3]))
    const again = new PackBlockstore(dir)
    await again.open()
    assert.equal((await stat(packFile)).size, good)
    assert.equal((await verifyDag(again, first.cid)).size, 600_000)
    // And appends go on from the clean end.
    const second = await importFile(again, pattern(300_000, 2))
    await again.close()
    const third = new PackBlockstore(dir)
    await third.open()
    assert.equal((await verifyDag(third, second.cid)).size, 300_000)
    await third.close()
  })
})
