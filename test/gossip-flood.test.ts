// Gossip floods of valid messages against a real peer process on loopback, from plain
// libp2p nodes (not the project's send path): one signing key spread over many peer
// connections, and one peer connection spreading its flood over many keys. The target
// must hold each key and each neighbour to its allowance on the topic (Ignoring the
// rest, RateLimitedError), and still accept others' messages.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { multiaddr } from '@multiformats/multiaddr'
import { Devnet } from '../peer/devnet/devnet.ts'
import type { StatusReport } from '../peer/node/peer-node.ts'
import { fetchStatus } from '../peer/cli/commands/status.ts'
import { sealEnvelope } from '../protocols/envelope.ts'
import { identityOf } from '../protocols/identity.ts'
import { CapacityAdvertMessage } from '../protocols/messages/index.ts'
import { signerFromPrivateKey, type Signer } from '../protocols/signer.ts'
import { CAPACITY_TOPIC, topicName } from '../protocols/topics.ts'
import { advertFixture } from './helpers/fixtures.ts'
import { createPlainNode, type PlainNode } from '../bench/lib/plain-node.ts'
import { waitFor } from './helpers/wait.ts'

const NETWORK = 'devnet'
const TOPIC = topicName(NETWORK, CAPACITY_TOPIC)

describe('gossip floods: per signing key and per peer', function () {
  this.timeout(180_000)
  let dir: string
  let devnet: Devnet
  const nodes: PlainNode[] = []
  const target = async (): Promise<StatusReport> => await fetchStatus(devnet.peers[0].statusUrl!)
  const limited = (s: StatusReport): number => s.inbound.byError.RateLimitedError ?? 0
  const seal = (signer: Signer, seq: number): Uint8Array => sealEnvelope({
    network: NETWORK, type: CapacityAdvertMessage.type, body: advertFixture({ seq }), signer
  })

  async function plainNode (): Promise<PlainNode> {
    const node = await createPlainNode()
    nodes.push(node)
    await node.start()
    node.services.pubsub.subscribe(TOPIC)
    // libp2p refuses more than 5 inbound connections a second from one host: retry.
    await waitFor('a connection to the target', async () => { await node.dial(multiaddr(devnet.peers[0].addrs[0])); return true }, 15_000, 250)
    const id = devnet.peers[0].peerId
    await waitFor('the target in the node\'s topic peers', () => node.services.pubsub.getSubscribers(TOPIC).some(p => p.toString() === id))
    return node
  }

  /** Waits until the target has judged `n` more messages than `before` counted, and returns its status. */
  async function judged (before: StatusReport, n: number): Promise<StatusReport> {
    const count = (s: StatusReport): number => s.inbound.byChannel[`gossip:${TOPIC}`] == null
      ? 0
      : s.inbound.byChannel[`gossip:${TOPIC}`].accept + s.inbound.byChannel[`gossip:${TOPIC}`].reject + s.inbound.byChannel[`gossip:${TOPIC}`].ignore
    return await waitFor(`${n} messages judged at the target`, async (saw) => {
      const s = await target()
      saw(count(s) - count(before))
      return count(s) - count(before) >= n ? s : undefined
    }, 60_000, 200)
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-gossip-flood-'))
    // The honest neighbour's adverts (one a second) go on being accepted throughout.
    devnet = new Devnet({ dir, peers: 2, advertIntervalMs: 1_000, benchSize: 64 })
    await devnet.start()
  })

  after(async () => {
    for (const n of nodes) { try { await n.stop() } catch {} }
    await devnet?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('one key spread over many peer connections gets one allowance', async () => {
    const senders = []
    for (let i = 0; i < 6; i++) senders.push(await plainNode())
    const flooder = signerFromPrivateKey(secp256k1.utils.randomSecretKey())
    const perNode = 20
    const seq0 = Date.now()
    // Sealed first, so the flood leaves at once: 120 valid adverts under one key.
    const batches = senders.map((_, i) => Array.from({ length: perNode }, (_, j) => seal(flooder, seq0 + i * perNode + j)))
    const before = await target()
    const t0 = performance.now()
    await Promise.all(senders.map(async (node, i) => { for (const b of batches[i]) await node.services.pubsub.publish(TOPIC, b) }))
    const after = await judged(before, senders.length * perNode)
    const refused = limited(after) - limited(before)
    // The allowance is a burst of 20 and 10 a second (protocols/topics.ts): whatever the
    // machine's load, no more than that got through in the time the flood took to judge.
    const allowed = Math.ceil(20 + 10 * (performance.now() - t0) / 1000)
    assert.ok(refused >= senders.length * perNode - allowed, `refused ${refused} of ${senders.length * perNode} under one key (allowance ${allowed})`)
    assert.ok(refused > 0)
    assert.ok(after.inbound.recentRejections.some(r => r.error === 'RateLimitedError'))
    // Another key, through one of the same connections, is accepted.
    const other = signerFromPrivateKey(secp256k1.utils.randomSecretKey())
    const acceptedBefore = after.inbound.accepted
    await senders[0].services.pubsub.publish(TOPIC, seal(other, Date.now()))
    const otherId = identityOf(other.publicKey).peerId
    await waitFor('another key accepted', async () => (await target()).adverts.some(a => a.peerId === otherId))
    assert.ok((await target()).inbound.accepted > acceptedBefore)
  })

  it('one peer connection spread over many keys gets one allowance', async () => {
    const node = await plainNode()
    const count = 800
    const seq0 = Date.now()
    const flood = Array.from({ length: count }, (_, i) => seal(signerFromPrivateKey(secp256k1.utils.randomSecretKey()), seq0 + i))
    const before = await target()
    const t0 = performance.now()
    for (const b of flood) await node.services.pubsub.publish(TOPIC, b)
    const after = await judged(before, count)
    const refused = limited(after) - limited(before)
    // The allowance of one neighbour is a burst of 200 and 100 a second: whatever the
    // load, no more than that got through in the time the flood took to judge.
    const allowed = Math.ceil(200 + 100 * (performance.now() - t0) / 1000)
    assert.ok(refused >= count - allowed, `refused ${refused} of ${count} from one peer (allowance ${allowed})`)
    // The honest neighbour's adverts are still accepted.
    const honestId = devnet.peers[1].peerId
    const since = Date.now()
    await waitFor('a fresh honest advert at the target', async () => (await target()).adverts.some(a => a.peerId === honestId && a.ts > since))
  })
})
