import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as dagPb from '@ipld/dag-pb'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { FsBlockstore } from 'blockstore-fs'
import { MemoryDatastore } from 'datastore-core'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { createPeerStack } from '../peer/net/libp2p.ts'
import { MessageTooLargeError, RemoteError, RequestTimeoutError } from '../protocols/errors.ts'
import type { StreamHost } from '../protocols/reqresp.ts'
import {
  IncompleteTransferError, SHARD_PROTOCOL, ShardSync, UnexpectedBlockError
} from '../protocols/shard/index.ts'
import { getBlock } from '../storage/blocks.ts'
import { BlockHashMismatchError, importFile, verifyDag, type ImportResult } from '../storage/unixfs/index.ts'
import { createPlainNode, type PlainNode } from '../bench/lib/plain-node.ts'
import { serveHas } from '../protocols/has/has.ts'
import { ShardFetcher } from '../peer/datanets/shard-fetcher.ts'
import { expectRejects } from './helpers/expect-throws.ts'

type Peer = ReturnType<typeof createPeerStack>

/** Deterministic, non-repeating bytes (no two 256 KiB chunks dedupe). */
function patterned (size: number, seed = 0x12345678): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    out[i] = x >>> 24
  }
  return out
}

// --- raw wire code for misbehaving responders (deliberately not protocols/shard/frames.ts)

function varint (n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) }
  out.push(n)
  return out
}

function rawFrame (payload: Uint8Array): Uint8Array {
  return Uint8Array.from([...varint(payload.byteLength), ...payload])
}

function rawBlockFrame (cid: CID, bytes: Uint8Array): Uint8Array {
  const payload = new Uint8Array(1 + cid.bytes.byteLength + bytes.byteLength)
  payload[0] = 0
  payload.set(cid.bytes, 1)
  payload.set(bytes, 1 + cid.bytes.byteLength)
  return rawFrame(payload)
}

/** The first bytes the requester sends (its request); the content is not parsed. */
async function firstMessage (stream: Stream): Promise<void> {
  await new Promise<void>(resolve => stream.addEventListener('message', () => resolve(), { once: true }))
}

async function sendAll (stream: Stream, frames: Uint8Array[]): Promise<void> {
  for (const f of frames) if (!stream.send(f)) await stream.onDrain()
}

async function newStore (dir: string, name: string): Promise<FsBlockstore> {
  const store = new FsBlockstore(join(dir, name))
  await store.open()
  return store
}

/** Every block in the store hashes to its CID (nothing corrupt was stored). */
async function assertAllBlocksValid (store: FsBlockstore): Promise<number> {
  let n = 0
  for await (const { cid } of store.getAll()) {
    const bytes = await getBlock(store, cid)
    const digest = createHash('sha256').update(bytes).digest()
    assert.ok(digest.equals(cid.multihash.digest), `stored block ${cid} does not hash to its CID`)
    n++
  }
  return n
}

describe('protocols/shard (/openledger/shard/1.0.0)', function () {
  this.timeout(120_000)
  let dir: string
  let provider: Peer
  let providerStore: FsBlockstore
  let providerSync: ShardSync
  let fetcher: Peer
  let liar: PlainNode
  let liarAddr: Multiaddr
  let file: ImportResult
  let fileBytes: Uint8Array
  /** What the misbehaving responder does with each stream, set per test. */
  let misbehave: (stream: Stream) => Promise<void>
  let n = 0

  async function peer (store: FsBlockstore): Promise<Peer> {
    const p = createPeerStack({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: [],
      mdns: false,
      network: 'shard-test',
      datastore: new MemoryDatastore(),
      blockstore: store,
      agentVersion: 'openledger-test',
      maxGossipBytes: 64 * 1024
    })
    await p.start()
    return p
  }

  const providerAddr = (): Multiaddr => provider.libp2p.getMultiaddrs()[0]

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-shard-test-'))
    providerStore = await newStore(dir, 'provider')
    // 3 MiB + a bit: 13 leaves of 256 KiB under one root, as `ipfs add` lays it out.
    fileBytes = patterned(3 * 1024 * 1024 + 12_345)
    file = await importFile(providerStore, fileBytes)
    provider = await peer(providerStore)
    providerSync = new ShardSync({ host: provider.libp2p, blockstore: providerStore })
    await providerSync.start()
    fetcher = await peer(await newStore(dir, 'fetcher-own'))
    liar = await createPlainNode()
    await liar.handle(SHARD_PROTOCOL, async (stream) => {
      try {
        await firstMessage(stream)
        await misbehave(stream)
      } catch (err) {
        stream.abort(err as Error)
      }
    })
    liarAddr = liar.getMultiaddrs()[0]
  })

  after(async () => {
    await providerSync?.stop()
    await provider?.stop()
    await fetcher?.stop()
    await liar?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  /** A fresh blockstore-fs to fetch into, and a ShardSync on the fetching peer over it. */
  async function fresh (limits?: ConstructorParameters<typeof ShardSync>[0]['limits']): Promise<{ store: FsBlockstore, sync: ShardSync }> {
    const store = await newStore(dir, `fetch-${n++}`)
    return { store, sync: new ShardSync({ host: fetcher.libp2p, blockstore: store, limits }) }
  }

  it('fetches a multi-block Kubo-style file between two peers; verifyDag passes on the receiver', async () => {
    assert.ok(file.blocks.length > 10, `expected a multi-block DAG, got ${file.blocks.length} blocks`)
    const { store, sync } = await fresh()
    const progress: Array<[number, number]> = []
    const got = await sync.fetch(providerAddr(), [file.cid], { onProgress: (bytes, blocks) => progress.push([bytes, blocks]) })
    assert.equal(got.blocks, file.blocks.length)
    assert.equal(got.local, 0)
    assert.equal(got.requests, 1)
    const v = await verifyDag(store, file.cid)
    assert.equal(v.size, fileBytes.byteLength)
    assert.deepEqual(v.blocks.map(String), file.blocks.map(String))
    assert.equal(got.bytes, v.dagBytes)
    assert.equal(progress.length, file.blocks.length)
    assert.deepEqual(progress.at(-1), [v.dagBytes, file.blocks.length])
  })

  it('asks only for what is missing: nothing when all is held, only the lost leaves otherwise', async () => {
    const { store, sync } = await fresh()
    await sync.fetch(providerAddr(), [file.cid])
    const again = await sync.fetch(providerAddr(), [file.cid])
    assert.deepEqual(again, { blocks: 0, bytes: 0, local: file.blocks.length, requests: 0 })

    const lost = [file.blocks[3], file.blocks[7]]
    for (const cid of lost) await store.delete(cid)
    const refetch = await sync.fetch(providerAddr(), [file.cid])
    assert.equal(refetch.blocks, 2)
    assert.equal(refetch.local, file.blocks.length - 2)
    assert.equal((await verifyDag(store, file.cid)).size, fileBytes.byteLength)
  })

  it('fetches several roots in one go, and splits them over requests beyond maxRootsPerRequest', async () => {
    const small = await Promise.all([1, 2, 3].map(async i => await importFile(providerStore, patterned(1000 + i, i))))
    const { store, sync } = await fresh({ maxRootsPerRequest: 2 })
    const got = await sync.fetch(providerAddr(), [file.cid, ...small.map(s => s.cid)])
    assert.equal(got.requests, 2)
    assert.equal(got.blocks, file.blocks.length + 3)
    for (const s of small) assert.equal((await verifyDag(store, s.cid)).size, s.size)
  })

  it('keeps going when the blockstore is slower than the network (bounded write queue, stream paused and resumed)', async () => {
    const store = await newStore(dir, `slow-${n++}`)
    let maxQueued = 0
    let inFlight = 0
    const slow = {
      has: store.has.bind(store),
      get: store.get.bind(store),
      put: async (cid: CID, bytes: Uint8Array) => {
        inFlight++
        maxQueued = Math.max(maxQueued, inFlight)
        await new Promise(resolve => setTimeout(resolve, 20))
        inFlight--
        return await store.put(cid, bytes)
      }
    }
    // Count the pauses of the real stream.
    let pauses = 0
    const host: StreamHost = {
      handle: fetcher.libp2p.handle.bind(fetcher.libp2p),
      unhandle: fetcher.libp2p.unhandle.bind(fetcher.libp2p),
      dialProtocol: async (peer, protocol, options) => {
        const stream = await fetcher.libp2p.dialProtocol(peer, protocol, options)
        const pause = stream.pause.bind(stream)
        stream.pause = () => { pauses++; pause() }
        return stream
      }
    }
    const sync = new ShardSync({ host, blockstore: slow, limits: { maxQueuedWriteBytes: 300_000, writeConcurrency: 2 } })
    const got = await sync.fetch(providerAddr(), [file.cid])
    assert.equal(got.blocks, file.blocks.length)
    assert.ok(maxQueued <= 2, `${maxQueued} writes at once, limit 2`)
    assert.ok(pauses > 0, 'the stream was never paused')
    assert.equal((await verifyDag(store, file.cid)).size, fileBytes.byteLength)
  })

  it('a CID the responder does not hold: typed refusal (NotFoundError), nothing stored', async () => {
    const { store, sync } = await fresh()
    const absent = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode('not held anywhere')))
    const err = await expectRejects(sync.fetch(providerAddr(), [absent]), RemoteError)
    assert.equal(err.details.remoteName, 'NotFoundError')
    assert.equal(await assertAllBlocksValid(store), 0)
  })

  it('serves from any blockstore, not only blockstore-fs (generic read path)', async () => {
    const wrapped = { get: providerStore.get.bind(providerStore), has: providerStore.has.bind(providerStore), put: providerStore.put.bind(providerStore) }
    const host = await peer(await newStore(dir, `generic-host-${n++}`))
    const generic = new ShardSync({ host: host.libp2p, blockstore: wrapped })
    await generic.start()
    try {
      const { store, sync } = await fresh()
      const got = await sync.fetch(host.libp2p.getMultiaddrs()[0], [file.cid])
      assert.equal(got.blocks, file.blocks.length)
      assert.equal((await verifyDag(store, file.cid)).size, fileBytes.byteLength)
    } finally {
      await generic.stop()
      await host.stop()
    }
  })

  it('the responder refuses a DAG larger than its maxBlocks (TooManyBlocksError)', async () => {
    const store = await newStore(dir, `small-provider-${n++}`)
    const imported = await importFile(store, patterned(2 * 1024 * 1024, 7))
    const host = await peer(store)
    const small = new ShardSync({ host: host.libp2p, blockstore: store, limits: { maxBlocks: 3 } })
    await small.start()
    try {
      const { sync } = await fresh()
      const err = await expectRejects(sync.fetch(host.libp2p.getMultiaddrs()[0], [imported.cid]), RemoteError)
      assert.equal(err.details.remoteName, 'TooManyBlocksError')
    } finally {
      await small.stop()
      await host.stop()
    }
  })

  it('the responder rate-limits requests per peer (RateLimitedError)', async () => {
    const store = await newStore(dir, `limited-provider-${n++}`)
    const imported = await importFile(store, patterned(5000, 9))
    const host = await peer(store)
    const limited = new ShardSync({ host: host.libp2p, blockstore: store, limits: { rateLimit: { burst: 1, refillMs: 60_000 } } })
    await limited.start()
    try {
      await (await fresh()).sync.fetch(host.libp2p.getMultiaddrs()[0], [imported.cid])
      const err = await expectRejects((await fresh()).sync.fetch(host.libp2p.getMultiaddrs()[0], [imported.cid]), RemoteError)
      assert.equal(err.details.remoteName, 'RateLimitedError')
    } finally {
      await limited.stop()
      await host.stop()
    }
  })

  describe('against a misbehaving responder (raw stream code)', () => {
    let rootBytes: Uint8Array
    let leaf: CID
    let leafBytes: Uint8Array

    before(async () => {
      rootBytes = await getBlock(providerStore, file.cid)
      leaf = dagPb.decode(rootBytes).Links[0].Hash
      leafBytes = await getBlock(providerStore, leaf)
    })

    it('a corrupted block: BlockHashMismatchError, stream closed, nothing corrupt stored', async () => {
      const corrupt = leafBytes.slice()
      corrupt[corrupt.length - 1] ^= 0xff
      misbehave = async (stream) => {
        await sendAll(stream, [rawBlockFrame(file.cid, rootBytes), rawBlockFrame(leaf, corrupt)])
        await stream.close()
      }
      const { store, sync } = await fresh()
      await expectRejects(sync.fetch(liarAddr, [file.cid]), BlockHashMismatchError)
      assert.equal(await store.has(leaf), false)
      // The root arrived intact before the bad leaf: it may be kept, and it is valid.
      assert.ok(await assertAllBlocksValid(store) <= 1)
    })

    it('the peer\'s fetcher moves to an honest holder and penalises the liar', async () => {
      const corrupt = leafBytes.slice()
      corrupt[0] ^= 0xff
      misbehave = async (stream) => {
        await sendAll(stream, [rawBlockFrame(file.cid, rootBytes), rawBlockFrame(leaf, corrupt)])
        await stream.close()
      }
      // The liar claims to hold everything.
      await serveHas(liar, async () => true).catch(() => {})
      await fetcher.libp2p.dial(liarAddr)
      await fetcher.libp2p.dial(providerAddr())
      await serveHas(provider.libp2p, async (cid) => await providerStore.has(cid)).catch(() => {})
      const { store, sync } = await fresh()
      const penalised: Array<[string, string]> = []
      const shardFetcher = new ShardFetcher({
        sync,
        host: fetcher.libp2p,
        self: fetcher.libp2p.peerId.toString(),
        peers: () => [liar.peerId.toString(), provider.libp2p.peerId.toString()], // the liar ranks first
        penalise: async (peer, why) => { penalised.push([peer, why]) },
        isBanned: (peer) => penalised.some(([p]) => p === peer),
        log: () => {}
      })
      const report = await shardFetcher.fetch([file.cid])
      assert.deepEqual(report.fetched.map(String), [file.cid.toString()])
      assert.deepEqual(report.missing, [])
      assert.deepEqual(penalised, [[liar.peerId.toString(), 'BlockHashMismatchError']])
      assert.equal((await verifyDag(store, file.cid)).size, fileBytes.byteLength)
      // Asked again, the liar is no longer among the holders tried.
      const again = await shardFetcher.fetch([file.cid])
      assert.equal(penalised.length, 1)
      assert.deepEqual(again.missing, [])
    })

    it('the peer\'s fetcher completes from another holder when one dies part way', async () => {
      // The first holder sends the root and one leaf, then its stream dies.
      let tried = 0
      misbehave = async (stream) => {
        tried++
        await sendAll(stream, [rawBlockFrame(file.cid, rootBytes), rawBlockFrame(leaf, leafBytes)])
        stream.abort(new Error('killed mid-transfer'))
      }
      await serveHas(liar, async () => true).catch(() => {})
      await fetcher.libp2p.dial(liarAddr)
      await fetcher.libp2p.dial(providerAddr())
      await serveHas(provider.libp2p, async (cid) => await providerStore.has(cid)).catch(() => {})
      const { store, sync } = await fresh()
      const penalised: string[] = []
      const shardFetcher = new ShardFetcher({
        sync,
        host: fetcher.libp2p,
        self: fetcher.libp2p.peerId.toString(),
        peers: () => [liar.peerId.toString(), provider.libp2p.peerId.toString()],
        penalise: async (peer) => { penalised.push(peer) },
        isBanned: (peer) => penalised.includes(peer),
        log: () => {}
      })
      const report = await shardFetcher.fetch([file.cid])
      assert.deepEqual(report.missing, [])
      assert.equal(tried, 1) // the dying holder was asked first
      assert.deepEqual(penalised, []) // going away is not bad content
      assert.equal((await verifyDag(store, file.cid)).size, fileBytes.byteLength)
    })

    it('a valid block not linked from the DAG: UnexpectedBlockError, not stored', async () => {
      const strayBytes = new TextEncoder().encode('a perfectly valid block, but nobody asked for it')
      const stray = CID.createV1(raw.code, await sha256.digest(strayBytes))
      misbehave = async (stream) => {
        await sendAll(stream, [rawBlockFrame(file.cid, rootBytes), rawBlockFrame(stray, strayBytes)])
        await stream.close()
      }
      const { store, sync } = await fresh()
      await expectRejects(sync.fetch(liarAddr, [file.cid]), UnexpectedBlockError)
      assert.equal(await store.has(stray), false)
      assert.ok(await assertAllBlocksValid(store) <= 1)
    })

    it('a block pushed before the root that links it: UnexpectedBlockError', async () => {
      misbehave = async (stream) => {
        await sendAll(stream, [rawBlockFrame(leaf, leafBytes)])
        await stream.close()
      }
      const { store, sync } = await fresh()
      await expectRejects(sync.fetch(liarAddr, [file.cid]), UnexpectedBlockError)
      assert.equal(await assertAllBlocksValid(store), 0)
    })

    it('the same block twice: UnexpectedBlockError', async () => {
      misbehave = async (stream) => {
        await sendAll(stream, [rawBlockFrame(file.cid, rootBytes), rawBlockFrame(leaf, leafBytes), rawBlockFrame(leaf, leafBytes)])
        await stream.close()
      }
      await expectRejects((await fresh()).sync.fetch(liarAddr, [file.cid]), UnexpectedBlockError)
    })

    it('an oversize frame: MessageTooLargeError as soon as its length is read', async () => {
      // The responder waits until the fetch has its answer (30 s at most), so a refusal
      // that needed the stream to end would come after it gave up, however busy the machine.
      let gaveUp = false
      let answered = (): void => {}
      const verdict = new Promise<void>(resolve => { answered = resolve })
      misbehave = async (stream) => {
        // Claims 64 MiB, sends 1 KiB of it and then waits: the length alone must do.
        await sendAll(stream, [Uint8Array.from([...varint(64 * 1024 * 1024), 0, ...new Uint8Array(1024)])])
        await Promise.race([verdict, new Promise(resolve => setTimeout(resolve, 30_000).unref())])
        gaveUp = true
      }
      try {
        const err = await expectRejects((await fresh()).sync.fetch(liarAddr, [file.cid]), MessageTooLargeError)
        assert.equal(gaveUp, false, 'refused before the responder gave up')
        assert.equal(err.details.max, 1024 * 1024 + 128)
      } finally {
        answered()
      }
    })

    it('a block larger than maxBlockBytes is refused the same way', async () => {
      misbehave = async (stream) => {
        await sendAll(stream, [rawBlockFrame(file.cid, rootBytes), rawBlockFrame(leaf, leafBytes)])
        await stream.close()
      }
      await expectRejects((await fresh({ maxBlockBytes: 100_000 })).sync.fetch(liarAddr, [file.cid]), MessageTooLargeError)
    })

    it('an END frame before the DAG is complete: IncompleteTransferError', async () => {
      misbehave = async (stream) => {
        const end = new Uint8Array([2, 0x92, 1, 0]) // kind END, msgpack [1, 0]
        await sendAll(stream, [rawBlockFrame(file.cid, rootBytes), rawFrame(end)])
        await stream.close()
      }
      await expectRejects((await fresh()).sync.fetch(liarAddr, [file.cid]), IncompleteTransferError)
    })

    it('a stream that just closes: IncompleteTransferError', async () => {
      misbehave = async (stream) => {
        await sendAll(stream, [rawBlockFrame(file.cid, rootBytes)])
        await stream.close()
      }
      await expectRejects((await fresh()).sync.fetch(liarAddr, [file.cid]), IncompleteTransferError)
    })

    it('a responder that goes silent: RequestTimeoutError after idleTimeoutMs', async () => {
      misbehave = async (stream) => {
        await sendAll(stream, [rawBlockFrame(file.cid, rootBytes)])
        await new Promise(resolve => setTimeout(resolve, 3_000))
        stream.abort(new Error('done'))
      }
      await expectRejects((await fresh({ idleTimeoutMs: 500 })).sync.fetch(liarAddr, [file.cid]), RequestTimeoutError)
    })

    it('an error frame is surfaced as RemoteError with the remote error name', async () => {
      misbehave = async (stream) => {
        // kind ERROR, msgpack ["NotFoundError", "nope"]
        const payload = Uint8Array.from([1, 0x92, 0xad, ...new TextEncoder().encode('NotFoundError'), 0xa4, ...new TextEncoder().encode('nope')])
        await sendAll(stream, [rawFrame(payload)])
        await stream.close()
      }
      const err = await expectRejects((await fresh()).sync.fetch(liarAddr, [file.cid]), RemoteError)
      assert.equal(err.details.remoteName, 'NotFoundError')
    })
  })

  it('the responder refuses a request with a malformed frame (MalformedMessageError)', async () => {
    const stream = await fetcher.libp2p.dialProtocol(providerAddr(), SHARD_PROTOCOL)
    stream.send(rawFrame(Uint8Array.from([0x93, 1, 2, 3]))) // msgpack [1, 2, 3]: not [1, [cid...]]
    await stream.close()
    const chunks: Uint8Array[] = []
    for await (const c of stream) chunks.push(c.subarray())
    const reply = Buffer.concat(chunks)
    assert.equal(reply[1], 1, 'an ERROR frame')
    assert.ok(reply.includes(Buffer.from('MalformedMessageError')))
  })

  it('walks dag-cbor links too: a manifest-like entry brings its file along', async () => {
    // A manifest-like dag-cbor block linking to the file: the whole thing comes over.
    const { encode, code } = await import('@ipld/dag-cbor')
    const manifest = encode({ kind: 'contribution', files: [{ cid: file.cid, size: fileBytes.byteLength }] })
    const mcid = CID.createV1(code, await sha256.digest(manifest))
    await providerStore.put(mcid, manifest)
    const { store, sync } = await fresh()
    const got = await sync.fetch(providerAddr(), [mcid])
    assert.equal(got.blocks, file.blocks.length + 1)
    assert.equal((await verifyDag(store, file.cid)).size, fileBytes.byteLength)
    assert.ok(UnixFS.unmarshal(dagPb.decode(await getBlock(store, file.cid)).Data!).type === 'file')
  })
})
