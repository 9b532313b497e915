// Bad input from the network, sent by a plain libp2p node (not the project's send
// path) at a real peer process over a loopback connection. Each kind of garbage must
// be refused with the right typed error, gossip must answer Reject (Ignore for what is
// merely untimely, which an honest relay may pass on: stale, ahead, replayed), and the
// peer must keep serving its honest neighbour afterwards.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { multiaddr } from '@multiformats/multiaddr'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { Devnet } from '../peer/devnet/devnet.ts'
import type { StatusReport } from '../peer/node/peer-node.ts'
import { fetchStatus } from '../peer/cli/commands/status.ts'
import { encode } from '../protocols/codec.ts'
import { maxEnvelopeBytes, NONCE_BYTES, openEnvelope, sealEnvelope } from '../protocols/envelope.ts'
import { RemoteError } from '../protocols/errors.ts'
import { HELLO_PROTOCOL, helloLimits } from '../protocols/hello/hello.ts'
import { identityOf } from '../protocols/identity.ts'
import { CapacityAdvertMessage, defaultRegistry, type CapacityAdvert } from '../protocols/messages/index.ts'
import { request } from '../protocols/reqresp.ts'
import { signerFromPrivateKey } from '../protocols/signer.ts'
import { CAPACITY_TOPIC, topicName } from '../protocols/topics.ts'
import { advertFixture } from './helpers/fixtures.ts'
import { createPlainNode, type PlainNode } from '../bench/lib/plain-node.ts'
import { waitFor } from './helpers/wait.ts'

const NETWORK = 'devnet'
const TOPIC = topicName(NETWORK, CAPACITY_TOPIC)
const registry = defaultRegistry()

describe('bad input from a plain libp2p node', function () {
  this.timeout(120_000)
  let dir: string
  let devnet: Devnet
  let attacker: PlainNode
  let targetUrl: string
  let honestUrl: string
  const attackerKey = secp256k1.utils.randomSecretKey()
  const signer = signerFromPrivateKey(attackerKey)

  const seal = (overrides: Partial<Parameters<typeof sealEnvelope>[0]> = {}): Uint8Array => sealEnvelope({
    network: NETWORK, type: CapacityAdvertMessage.type, body: advertFixture(), signer, ...overrides
  })
  const target = async (): Promise<StatusReport> => await fetchStatus(targetUrl)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-bad-input-'))
    // peer 0 is the target, peer 1 its honest neighbour.
    devnet = new Devnet({ dir, peers: 2, advertIntervalMs: 1_000, benchSize: 64 })
    await devnet.start()
    targetUrl = devnet.peers[0].statusUrl!
    honestUrl = devnet.peers[1].statusUrl!
    // The attacker's libp2p key is its signing key, so it can also send hellos that
    // pass the signer check and fail later ones.
    attacker = await createPlainNode(privateKeyFromRaw(attackerKey))
    await attacker.start()
    attacker.services.pubsub.subscribe(TOPIC)
    await attacker.dial(multiaddr(devnet.peers[0].addrs[0]))
    const targetId = devnet.peers[0].peerId
    await waitFor('the target in the attacker\'s topic peers', () =>
      attacker.services.pubsub.getSubscribers(TOPIC).some(p => p.toString() === targetId))
    await waitFor('the attacker in the target\'s topic peers', async () => (await target()).gossipPeers >= 2)
  })

  after(async () => {
    for (const g of gossipers) await g.stop()
    await attacker?.stop()
    await devnet?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const gossipers: PlainNode[] = []
  /**
   * A new plain node in the target's capacity topic. The target's gossipsub graylists a
   * neighbour after a few Rejects (protocols/gossip-score.ts: test/gossip-score.test.ts
   * shows it), so each attack comes from a fresh one to reach the validator at all.
   */
  async function gossiper (): Promise<PlainNode> {
    const node = await createPlainNode()
    gossipers.push(node)
    await node.start()
    node.services.pubsub.subscribe(TOPIC)
    // libp2p refuses more than 5 inbound connections a second from one host: retry.
    await waitFor('a connection to the target', async () => { await node.dial(multiaddr(devnet.peers[0].addrs[0])); return true }, 15_000, 250)
    const targetId = devnet.peers[0].peerId
    await waitFor('the target in the gossiper\'s topic peers', () =>
      node.services.pubsub.getSubscribers(TOPIC).some(p => p.toString() === targetId))
    return node
  }

  /** Publish bytes on the capacity topic and wait for the target to judge them. */
  async function publishExpecting (bytes: Uint8Array, errorName: string, verdict: 'reject' | 'ignore' = 'reject',
    from?: PlainNode): Promise<StatusReport> {
    const node = from ?? await gossiper()
    const before = await target()
    const verdictsBefore = before.inbound.byChannel[`gossip:${TOPIC}`]?.[verdict] ?? 0
    const namedBefore = before.inbound.byError[errorName] ?? 0
    await node.services.pubsub.publish(TOPIC, bytes)
    const after = await waitFor(`${errorName} at the target`, async () => {
      const s = await target()
      return (s.inbound.byError[errorName] ?? 0) > namedBefore ? s : undefined
    }, 15_000)
    // The gossip validator answered Reject (or Ignore) for exactly this message.
    assert.equal(after.inbound.byChannel[`gossip:${TOPIC}`][verdict], verdictsBefore + 1)
    const last = after.inbound.recentRejections.at(-1)!
    assert.equal(last.error, errorName)
    assert.equal(last.from, node.peerId.toString())
    return after
  }

  it('rejects malformed msgpack', async () => {
    await publishExpecting(Uint8Array.of(0xc1, 0x00, 0xff), 'MalformedMessageError')
  })

  it('rejects an oversize message before decoding it', async () => {
    await publishExpecting(new Uint8Array(maxEnvelopeBytes(registry) + 500).fill(0x91), 'MessageTooLargeError')
  })

  it('rejects a bad signature', async () => {
    const bytes = seal()
    bytes[bytes.length - 5] ^= 0x01 // inside the signature, the last field
    await publishExpecting(bytes, 'InvalidSignatureError')
  })

  it('refuses a replayed nonce (Ignored: a relay may not have seen the first)', async () => {
    const nonce = new Uint8Array(NONCE_BYTES).fill(7)
    const first = seal({ nonce })
    const before = (await target()).inbound.accepted
    const node = await gossiper()
    await node.services.pubsub.publish(TOPIC, first)
    await waitFor('the first message accepted', async () => (await target()).inbound.accepted > before)
    // Same signer and nonce, different bytes (gossip would dedup identical ones itself).
    await publishExpecting(seal({ nonce, body: advertFixture({ seq: Date.now() + 1 }) }), 'ReplayedNonceError', 'ignore', node)
  })

  it('refuses a stale timestamp (Ignored: in time by a relay\'s clock, maybe)', async () => {
    await publishExpecting(seal({ now: Date.now() - 10 * 60_000 }), 'StaleTimestampError', 'ignore')
  })

  it('refuses a timestamp from the future (Ignored, likewise)', async () => {
    await publishExpecting(seal({ now: Date.now() + 10 * 60_000 }), 'FutureTimestampError', 'ignore')
  })

  it('rejects an unknown message type', async () => {
    await publishExpecting(seal({ type: 'no-such-type/1', body: { x: 1 } }), 'UnknownMessageTypeError')
  })

  it('rejects a body that is wrong for the topic', async () => {
    await publishExpecting(seal({ body: { seq: 'one', cpu: 'fast' } }), 'InvalidBodyError')
  })

  it('rejects an envelope signed for another network', async () => {
    await publishExpecting(seal({ network: 'mainnet' }), 'InvalidSignatureError')
  })

  describe('on the hello protocol', () => {
    const limits = helloLimits(registry)
    const targetPeer = (): ReturnType<typeof peerIdFromString> => peerIdFromString(devnet.peers[0].peerId)

    async function refusal (payload: Uint8Array): Promise<string> {
      try {
        await request(attacker, targetPeer(), HELLO_PROTOCOL, limits, payload)
      } catch (err) {
        assert.ok(err instanceof RemoteError, `expected RemoteError, got ${(err as Error).name}`)
        return String(err.details.remoteName)
      }
      assert.fail('the request was not refused')
    }

    it('answers garbage with a MalformedMessageError frame', async () => {
      assert.equal(await refusal(Uint8Array.of(1, 2, 3)), 'MalformedMessageError')
    })

    it('answers an advert signed by someone else with SignerMismatchError', async () => {
      const other = signerFromPrivateKey(secp256k1.utils.randomSecretKey())
      assert.equal(await refusal(seal({ signer: other })), 'SignerMismatchError')
    })

    it('answers an oversize frame with MessageTooLargeError', async () => {
      assert.equal(await refusal(new Uint8Array(limits.maxRequestBytes + 1)), 'MessageTooLargeError')
    })

    it('answers an envelope of the wrong shape with MalformedMessageError', async () => {
      assert.equal(await refusal(encode([1, 'x'])), 'MalformedMessageError')
    })

    it('answers a wrong body with InvalidBodyError', async () => {
      assert.equal(await refusal(seal({ body: { seq: -1 } })), 'InvalidBodyError')
    })

    it('answers a replayed hello with ReplayedNonceError', async () => {
      const hello = seal()
      const answer = await request(attacker, targetPeer(), HELLO_PROTOCOL, limits, hello)
      assert.ok(answer.byteLength > 0)
      assert.equal(await refusal(hello), 'ReplayedNonceError')
    })

    it('refuses a peer that floods it with RateLimitedError (runs last: it spends the allowance)', async () => {
      const names = []
      for (let i = 0; i < 25; i++) names.push(await refusal(Uint8Array.of(i)))
      assert.ok(names.includes('MalformedMessageError'))
      assert.equal(names.at(-1), 'RateLimitedError')
    })
  })

  // Declared last so that mocha runs it after every attack above, hello ones included.
  describe('afterwards', () => {
    it('keeps serving honest peers afterwards', async () => {
      const t0 = Date.now()
      const targetId = devnet.peers[0].peerId
      const honestId = devnet.peers[1].peerId
      assert.ok((await target()).inbound.rejected >= 9)
      // The honest neighbour gets fresh adverts from the target, and the other way round.
      await waitFor('a fresh target advert at the honest peer', async () =>
        (await fetchStatus(honestUrl)).adverts.some(a => a.peerId === targetId && a.ts > t0))
      await waitFor('a fresh honest advert at the target', async () =>
        (await target()).adverts.some(a => a.peerId === honestId && a.ts > t0))
      // A newcomer's hello is answered with the target's own signed advert.
      const key = secp256k1.utils.randomSecretKey()
      const newcomer = await createPlainNode(privateKeyFromRaw(key))
      await newcomer.start()
      try {
        const mine = sealEnvelope({ network: NETWORK, type: CapacityAdvertMessage.type, body: advertFixture(), signer: signerFromPrivateKey(key) })
        const answer = await request(newcomer, multiaddr(devnet.peers[0].addrs[0]), HELLO_PROTOCOL, helloLimits(registry), mine)
        const env = openEnvelope<CapacityAdvert>(answer, { network: NETWORK, registry })
        assert.equal(identityOf(env.signer).peerId, targetId)
        assert.ok(env.ts >= t0)
        await waitFor('the newcomer\'s advert at the target', async () =>
          (await target()).adverts.some(a => a.peerId === newcomer.peerId.toString()))
      } finally {
        await newcomer.stop()
      }
    })
  })
})
