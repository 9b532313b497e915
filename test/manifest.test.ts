// The manifest log as a Merkle-CRDT, on real blockstores on disk: concurrent appends
// converge, and every kind of bad entry is refused with its typed error.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import * as cborg from 'cborg'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { FsBlockstore } from 'blockstore-fs'
import type { CID } from 'multiformats/cid'
import { getBlock, type BlockStore } from '../storage/blocks.ts'
import { encodeEntry, signEntry } from '../storage/manifest/entry.ts'
import {
  ForgedContributorError, InvalidEntryLinkError, InvalidEntrySignatureError, MalformedEntryError, ManifestTooLargeError
} from '../storage/manifest/errors.ts'
import { ManifestLog, resolveVersion } from '../storage/manifest/log.ts'
import { addressOf, type RecordSigner } from '../storage/signing.ts'
import { signerFromPrivateKey } from '../protocols/signer.ts'
import type { Contribution } from '../storage/datanet/records.ts'

function newSigner (): RecordSigner & { address: string } {
  const s = signerFromPrivateKey(secp256k1.utils.randomSecretKey())
  return { ...s, address: addressOf(s.publicKey) }
}

/** A blockstore that asks another one for blocks it lacks, as a networked one asks peers. */
function withRemote (local: BlockStore, remote: BlockStore): BlockStore {
  return {
    put: local.put.bind(local),
    has: local.has.bind(local),
    get: async function * (cid: CID, opts?: any) {
      if (await local.has(cid)) { yield * local.get(cid, opts); return }
      yield await getBlock(remote, cid)
    } as any
  }
}

const FILE_CID = (n: number): Promise<CID> => import('../storage/blocks.ts').then(async m => (await m.dagCborCid(dagCbor.encode({ n }))))

async function contribution (signer: { address: string }, n: number): Promise<Contribution> {
  return { kind: 'contribution', contributor: signer.address, license: 'CC-BY-4.0', files: [{ path: `f${n}.txt`, cid: await FILE_CID(n), size: 10 + n, mediaType: 'text/plain' }] }
}

describe('manifest log (Merkle-CRDT)', () => {
  let dir: string
  let stores: FsBlockstore[]
  const alice = newSigner()
  const bob = newSigner()

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-manifest-'))
    stores = [new FsBlockstore(join(dir, 'a')), new FsBlockstore(join(dir, 'b'))]
    await Promise.all(stores.map(async s => await s.open()))
  })
  afterEach(async () => {
    await Promise.all(stores.map(async s => await s.close()))
    await rm(dir, { recursive: true, force: true })
  })

  const genesis = { kind: 'genesis' as const, name: 'mail', description: 'spam and ham', license: 'CC-BY-4.0', creator: alice.address }

  it('concurrent appends on two peers converge to the same heads, order and version', async () => {
    const a = await ManifestLog.create(stores[0], genesis, alice)
    await a.append(await contribution(alice, 1), alice)
    const b = await ManifestLog.open(withRemote(stores[1], stores[0]), a.id, a.heads)
    assert.equal(b.size, 2)
    // Both append at once, unaware of each other.
    await a.append(await contribution(alice, 2), alice)
    await b.append(await contribution(bob, 3), bob)
    await b.append(await contribution(bob, 4), bob)
    assert.notDeepEqual(a.heads.map(String), b.heads.map(String))
    // Exchange heads both ways.
    const aView = await ManifestLog.open(withRemote(stores[0], stores[1]), a.id, [...a.heads, ...b.heads])
    await b.merge(a.heads, {})
    const bView = await ManifestLog.open(withRemote(stores[1], stores[0]), a.id, [...b.heads, ...a.heads])
    assert.equal(aView.size, 5)
    assert.deepEqual(aView.heads.map(String), bView.heads.map(String))
    assert.equal(aView.heads.length, 2)
    assert.deepEqual(aView.ordered().map(e => e.cid.toString()), bView.ordered().map(e => e.cid.toString()))
    const va = await aView.version()
    assert.ok(va.equals(await bView.version()))
    // The version resolves back to the heads, and a later append merges them into one.
    assert.deepEqual((await resolveVersion(stores[0], va)).map(String), aView.heads.map(String))
    const merged = await aView.append(await contribution(alice, 5), alice)
    assert.equal(merged.entry.prev.length, 2)
    assert.deepEqual(aView.heads.map(String), [merged.cid.toString()])
    assert.equal(merged.entry.clock, 4)
  })

  it('reopening from the blockstore gives back the same log (nothing held only in memory)', async () => {
    const a = await ManifestLog.create(stores[0], genesis, alice)
    for (let i = 0; i < 5; i++) await a.append(await contribution(alice, i), alice)
    const again = await ManifestLog.open(stores[0], a.id, a.heads)
    assert.deepEqual(again.ordered().map(e => e.cid.toString()), a.ordered().map(e => e.cid.toString()))
  })

  describe('refuses bad entries', () => {
    async function storeEntry (entry: any): Promise<CID> {
      const { cid, bytes } = await encodeEntry(entry)
      await stores[0].put(cid, bytes)
      return cid
    }

    it('a bad signature', async () => {
      const a = await ManifestLog.create(stores[0], genesis, alice)
      const e = signEntry({ v: 1, datanet: a.id, prev: a.heads, clock: 1, ts: Date.now(), payload: await contribution(alice, 1) }, alice)
      e.sig = Uint8Array.from(e.sig, (x, i) => i === 10 ? x ^ 1 : x)
      await assert.rejects(a.merge([await storeEntry(e)]), InvalidEntrySignatureError)
      assert.equal(a.size, 1)
    })

    it('a forged contributor (signed by bob, claiming alice)', async () => {
      const a = await ManifestLog.create(stores[0], genesis, alice)
      const e = signEntry({ v: 1, datanet: a.id, prev: a.heads, clock: 1, ts: Date.now(), payload: await contribution(alice, 1) }, bob)
      await assert.rejects(a.merge([await storeEntry(e)]), ForgedContributorError)
    })

    it('a wrong clock, another datanet, or a second genesis', async () => {
      const a = await ManifestLog.create(stores[0], genesis, alice)
      const other = await ManifestLog.create(stores[0], { ...genesis, name: 'other' }, alice)
      const wrongClock = signEntry({ v: 1, datanet: a.id, prev: a.heads, clock: 7, ts: Date.now(), payload: await contribution(alice, 1) }, alice)
      await assert.rejects(a.merge([await storeEntry(wrongClock)]), InvalidEntryLinkError)
      const foreign = signEntry({ v: 1, datanet: other.id, prev: other.heads, clock: 1, ts: Date.now(), payload: await contribution(alice, 1) }, alice)
      await assert.rejects(a.merge([await storeEntry(foreign)]), InvalidEntryLinkError)
      const genesisAsChild = signEntry({ v: 1, datanet: a.id, prev: a.heads, clock: 1, ts: Date.now(), payload: genesis }, alice)
      await assert.rejects(a.merge([await storeEntry(genesisAsChild)]), InvalidEntryLinkError)
    })

    it('bytes that are not an entry, or not what their CID says', async () => {
      const a = await ManifestLog.create(stores[0], genesis, alice)
      const junk = dagCbor.encode({ hello: 'world' })
      const { dagCborCid } = await import('../storage/blocks.ts')
      const junkCid = await dagCborCid(junk)
      await stores[0].put(junkCid, junk)
      await assert.rejects(a.merge([junkCid]), MalformedEntryError)
      const e = signEntry({ v: 1, datanet: a.id, prev: a.heads, clock: 1, ts: Date.now(), payload: await contribution(alice, 1) }, alice)
      const { cid } = await encodeEntry(e)
      await stores[0].put(cid, junk) // a peer serving the wrong bytes under a CID
      await assert.rejects(a.merge([cid]), MalformedEntryError)
    })

    it('an honest entry with a key added after signing, at any depth; the store reopens after every merge', async () => {
      const a = await ManifestLog.create(stores[0], genesis, alice)
      const honest = signEntry({ v: 1, datanet: a.id, prev: a.heads, clock: 1, ts: Date.now(), payload: await contribution(alice, 1) }, alice)
      const tampered: any[] = [
        { ...honest, x: 1 },
        { ...honest, payload: { ...honest.payload, extra: 'y' } },
        { ...honest, payload: { ...honest.payload, files: [{ ...(honest.payload as Contribution).files[0], note: 'z' }] } }
      ]
      for (const t of tampered) {
        // Served by another peer: the bytes arrive through the networked store.
        const { cid, bytes } = await encodeEntry(t)
        await stores[1].put(cid, bytes)
        await assert.rejects(a.merge([cid], { source: withRemote(stores[0], stores[1]) }), MalformedEntryError)
        assert.equal(a.size, 1)
        const again = await ManifestLog.open(stores[0], a.id, a.heads)
        assert.equal(again.size, 1)
      }
      // The honest bytes still merge, are stored as received, and the store reopens.
      const { cid, bytes } = await encodeEntry(honest)
      await stores[1].put(cid, bytes)
      await a.merge([cid], { source: withRemote(stores[0], stores[1]) })
      assert.ok(Buffer.from(await getBlock(stores[0], cid)).equals(bytes))
      assert.equal((await ManifestLog.open(stores[0], a.id, a.heads)).size, 2)
    })

    it('bytes that decode but are not canonical dag-cbor (the signature covers the exact bytes)', async () => {
      const a = await ManifestLog.create(stores[0], genesis, alice)
      const honest = signEntry({ v: 1, datanet: a.id, prev: a.heads, clock: 1, ts: Date.now(), payload: await contribution(alice, 1) }, alice)
      // The same map with its keys in reverse order: it decodes to the same entry, whose
      // signature verifies, but the bytes (and so the CID) are not the ones signed.
      const reordered = cborg.encode(honest, { ...dagCbor.encodeOptions, mapSorter: (x: any, y: any) => x[0].value < y[0].value ? 1 : -1 })
      const { dagCborCid } = await import('../storage/blocks.ts')
      const cid = await dagCborCid(reordered)
      await stores[1].put(cid, reordered)
      await assert.rejects(a.merge([cid], { source: withRemote(stores[0], stores[1]) }), MalformedEntryError)
      assert.equal((await ManifestLog.open(stores[0], a.id, a.heads)).size, 1)
    })

    it('growth past the entry limit', async () => {
      const a = await ManifestLog.create(stores[0], genesis, alice)
      for (let i = 0; i < 4; i++) await a.append(await contribution(alice, i), alice)
      const small = ManifestLog.open(stores[0], a.id, a.heads, { maxEntries: 3 })
      await assert.rejects(small, ManifestTooLargeError)
    })
  })
})
