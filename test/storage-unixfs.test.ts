import assert from 'node:assert/strict'
import { createCipheriv, createHash } from 'node:crypto'
import { mkdtemp, open, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagPb from '@ipld/dag-pb'
import { FsBlockstore } from 'blockstore-fs'
import { UnixFS } from 'ipfs-unixfs'
import { base32upper } from 'multiformats/bases/base32'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import {
  BlockHashMismatchError, FileTooLargeError, importFile, importPath, KUBO_CHUNK_SIZE, MissingBlockError,
  NotAFileError, readFile, readFileBytes, verifyDag
} from '../storage/unixfs/index.ts'
import { expectRejects } from './helpers/expect-throws.ts'

// Kubo's test suite makes its large files with a ChaCha20 keystream keyed by
// sha256(seed), zero nonce, counter 0 (test/cli/testutils/random_deterministic.go,
// DeterministicRandomReaderBytes). OpenSSL's 'chacha20' takes a 16-byte IV that is the
// 32-bit little-endian block counter followed by the 96-bit nonce, so 16 zero bytes is
// the same stream. Yields `size` bytes in 1 MiB pieces.
function * kuboDeterministicBytes (size: number, seed: string): Generator<Uint8Array> {
  const key = createHash('sha256').update(seed).digest()
  const cipher = createCipheriv('chacha20', key, Buffer.alloc(16))
  const zeros = Buffer.alloc(1 << 20)
  for (let left = size; left > 0; left -= zeros.length) {
    yield cipher.update(zeros.subarray(0, Math.min(left, zeros.length)))
  }
}

function bytesOf (text: string): Uint8Array {
  return new TextEncoder().encode(text)
}

/** Deterministic, non-repeating bytes (so no two chunks dedupe to one block). */
function patterned (size: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = 0x12345678
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    out[i] = x >>> 24
  }
  return out
}

async function * pieces (bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < bytes.length; o += size) yield bytes.subarray(o, o + size)
}

async function collect (it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of it) parts.push(p)
  return Buffer.concat(parts)
}

/** Where FsBlockstore (default NextToLast sharding) keeps a block on disk. */
function blockPath (root: string, cid: CID): string {
  const name = base32upper.encoder.encode(cid.multihash.bytes)
  return join(root, name.slice(-2), `${name}.data`)
}

describe('storage/unixfs', function () {
  this.timeout(120_000)
  let root: string
  let n = 0
  let store: FsBlockstore
  let storeDir: string

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'openledger-unixfs-test-'))
  })

  after(async () => {
    await rm(root, { recursive: true, force: true })
  })

  beforeEach(async () => {
    storeDir = join(root, `blocks-${n++}`)
    store = new FsBlockstore(storeDir)
    await store.open()
  })

  afterEach(async () => {
    await store.close()
    await rm(storeDir, { recursive: true, force: true })
  })

  describe('Kubo `ipfs add` CID vectors (real CIDs printed by Kubo, not computed here)', () => {
    // [content, CID, where Kubo asserts it]
    const small: Array<[string, string, string]> = [
      // ipfs/kubo README.md ("Some things to try": echo "hello world" > hello; ipfs add hello),
      // present until commit 584025bb6 (docs: improve README for first-time users).
      ['hello world\n', 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o', 'kubo README.md'],
      // ipfs/kubo test/cli/add_test.go: shortString = "hello world", shortStringCidV0.
      ['hello world', 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD', 'kubo test/cli/add_test.go'],
      // ipfs/kubo test/sharness/t0040-add-and-cat.sh: "zero length file has correct hash".
      ['', 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH', 'kubo t0040-add-and-cat.sh'],
      // ipfs/kubo test/sharness/t0040-add-and-cat.sh: echo "Hello Worlds!" >mountdir/hello.txt.
      ['Hello Worlds!\n', 'QmVr26fY1tKyspEJBniVhqxQeEjhF78XerGiqWAwraVLQH', 'kubo t0040-add-and-cat.sh'],
      // ipfs/kubo test/sharness/t0040-add-and-cat.sh: echo "Helloo Worlds!" >mountdir/hello2.txt.
      ['Helloo Worlds!\n', 'Qmf35k66MZNW2GijohUmXQEWKZU4cCGTCwK6idfnt152wJ', 'kubo t0040-add-and-cat.sh'],
      // ipfs/kubo test/sharness/t0040-add-and-cat.sh: echo "IPFS" | ipfs add --stdin-name file.txt.
      ['IPFS\n', 'QmdFyxZXsFiP4csgfM5uPu99AvFiKH62CSPDw5TP92nr7w', 'kubo t0040-add-and-cat.sh']
    ]
    for (const [text, cid, source] of small) {
      it(`${JSON.stringify(text)} -> ${cid} (${source})`, async () => {
        const res = await importFile(store, bytesOf(text))
        assert.equal(res.cid.toString(), cid)
        assert.equal(res.size, bytesOf(text).length)
        assert.deepEqual(res.blocks.map(String), [cid])
        assert.equal(new TextDecoder().decode(await readFileBytes(store, res.cid)), text)
      })
    }

    // ipfs/kubo test/cli/cid_profiles_test.go, profile unixfs-v0-2015 (= Kubo's default,
    // `defaultProfile`), added in commit 67c89bbd7 (feat(config): add Import.* for CID
    // Profiles from IPIP-499). Content: DeterministicRandomReaderBytes(size, seed).
    const large: Array<{ what: string, size: number, seed: string, cid: string, blocks: number, rootLinks: number }> = [
      // FileAtChunkSizeCID: one chunk exactly, a single dag-pb node with no links.
      { what: 'exactly one chunk', size: KUBO_CHUNK_SIZE, seed: 'chunk-v0-seed', cid: 'QmWmRj3dFDZdb6ABvbmKhEL6TmPbAfBZ1t5BxsEyJrcZhE', blocks: 1, rootLinks: 0 },
      // FileOverChunkSizeCID: one byte over, a root with 2 dag-pb `file` leaves.
      { what: 'one chunk + 1 byte (2 leaves)', size: KUBO_CHUNK_SIZE + 1, seed: 'chunk-v0-seed', cid: 'QmYyLxtzZyW22zpoVAtKANLRHpDjZtNeDjQdJrcQNWoRkJ', blocks: 3, rootLinks: 2 },
      // FileAtMaxLinksCID: 174 chunks, one layer with exactly 174 links.
      { what: '174 chunks (max links, one layer)', size: 174 * KUBO_CHUNK_SIZE, seed: 'v0-seed', cid: 'QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2', blocks: 175, rootLinks: 174 },
      // FileOverMaxLinksCID: 174 chunks + 1 byte, rebalanced to two layers:
      // root -> [174 leaves], [1 leaf]; 175 leaves + 2 inner nodes + root.
      { what: '174 chunks + 1 byte (two layers)', size: 174 * KUBO_CHUNK_SIZE + 1, seed: 'v0-seed', cid: 'QmV81WL765sC8DXsRhE5fJv2rwhS4icHRaf3J9Zk5FdRnW', blocks: 178, rootLinks: 2 }
    ]
    for (const v of large) {
      it(`${v.what}: ${v.size} bytes, seed ${JSON.stringify(v.seed)} -> ${v.cid} (kubo test/cli/cid_profiles_test.go)`, async () => {
        const res = await importFile(store, kuboDeterministicBytes(v.size, v.seed))
        assert.equal(res.cid.toString(), v.cid)
        assert.equal(res.size, v.size)
        assert.equal(res.blocks.length, v.blocks)
        assert.equal(res.blocks[0].toString(), v.cid)

        const rootNode = dagPb.decode(await collect(store.get(res.cid)))
        assert.equal(rootNode.Links.length, v.rootLinks)

        const verified = await verifyDag(store, res.cid)
        assert.equal(verified.size, v.size)
        assert.deepEqual(verified.blocks.map(String), res.blocks.map(String))

        // Streamed back out, the bytes are Kubo's bytes.
        const want = createHash('sha256')
        for (const chunk of kuboDeterministicBytes(v.size, v.seed)) want.update(chunk)
        const got = createHash('sha256')
        let size = 0
        for await (const chunk of readFile(store, res.cid)) { got.update(chunk); size += chunk.length }
        assert.equal(size, v.size)
        assert.equal(got.digest('hex'), want.digest('hex'))
      })
    }

    it('the 2-leaf root has the Kubo layout: UnixFS file, blocksizes [262144, 1], links to dag-pb leaves', async () => {
      const res = await importFile(store, kuboDeterministicBytes(KUBO_CHUNK_SIZE + 1, 'chunk-v0-seed'))
      const node = dagPb.decode(await collect(store.get(res.cid)))
      const fs = UnixFS.unmarshal(node.Data as Uint8Array)
      assert.equal(fs.type, 'file')
      assert.equal(fs.data, undefined)
      assert.deepEqual(fs.blockSizes, [262144n, 1n])
      for (const link of node.Links) {
        assert.equal(link.Hash.version, 0)
        assert.equal(link.Hash.code, dagPb.code)
        assert.equal(link.Name, '')
        const leaf = dagPb.decode(await collect(store.get(link.Hash)))
        assert.equal(link.Tsize, (await collect(store.get(link.Hash))).length)
        assert.equal(UnixFS.unmarshal(leaf.Data as Uint8Array).type, 'file')
      }
    })
  })

  describe('round trip', () => {
    const SIZE = 1024 * 1024 + 7

    it('1 MiB + 7 bytes through importFile / readFile is byte-identical; progress reaches the size', async () => {
      const content = patterned(SIZE)
      const progress: number[] = []
      // Odd-sized pieces: the chunker, not the source, decides block boundaries.
      const res = await importFile(store, pieces(content, 100_003), { onProgress: b => progress.push(b) })
      assert.equal(res.size, SIZE)
      assert.equal(res.blocks.length, 6) // 5 leaves (4 full + 7 bytes) + root
      assert.equal(new Set(res.blocks.map(String)).size, res.blocks.length)
      assert.ok(progress.length >= 2, `progress called ${progress.length} times`)
      assert.equal(progress.at(-1), SIZE)
      for (let i = 1; i < progress.length; i++) assert.ok(progress[i] > progress[i - 1], 'progress increases')

      const back = await collect(readFile(store, res.cid))
      assert.equal(back.length, SIZE)
      assert.ok(Buffer.from(back).equals(Buffer.from(content)))

      // Same bytes in one piece, and from a file on disk: same CID.
      assert.equal((await importFile(store, content)).cid.toString(), res.cid.toString())
      const path = join(root, 'roundtrip.bin')
      await writeFile(path, content)
      const diskProgress: number[] = []
      const fromDisk = await importPath(store, path, { onProgress: b => diskProgress.push(b) })
      assert.equal(fromDisk.cid.toString(), res.cid.toString())
      assert.equal(fromDisk.size, SIZE)
      assert.equal(diskProgress.at(-1), SIZE)
    })

    it('a file of repeated chunks lists each distinct block once and still reads back whole', async () => {
      const content = new Uint8Array(3 * KUBO_CHUNK_SIZE + 10) // zeros: 3 identical leaves
      const res = await importFile(store, content)
      assert.equal(res.blocks.length, 3) // root, the zero leaf, the 10-byte leaf
      const v = await verifyDag(store, res.cid)
      assert.equal(v.size, content.length)
      assert.deepEqual(v.blocks.map(String), res.blocks.map(String))
      assert.equal((await readFileBytes(store, res.cid)).length, content.length)
    })

    it('maxBytes refuses a larger file before reading its data', async () => {
      const res = await importFile(store, patterned(KUBO_CHUNK_SIZE * 2))
      const err = await expectRejects(readFileBytes(store, res.cid, { maxBytes: KUBO_CHUNK_SIZE }), FileTooLargeError)
      assert.equal((err as FileTooLargeError).details.size, KUBO_CHUNK_SIZE * 2)
      assert.equal((await readFileBytes(store, res.cid, { maxBytes: KUBO_CHUNK_SIZE * 2 })).length, KUBO_CHUNK_SIZE * 2)
    })

    it('importPath refuses a directory', async () => {
      await expectRejects(importPath(store, root), NotAFileError)
    })
  })

  describe('verifyDag', () => {
    it('returns every block and the file size of an intact DAG', async () => {
      const res = await importFile(store, patterned(KUBO_CHUNK_SIZE * 3 + 5))
      const v = await verifyDag(store, res.cid.toString())
      assert.equal(v.cid.toString(), res.cid.toString())
      assert.equal(v.size, KUBO_CHUNK_SIZE * 3 + 5)
      assert.deepEqual(v.blocks.map(String), res.blocks.map(String))
      assert.ok(v.dagBytes > v.size)
    })

    it('one flipped byte in one stored leaf block: BlockHashMismatchError naming that block', async () => {
      const res = await importFile(store, patterned(KUBO_CHUNK_SIZE * 3 + 5))
      const victim = res.blocks[2]
      const fh = await open(blockPath(storeDir, victim), 'r+')
      try {
        const one = Buffer.alloc(1)
        await fh.read(one, 0, 1, 1000)
        one[0] ^= 0x01
        await fh.write(one, 0, 1, 1000)
      } finally {
        await fh.close()
      }
      const err = await expectRejects(verifyDag(store, res.cid), BlockHashMismatchError)
      assert.equal((err as BlockHashMismatchError).details.cid, victim.toString())
      // Reading stops at that block too: no corrupt byte is ever handed out.
      await expectRejects(collect(readFile(store, res.cid)), BlockHashMismatchError)
    })

    it('a tampered root block: BlockHashMismatchError', async () => {
      const res = await importFile(store, bytesOf('hello world\n'))
      const fh = await open(blockPath(storeDir, res.cid), 'r+')
      try {
        await fh.write(Buffer.from('J'), 0, 1, 6) // 'h' of "hello" -> 'J'
      } finally {
        await fh.close()
      }
      await expectRejects(verifyDag(store, res.cid), BlockHashMismatchError)
    })

    it('a deleted block: MissingBlockError naming it', async () => {
      const res = await importFile(store, patterned(KUBO_CHUNK_SIZE * 3 + 5))
      const victim = res.blocks[3]
      await unlink(blockPath(storeDir, victim))
      const err = await expectRejects(verifyDag(store, res.cid), MissingBlockError)
      assert.equal((err as MissingBlockError).details.cid, victim.toString())
      await expectRejects(collect(readFile(store, res.cid)), MissingBlockError)
      // A root that was never stored at all.
      await expectRejects(verifyDag(store, 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o'), MissingBlockError)
    })

    it('a UnixFS directory or a dag-cbor value is NotAFileError', async () => {
      const dirBytes = dagPb.encode(dagPb.prepare({ Data: new UnixFS({ type: 'directory' }).marshal(), Links: [] }))
      const dirCid = CID.createV0(await sha256.digest(dirBytes))
      await store.put(dirCid, dirBytes)
      await expectRejects(verifyDag(store, dirCid), NotAFileError)
      await expectRejects(collect(readFile(store, dirCid)), NotAFileError)

      const cborBytes = dagCbor.encode({ hello: 'world' })
      const cborCid = CID.createV1(dagCbor.code, await sha256.digest(cborBytes))
      await store.put(cborCid, cborBytes)
      await expectRejects(verifyDag(store, cborCid), NotAFileError)
    })
  })
})
