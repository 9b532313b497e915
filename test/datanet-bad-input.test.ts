// Bad manifest entries from the network: a plain Helia node (libp2p + bitswap +
// gossipsub, not the project's peer code) announces heads whose entries fail their
// checks. The peer must refuse them with the typed error, keep its datanet as it was,
// and disconnect and ignore the announcer (the heads' signer), never the honest peer
// that relayed them.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { Devnet } from '../peer/devnet/devnet.ts'
import { fetchStatus } from '../peer/cli/commands/status.ts'
import { sealEnvelope } from '../protocols/envelope.ts'
import { DatanetHeadsMessage } from '../protocols/messages/index.ts'
import { signerFromPrivateKey } from '../protocols/signer.ts'
import { DATANET_TOPIC, topicName } from '../protocols/topics.ts'
import { encodeEntry, signEntry } from '../storage/manifest/entry.ts'
import { addressOf } from '../storage/signing.ts'
import { runCli } from './helpers/cli.ts'
import { plainHelia } from '../bench/attacks/plain-peers.ts'
import { waitFor } from './helpers/wait.ts'

const TOPIC = topicName('devnet', DATANET_TOPIC)

describe('bad manifest entries from a plain Helia node', function () {
  this.timeout(120_000)
  let dir: string
  let devnet: Devnet
  let datanet: { id: string, creator: string }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-datanet-attack-'))
    devnet = new Devnet({ dir, peers: 2, advertIntervalMs: 1_000, benchSize: 64 })
    await devnet.start()
    const r = await runCli(['datanet', 'create', 'target', '--license', 'CC0-1.0', '--json', '-d', devnet.peers[0].dataDir])
    assert.equal(r.code, 0, r.stderr)
    datanet = JSON.parse(r.stdout)
    // Peer 1 follows it too (a peer acts only on datanets it follows): the relay case needs it to merge and hold the bad entry.
    const f = await runCli(['datanet', 'follow', datanet.id, '--json', '-d', devnet.peers[1].dataDir])
    assert.equal(f.code, 0, f.stderr)
  })
  after(async () => {
    await devnet?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const cases = [
    {
      error: 'ForgedContributorError',
      entry: (attacker: ReturnType<typeof signerFromPrivateKey>) => signEntry({
        v: 1, datanet: datanet.id, prev: [CID.parse(datanet.id)], clock: 1, ts: Date.now(),
        // Claims the datanet's creator as contributor, signed with the attacker's key.
        payload: { kind: 'contribution', contributor: datanet.creator, license: 'CC0-1.0', files: [{ path: 'x.txt', cid: CID.parse('QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o'), size: 12, mediaType: 'text/plain' }] }
      }, attacker)
    },
    {
      error: 'InvalidEntrySignatureError',
      entry: (attacker: ReturnType<typeof signerFromPrivateKey>) => {
        const e = signEntry({
          v: 1, datanet: datanet.id, prev: [CID.parse(datanet.id)], clock: 1, ts: Date.now(),
          payload: { kind: 'contribution', contributor: addressOf(attacker.publicKey), license: 'CC0-1.0', files: [{ path: 'y.txt', cid: CID.parse('QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o'), size: 12, mediaType: 'text/plain' }] }
        }, attacker)
        return { ...e, sig: Uint8Array.from(e.sig, (b, i) => i === 3 ? b ^ 0xff : b) }
      }
    }
  ]

  for (const c of cases) {
    it(`refuses an entry that fails with ${c.error}, and drops the sender`, async () => {
      const target = devnet.peers[0]
      const key = secp256k1.utils.randomSecretKey()
      const signer = signerFromPrivateKey(key)
      const attacker = await plainHelia(key)
      try {
        const { cid, bytes } = await encodeEntry(c.entry(signer) as any)
        await attacker.blockstore.put(cid, bytes)
        attacker.libp2p.services.pubsub.subscribe(TOPIC)
        await attacker.libp2p.dial(multiaddr(target.addrs[0]))
        await waitFor('the attacker in the target\'s topic mesh', () => attacker.libp2p.services.pubsub.getSubscribers(TOPIC).some(p => p.toString() === target.peerId))
        const before = await fetchStatus(target.statusUrl!)
        await attacker.libp2p.services.pubsub.publish(TOPIC, sealEnvelope({
          network: 'devnet', type: DatanetHeadsMessage.type, signer,
          body: { datanet: datanet.id, name: 'target', heads: [cid.toString()], entries: 2 }
        }))
        const after = await waitFor(`${c.error} at the target`, async () => {
          const s = await fetchStatus(target.statusUrl!)
          return (s.datanets.failures[c.error] ?? 0) > (before.datanets.failures[c.error] ?? 0) ? s : undefined
        })
        assert.ok(after.datanets.penalised.some(p => p.peer === attacker.libp2p.peerId.toString() && p.why === c.error))
        await waitFor('the target to hang up on the attacker', () => attacker.libp2p.getConnections().every(conn => conn.remotePeer.toString() !== target.peerId))
        // The datanet is as it was: only its genesis.
        const list = JSON.parse((await runCli(['datanet', 'list', '--json', '-d', target.dataDir])).stdout).datanets
        assert.equal(list.find((d: any) => d.id === datanet.id).entries, 1)
      } finally {
        await attacker.stop()
      }
    })
  }
  it('blames the announcer, not the honest peer that relayed its heads', async () => {
    const [target, relay] = devnet.peers
    const key = secp256k1.utils.randomSecretKey()
    const signer = signerFromPrivateKey(key)
    const attacker = await plainHelia(key)
    try {
      const { cid, bytes } = await encodeEntry(cases[0].entry(signer) as any)
      await attacker.blockstore.put(cid, bytes)
      attacker.libp2p.services.pubsub.subscribe(TOPIC)
      // Only the relay hears the attacker; the target gets the heads through the relay.
      await attacker.libp2p.dial(multiaddr(relay.addrs[0]))
      await waitFor('the attacker in the relay\'s topic mesh', () => attacker.libp2p.services.pubsub.getSubscribers(TOPIC).some(p => p.toString() === relay.peerId))
      const before = await fetchStatus(target.statusUrl!)
      assert.ok(before.connections.some(c => c.peerId === relay.peerId), 'the target and the relay start connected')
      await attacker.libp2p.services.pubsub.publish(TOPIC, sealEnvelope({
        network: 'devnet', type: DatanetHeadsMessage.type, signer,
        body: { datanet: datanet.id, name: 'target', heads: [cid.toString()], entries: 2 }
      }))
      const after = await waitFor('ForgedContributorError at the target, through the relay', async () => {
        const s = await fetchStatus(target.statusUrl!)
        return (s.datanets.failures.ForgedContributorError ?? 0) > (before.datanets.failures.ForgedContributorError ?? 0) ? s : undefined
      })
      assert.ok(after.datanets.penalised.some(p => p.peer === attacker.libp2p.peerId.toString()), 'the announcer is penalised')
      for (const peer of [target, relay]) {
        const s = await fetchStatus(peer.statusUrl!)
        const other = peer === target ? relay : target
        assert.ok(!s.datanets.penalised.some(p => p.peer === other.peerId), `peer ${peer.peerId} penalised an honest peer`)
        assert.ok(s.connections.some(c => c.peerId === other.peerId), 'the honest peers stay connected')
      }
    } finally {
      await attacker.stop()
    }
  })
})
