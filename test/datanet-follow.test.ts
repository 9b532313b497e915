// Junk datanets (issue 19, finding 5): heads announcements cost nothing to make, so a
// peer must follow only the datanets it chose (created, contributed to, asked for, or
// named by a job it takes part in), never every datanet it hears of. Two peers run the
// real DatanetService in this process (Helia with its blockstore on disk, libp2p with
// gossipsub on loopback); the attacker is a plain Helia node that serves the junk
// geneses over bitswap and announces them under throwaway keys.
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { multiaddr } from '@multiformats/multiaddr'
import { FsBlockstore } from 'blockstore-fs'
import { FsDatastore } from 'datastore-fs'
import { CID } from 'multiformats/cid'
import { DatanetService } from '../peer/datanets/datanet-service.ts'
import { identityFromPrivateKey, type Identity } from '../peer/identity/keystore.ts'
import { createPeerStack } from '../peer/net/libp2p.ts'
import { openEnvelope, maxEnvelopeBytes } from '../protocols/envelope.ts'
import { Inbound } from '../protocols/inbound.ts'
import { defaultRegistry, type DatanetHeads } from '../protocols/messages/index.ts'
import { ReplayGuard } from '../protocols/replay-guard.ts'
import { DATANET_TOPIC, topicName } from '../protocols/topics.ts'
import { getBlock } from '../storage/blocks.ts'
import { addressOf } from '../storage/signing.ts'
import { junkGenesis, plainHelia, type PlainHelia } from '../bench/attacks/plain-peers.ts'
import { waitFor } from './helpers/wait.ts'

const NETWORK = 'follow-test'
const TOPIC = topicName(NETWORK, DATANET_TOPIC)
const GiB = 2 ** 30
const JUNK = 1_001

interface Peer {
  identity: Identity
  dir: string
  svc: DatanetService
  helia: ReturnType<typeof createPeerStack>
  /** The peer's own blocks on disk. */
  blocks: FsBlockstore
  stop: () => Promise<void>
}

/** A peer's datanets in this process: the same wiring as peer/node/peer-node.ts, without the rest of the node. */
async function startPeer (dir: string, key: Uint8Array, storagePeers: () => string[]): Promise<Peer> {
  const identity = identityFromPrivateKey(key)
  const datastore = new FsDatastore(join(dir, 'datastore'))
  await datastore.open()
  const blockstore = new FsBlockstore(join(dir, 'blocks'))
  await blockstore.open()
  const registry = defaultRegistry()
  const helia = createPeerStack({
    privateKey: identity.libp2pKey, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], mdns: false, network: NETWORK,
    datastore, blockstore, agentVersion: 'openledger/test', maxGossipBytes: maxEnvelopeBytes(registry) + 1024
  })
  await helia.start()
  const svc = new DatanetService({
    helia, libp2p: helia.libp2p, localBlocks: blockstore, identity, dataDir: dir, network: NETWORK, registry,
    inbound: new Inbound({ network: NETWORK, registry, replayGuard: new ReplayGuard() }),
    candidates: () => storagePeers().map(peerId => ({ peerId, freeBytes: 100 * GiB })),
    log: () => {}
  })
  await svc.start()
  return {
    identity, dir, svc, helia, blocks: blockstore,
    stop: async () => {
      await svc.stop()
      await helia.stop()
      await blockstore.close()
      await datastore.close()
    }
  }
}

/** Heads announcements a peer receives on the datanet topic (accepted by its validator), decoded. */
function recordHeads (peer: Peer): Array<{ signer: string, body: DatanetHeads }> {
  const seen: Array<{ signer: string, body: DatanetHeads }> = []
  const registry = defaultRegistry()
  peer.helia.libp2p.services.pubsub.addEventListener('message', (e) => {
    if (e.detail.topic !== TOPIC) return
    const env = openEnvelope<DatanetHeads>(e.detail.data, { network: NETWORK, registry })
    seen.push({ signer: addressOf(env.signer), body: env.body })
  })
  return seen
}

async function connect (from: { libp2p: any }, to: Peer): Promise<void> {
  await from.libp2p.dial(multiaddr(to.helia.libp2p.getMultiaddrs()[0].toString()))
  await waitFor('the gossip mesh on the datanet topic', () => from.libp2p.services.pubsub.getSubscribers(TOPIC).some((p: any) => p.toString() === to.identity.peerId), 15_000)
}

/**
 * Announces `count` junk geneses until `heard` (the target's log of accepted heads) holds
 * every one: gossip may drop some of a burst on a loaded machine, and those are
 * announced again, freshly sealed. Returns the junk ids.
 */
async function announceJunk (attacker: PlainHelia, count: number, offset: number, heard: Array<{ body: DatanetHeads }>): Promise<string[]> {
  const junk = new Map<string, () => Uint8Array>()
  for (let i = 0; i < count; i++) {
    const j = await junkGenesis(attacker, offset + i, NETWORK)
    junk.set(j.id, j.announce)
  }
  await waitFor(`the target to hear all ${count} junk announcements`, async (saw) => {
    const got = new Set(heard.map(h => h.body.datanet))
    const missing = [...junk.keys()].filter(id => !got.has(id))
    saw(`${count - missing.length} heard`)
    if (missing.length === 0) return true
    for (const [i, id] of missing.entries()) {
      await attacker.libp2p.services.pubsub.publish(TOPIC, junk.get(id)!())
      if (i % 50 === 49) await new Promise(resolve => setTimeout(resolve, 20)) // let the stream drain
    }
    return false
  }, 120_000, 3_000)
  return [...junk.keys()]
}

describe('junk datanets: a peer follows only what it chose', function () {
  this.timeout(180_000)
  let dir: string
  const keys = { a: secp256k1.utils.randomSecretKey(), b: secp256k1.utils.randomSecretKey() }
  let a: Peer
  let b: Peer
  let attacker: PlainHelia
  let atB: Array<{ signer: string, body: DatanetHeads }>
  let atA: Array<{ signer: string, body: DatanetHeads }>
  const junk: string[] = []
  let honestVersion = ''
  const storagePeers = (): string[] => [a, b].filter(p => p !== undefined).map(p => p.identity.peerId)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-datanet-follow-'))
    a = await startPeer(join(dir, 'a'), keys.a, storagePeers)
    b = await startPeer(join(dir, 'b'), keys.b, storagePeers)
    atA = recordHeads(a)
    atB = recordHeads(b)
    await connect(b.helia, a)
    attacker = await plainHelia(secp256k1.utils.randomSecretKey())
    attacker.libp2p.services.pubsub.subscribe(TOPIC)
    await connect(attacker, b)
  })
  after(async () => {
    await attacker?.stop()
    await b?.stop()
    await a?.stop()
    // A stopped datastore may still finish a write: retry instead of failing on ENOTEMPTY.
    await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 })
  })

  it(`${JUNK.toLocaleString('en')} junk geneses announced: none is followed, saved, fetched or announced again`, async () => {
    junk.push(...await announceJunk(attacker, JUNK, 0, atB))
    const junkSet = new Set(junk)
    // A relayed copy reaches A too; then one announce tick of B's (every 5 s) goes by.
    await new Promise(resolve => setTimeout(resolve, 6_000))
    for (const p of [a, b]) {
      const followed = p.svc.store.list().map(l => l.id).filter(id => junkSet.has(id))
      assert.equal(followed.length, 0, `a peer follows ${followed.length} junk datanets`)
      const files = await readdir(join(p.dir, 'datanets')).catch(() => [] as string[])
      assert.equal(files.filter(f => junkSet.has(f.replace(/\.json$/, ''))).length, 0, 'junk heads were saved')
      let fetched = 0
      for (const id of junk.slice(0, 50)) if (await p.blocks.has(CID.parse(id))) fetched++
      assert.equal(fetched, 0, 'junk geneses were fetched into the blockstore')
    }
    const reannounced = atA.filter(h => h.signer === b.identity.address && junkSet.has(h.body.datanet))
    assert.equal(reannounced.length, 0, 'B announced junk datanets as its own')
    assert.ok(b.svc.stats().ignoredHeads >= JUNK, 'the junk counts as ignored')
  })

  it('a datanet this peer follows is still merged, updated and replicated after the junk', async () => {
    const honest = await a.svc.create({ name: 'honest', description: 'real data', license: 'CC0-1.0' })
    const followed = await b.svc.follow(honest.id, AbortSignal.timeout(30_000))
    assert.equal(followed.id, honest.id)
    // Pending only if A's genesis did not reach B within 30 s (a loaded machine): it opens when A's heads come.
    await waitFor('B to open the honest datanet', () => b.svc.store.has(honest.id), 30_000)
    const notes = join(dir, 'notes')
    await mkdir(notes, { recursive: true })
    await writeFile(join(notes, 'one.txt'), 'a real contribution\n'.repeat(20))
    const first = await a.svc.contribute(honest.id, [notes], undefined, () => {}, AbortSignal.timeout(30_000)) as { version: string }
    await waitFor('B to merge the first contribution', async () => (await b.svc.atVersion(honest.id)).version === first.version, 30_000, 200)

    // Another 1,001 junk announcements, then an honest update: B still merges it.
    junk.push(...await announceJunk(attacker, JUNK, JUNK, atB))
    await writeFile(join(notes, 'two.txt'), 'a second real contribution\n'.repeat(20))
    const second = await a.svc.contribute(honest.id, [join(notes, 'two.txt')], undefined, () => {}, AbortSignal.timeout(30_000)) as { version: string }
    await waitFor('B to merge the update after the junk', async () => (await b.svc.atVersion(honest.id)).version === second.version, 30_000, 200)
    honestVersion = second.version
    assert.deepEqual(b.svc.store.list().map(l => l.id), [honest.id])
    // Both shards are placed on the two peers that follow it (R = 3 > 2 followers): B pins them.
    const view = await waitFor('B to pin both shards', async () => {
      const v = await b.svc.show(honest.id)
      return v.replication.shards.every(s => s.holders.includes(b.identity.peerId)) ? v : undefined
    }, 30_000, 500)
    assert.equal(view.replication.shards.length, 2)
    assert.equal(view.replication.target, 2)
  })

  it('a job naming a version of a datanet not followed yet follows it (and only when the version is of the datanet it names)', async () => {
    const data = await a.svc.create({ name: 'job-data', description: 'for a job', license: 'CC0-1.0' })
    const folder = join(dir, 'job-data')
    await mkdir(folder, { recursive: true })
    await writeFile(join(folder, 'x.txt'), 'training text\n'.repeat(20))
    const added = await a.svc.contribute(data.id, [folder], undefined, () => {}, AbortSignal.timeout(30_000)) as { version: string }
    assert.equal(b.svc.store.follows(data.id), false)
    // A version under another datanet's name is refused, and nothing is followed.
    await assert.rejects(b.svc.atVersion(`other-name@${added.version}`), { name: 'UnknownDatanetError' })
    await assert.rejects(b.svc.atVersion(`job-data@${honestVersion}`), { name: 'UnknownDatanetError' })
    assert.equal(b.svc.store.follows(data.id), false)
    const at = await b.svc.atVersion(`job-data@${added.version}`)
    assert.equal(at.id, data.id)
    assert.equal(at.log.size, 2)
    assert.deepEqual(b.svc.store.reasons(data.id), ['job'])
  })

  it('after a restart the follow list is back and a legacy heads file nobody follows is evicted', async () => {
    const honest = b.svc.store.list().find(l => (l.genesis.entry.payload as { name: string }).name === 'honest')!.id
    const forJob = b.svc.store.list().find(l => l.id !== honest)!.id
    await b.stop()
    // The layout before follow lists: a heads file for every datanet heard of. One for a junk genesis (its block on disk).
    const j = await junkGenesis(attacker, 99_999, NETWORK)
    const blocks = new FsBlockstore(join(b.dir, 'blocks'))
    await blocks.open()
    await blocks.put(CID.parse(j.id), await getBlock(attacker.blockstore, CID.parse(j.id)))
    await blocks.close()
    await writeFile(join(b.dir, 'datanets', `${j.id}.json`), JSON.stringify({ id: j.id, heads: [j.id] }))
    b = await startPeer(b.dir, keys.b, storagePeers)
    assert.deepEqual(b.svc.store.list().map(l => l.id).sort(), [honest, forJob].sort())
    assert.deepEqual(b.svc.store.reasons(honest), ['follow'])
    assert.deepEqual(b.svc.store.reasons(forJob), ['job'])
    assert.ok(!(await readdir(join(b.dir, 'datanets'))).includes(`${j.id}.json`), 'the legacy junk heads file is removed')
  })

  it('unfollowing drops the datanet and unpins its shards; its heads are then ignored', async () => {
    const honest = b.svc.store.resolve('honest')
    const shards = (await b.svc.show(honest.id)).replication.shards.map(s => CID.parse(s.cid))
    assert.ok((await Promise.all(shards.map(async c => await b.helia.pins.isPinned(c)))).every(Boolean), 'B held the shards')
    const r = await b.svc.unfollow('honest')
    assert.deepEqual(r, { id: honest.id, unpinned: 2 })
    assert.equal(b.svc.store.follows(honest.id), false)
    assert.ok((await Promise.all(shards.map(async c => await b.helia.pins.isPinned(c)))).every(p => !p), 'the shards are unpinned')
    assert.ok(!(await readdir(join(b.dir, 'datanets'))).includes(`${honest.id}.json`))
    // A's next announcement of it is one B ignores.
    await connect(b.helia, a)
    const ignored = b.svc.stats().ignoredHeads
    await waitFor('B to ignore A\'s heads of the datanet it unfollowed', () => b.svc.stats().ignoredHeads > ignored, 15_000)
    assert.equal(b.svc.store.follows(honest.id), false)
  })
})
