// Gossip scoring against real peer processes on loopback. A plain libp2p node (not the
// project's send path) publishes messages the target's topic validator Rejects: the
// target's gossipsub must count them against it until it is graylisted (then even its
// valid messages are dropped unread), while honest neighbours keep a non-negative
// score, also when an attacker feeds them messages that are valid for them and
// untimely for the target (the same signer and nonce sent two ways at once).
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { multiaddr } from '@multiformats/multiaddr'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import { Devnet } from '../peer/devnet/devnet.ts'
import type { StatusReport } from '../peer/node/peer-node.ts'
import { fetchStatus } from '../peer/cli/commands/status.ts'
import { NONCE_BYTES, sealEnvelope } from '../protocols/envelope.ts'
import { GOSSIP_SCORE_THRESHOLDS } from '../protocols/gossip-score.ts'
import { CapacityAdvertMessage } from '../protocols/messages/index.ts'
import { signerFromPrivateKey, type Signer } from '../protocols/signer.ts'
import { CAPACITY_TOPIC, topicName } from '../protocols/topics.ts'
import { advertFixture } from './helpers/fixtures.ts'
import { createPlainNode, type PlainNode } from '../bench/lib/plain-node.ts'
import { waitFor } from './helpers/wait.ts'

const NETWORK = 'devnet'
const TOPIC = topicName(NETWORK, CAPACITY_TOPIC)
const GRAYLIST = GOSSIP_SCORE_THRESHOLDS.graylistThreshold

describe('gossip scoring: a sender of rejected messages pays for them', function () {
  this.timeout(180_000)
  let dir: string
  let devnet: Devnet
  const nodes: PlainNode[] = []
  let targetId: string
  let honestId: string

  const status = async (i: number): Promise<StatusReport> => await fetchStatus(devnet.peers[i].statusUrl!)
  const seal = (signer: Signer, overrides: Partial<Parameters<typeof sealEnvelope>[0]> = {}): Uint8Array => sealEnvelope({
    network: NETWORK, type: CapacityAdvertMessage.type, body: advertFixture(), signer, ...overrides
  })

  /** A plain node, keyed by `key`, dialled to devnet peer `peer` and in its capacity topic. */
  async function plainNodeAt (peer: number, key = secp256k1.utils.randomSecretKey()): Promise<PlainNode> {
    const node = await createPlainNode(privateKeyFromRaw(key))
    nodes.push(node)
    await node.start()
    node.services.pubsub.subscribe(TOPIC)
    // libp2p refuses more than 5 inbound connections a second from one host: retry.
    await waitFor(`a connection to peer ${peer}`, async () => { await node.dial(multiaddr(devnet.peers[peer].addrs[0])); return true }, 15_000, 250)
    const id = devnet.peers[peer].peerId
    await waitFor(`peer ${peer} in the plain node's topic peers`, () =>
      node.services.pubsub.getSubscribers(TOPIC).some(p => p.toString() === id))
    await waitFor(`the plain node in peer ${peer}'s gossip peers`, async () => (await status(peer)).gossipScores?.[node.peerId.toString()] !== undefined)
    return node
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-gossip-score-'))
    // peer 0 is the target, peer 1 its honest neighbour.
    devnet = new Devnet({ dir, peers: 2, advertIntervalMs: 1_000, benchSize: 64 })
    await devnet.start()
    targetId = devnet.peers[0].peerId
    honestId = devnet.peers[1].peerId
    await waitFor('the honest peers in each other\'s gossip', async () =>
      (await status(0)).gossipScores?.[honestId] !== undefined && (await status(1)).gossipScores?.[targetId] !== undefined)
  })

  after(async () => {
    for (const n of nodes) { try { await n.stop() } catch {} }
    await devnet?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('counts each rejected message against the neighbour that sent it until it is graylisted, then drops even its valid messages unread', async () => {
    const key = secp256k1.utils.randomSecretKey()
    const attacker = await plainNodeAt(0, key)
    const attackerId = attacker.peerId.toString()
    const signer = signerFromPrivateKey(key)
    const fromAttacker = (s: StatusReport): number => s.inbound.recentRejections.filter(r => r.from === attackerId).length
    const scores: number[] = []
    for (let sent = 1; sent <= 8; sent++) {
      const before = (await status(0)).inbound.byError.InvalidSignatureError ?? 0
      const bytes = seal(signer)
      bytes[bytes.length - 5] ^= 0x01 // inside the signature: our validator Rejects it
      await attacker.services.pubsub.publish(TOPIC, bytes)
      await waitFor('the forgery rejected at the target', async () => ((await status(0)).inbound.byError.InvalidSignatureError ?? 0) > before, 15_000)
      // gossipsub caches a score for one heartbeat (1 s): read it after that.
      await new Promise(resolve => setTimeout(resolve, 1_200))
      scores.push((await status(0)).gossipScores[attackerId])
      if (scores.at(-1)! < GRAYLIST) break
    }
    assert.ok(scores[0] < 0, `one rejected message already costs its sender: scores ${scores.join(', ')}`)
    for (let i = 1; i < scores.length; i++) assert.ok(scores[i] < scores[i - 1], `every rejection costs more: ${scores.join(', ')}`)
    assert.ok(scores.at(-1)! < GRAYLIST, `graylisted (below ${GRAYLIST}) after ${scores.length} rejected messages: ${scores.join(', ')}`)
    assert.ok(scores.length <= 4, `graylisted within 4 rejected messages, took ${scores.length}`)

    // Graylisted: what it sends now, a forgery or a valid advert, never reaches the validator.
    const rejectedBefore = fromAttacker(await status(0))
    const acceptedBefore = (await status(0)).inbound.accepted
    const forged = seal(signer)
    forged[forged.length - 5] ^= 0x01
    await attacker.services.pubsub.publish(TOPIC, forged)
    const seq = Date.now()
    await attacker.services.pubsub.publish(TOPIC, seal(signer, { body: advertFixture({ seq }) }))
    await new Promise(resolve => setTimeout(resolve, 3_000))
    const after = await status(0)
    assert.equal(fromAttacker(after), rejectedBefore, 'a graylisted peer\'s messages are not validated')
    assert.ok(!after.adverts.some(a => a.peerId === attackerId), 'a graylisted peer\'s valid advert is dropped unread')
    assert.ok(after.inbound.accepted >= acceptedBefore) // the honest neighbour's adverts still count
    // The honest neighbours still think well of each other.
    assert.ok(after.gossipScores[honestId] >= 0, `the honest neighbour at the target: ${after.gossipScores[honestId]}`)
    const honest = await status(1)
    assert.ok(honest.gossipScores[targetId] >= 0, `the target at the honest neighbour: ${honest.gossipScores[targetId]}`)
  })

  it('does not penalise honest neighbours for relaying, in good faith, what is untimely to us (one nonce sent two ways at once)', async () => {
    // Two plain nodes, one at each honest peer, publish two different adverts under one
    // signer and one nonce at the same moment: each honest peer accepts the one it hears
    // first, relays it, and finds the other's relay a replay.
    const atTarget = await plainNodeAt(0)
    const atHonest = await plainNodeAt(1)
    const signer = signerFromPrivateKey(secp256k1.utils.randomSecretKey())
    const replaysFrom = (s: StatusReport, peer: string): number =>
      s.inbound.recentRejections.filter(r => r.from === peer && r.error === 'ReplayedNonceError').length
    let crossed = 0
    for (let round = 0; round < 12 && crossed < 4; round++) {
      const nonce = secp256k1.utils.randomSecretKey().slice(0, NONCE_BYTES)
      const seq = Date.now()
      await Promise.all([
        atTarget.services.pubsub.publish(TOPIC, seal(signer, { nonce, body: advertFixture({ seq }) })),
        atHonest.services.pubsub.publish(TOPIC, seal(signer, { nonce, body: advertFixture({ seq: seq + 1 }) }))
      ])
      await new Promise(resolve => setTimeout(resolve, 400))
      crossed = replaysFrom(await status(0), honestId) + replaysFrom(await status(1), targetId)
    }
    assert.ok(crossed >= 2, `honest peers relayed replays to each other (${crossed} seen): the scenario happened`)
    await new Promise(resolve => setTimeout(resolve, 1_200)) // past the score cache
    const target = await status(0)
    const honest = await status(1)
    assert.ok(target.gossipScores[honestId] >= 0, `the honest neighbour at the target: ${target.gossipScores[honestId]}`)
    assert.ok(honest.gossipScores[targetId] >= 0, `the target at the honest neighbour: ${honest.gossipScores[targetId]}`)
    assert.ok(target.gossipScores[honestId] > GOSSIP_SCORE_THRESHOLDS.gossipThreshold)
  })
})
