// The soak's hostile peer: a plain libp2p node in the bench process (its own random
// key, built from the libraries, not the project's send path) that stays connected to
// every devnet peer and keeps sending garbage: on each gossip topic malformed msgpack,
// oversized messages, broken signatures, other networks, unknown types, bodies wrong
// for the topic, stale envelopes, and validly signed messages that mean nothing (a
// verdict on a job it was never assigned, an announce without escrow, a made-up
// assignment, datanet heads that do not exist); on each request/response protocol
// random bytes, wrong shapes, oversized frames, envelopes of the wrong type or signer,
// a frame cut short, and a stream opened and left silent. Every answer is tallied.
import { randomBytes } from 'node:crypto'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { encode } from '../../protocols/codec.ts'
import { maxEnvelopeBytes, sealEnvelope } from '../../protocols/envelope.ts'
import { RemoteError } from '../../protocols/errors.ts'
import { HELLO_PROTOCOL } from '../../protocols/hello/hello.ts'
import { HAS_PROTOCOL } from '../../protocols/has/has.ts'
import { DISPUTE_PROTOCOL } from '../../protocols/dispute/dispute.ts'
import { CapacityAdvertMessage, DatanetHeadsMessage, defaultRegistry, JobAnnounceMessage, JobAssignMessage, JobBidMessage, JobResultMessage, JobVerdictMessage } from '../../protocols/messages/index.ts'
import { request, type ProtocolLimits } from '../../protocols/reqresp.ts'
import { REWARDS_PROTOCOL } from '../../protocols/rewards/rewards.ts'
import { SHARD_PROTOCOL } from '../../protocols/shard/limits.ts'
import { signerFromPrivateKey } from '../../protocols/signer.ts'
import { TASK_PROTOCOL } from '../../protocols/task/task.ts'
import { CAPACITY_TOPIC, DATANET_TOPIC, JOBS_TOPIC, topicName, TOPICS, VERDICTS_TOPIC } from '../../protocols/topics.ts'
import { VERIFY_PROTOCOL } from '../../protocols/verify/verify.ts'
import { capacityAdvertFixture } from '../envelope/advert-fixture.ts'
import { createPlainNode, type PlainNode } from '../lib/plain-node.ts'


export interface GarbageTally {
  /** Gossip messages published, per case. */
  gossip: Record<string, number>
  /** Request/response attempts per protocol and case, with the outcome ('RemoteError:<name>', 'answered', or the local error's name). */
  streams: Record<string, Record<string, number>>
  publishFailed: number
  dials: number
  dialFailed: number
}

const PROTOCOLS = [HELLO_PROTOCOL, TASK_PROTOCOL, VERIFY_PROTOCOL, REWARDS_PROTOCOL, HAS_PROTOCOL, DISPUTE_PROTOCOL, SHARD_PROTOCOL]
/** Our side's limits only: generous, so what is refused is refused by the peer. */
const SEND_LIMITS: ProtocolLimits = { maxRequestBytes: 8 * 1024 * 1024, maxResponseBytes: 32 * 1024 * 1024, timeoutMs: 15_000, maxInboundStreams: 4, rateLimit: { burst: 1, refillMs: 1_000 } }
const CID_V1 = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
/** A CID nobody holds (a random sha2-256 digest). */
const randomCid = (): string => CID.createV1(raw.code, createDigest(0x12, randomBytes(32))).toString()

export class GarbagePeer {
  readonly tally: GarbageTally = { gossip: {}, streams: {}, publishFailed: 0, dials: 0, dialFailed: 0 }
  private node?: PlainNode
  private timer?: NodeJS.Timeout
  private running?: Promise<void>
  private readonly key = secp256k1.utils.randomSecretKey()
  private readonly signer = signerFromPrivateKey(this.key)
  private readonly registry = defaultRegistry()
  private readonly network: string
  private readonly targets: () => Array<{ peerId: string, addrs: string[] }>
  private readonly random: () => number

  constructor (opts: { network: string, targets: () => Array<{ peerId: string, addrs: string[] }>, random: () => number }) {
    this.network = opts.network
    this.targets = opts.targets
    this.random = opts.random
  }

  get peerId (): string { return this.node?.peerId.toString() ?? '' }

  async start (intervalMs: number): Promise<void> {
    this.node = await createPlainNode(privateKeyFromRaw(this.key))
    await this.node.start()
    for (const t of TOPICS) this.node.services.pubsub.subscribe(topicName(this.network, t))
    await this.connect()
    this.timer = setInterval(() => {
      if (this.running !== undefined) return
      this.running = this.round().finally(() => { this.running = undefined })
    }, intervalMs)
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    await this.running
    await this.node?.stop()
  }

  private pick<T> (xs: readonly T[]): T {
    return xs[Math.floor(this.random() * xs.length)]
  }

  private count (map: Record<string, number>, key: string): void {
    map[key] = (map[key] ?? 0) + 1
  }

  /** Dials every devnet peer it is not connected to (peers come and go as the soak kills them). */
  private async connect (): Promise<void> {
    const node = this.node!
    await Promise.all(this.targets().map(async t => {
      if (t.addrs.length === 0 || node.getConnections(peerIdFromString(t.peerId)).length > 0) return
      this.tally.dials++
      try { await node.dial(multiaddr(t.addrs[0]), { signal: AbortSignal.timeout(5_000) }) } catch { this.tally.dialFailed++ }
    }))
  }

  private async round (): Promise<void> {
    await this.connect()
    await Promise.allSettled([this.gossip(), this.stream()])
  }

  private seal (type: string, body: unknown, over: { network?: string, now?: number, signer?: ReturnType<typeof signerFromPrivateKey> } = {}): Uint8Array {
    return sealEnvelope({ network: over.network ?? this.network, type, body, signer: over.signer ?? this.signer, now: over.now })
  }

  private hash32 (): string { return '0x' + randomBytes(32).toString('hex') }
  private address (): string { return '0x' + randomBytes(20).toString('hex') }

  private advert (): unknown { return capacityAdvertFixture(this.peerId) }

  /** A validly signed message of the topic's own type whose content is made up. */
  private nonsense (topic: typeof TOPICS[number]): Uint8Array {
    const peer = this.peerId
    if (topic === JOBS_TOPIC) {
      return this.random() < 0.5
        ? this.seal(JobAnnounceMessage.type, { job: this.hash32(), kind: 'train', spec: { base: CID_V1, params: { steps: 10 } }, escrow: { chainId: 31337, contract: this.address(), amount: '1000', deadline: Date.now() + 60_000 }, maxPrice: '1000', requiredStake: '0', workers: 1, verifiers: 1, bidUntil: Date.now() + 2_000 })
        : this.seal(JobAssignMessage.type, { job: this.hash32(), workers: [{ peer, address: this.address(), price: '1' }], verifiers: [{ peer, address: this.address(), price: '1' }], bidsDigest: this.hash32(), escrow: { spec: this.hash32(), signature: '0x' + randomBytes(65).toString('hex') } })
    }
    if (topic === VERDICTS_TOPIC) {
      return this.seal(JobVerdictMessage.type, { job: this.hash32(), worker: this.address(), resultHash: this.hash32(), ok: true, checked: [0], completion: '0x' + randomBytes(65).toString('hex'), participation: '0x' + randomBytes(65).toString('hex') })
    }
    // Heads of a datanet nobody has: every peer that hears it tries to fetch the entries.
    if (topic === DATANET_TOPIC) return this.seal(DatanetHeadsMessage.type, { datanet: randomCid(), name: 'garbage', heads: [randomCid(), randomCid()], entries: 1_000_000 })
    return this.seal(CapacityAdvertMessage.type, this.advert())
  }

  private async gossip (): Promise<void> {
    const node = this.node!
    const topic = this.pick(TOPICS)
    const own = topic.accept[0]
    const cases: Array<[string, () => Uint8Array]> = [
      ['random-bytes', () => randomBytes(1 + Math.floor(this.random() * 300))],
      ['malformed-msgpack', () => Uint8Array.of(0xc1, 0x00, 0xff)],
      ['oversized', () => new Uint8Array(maxEnvelopeBytes(this.registry) + 500).fill(0x91)],
      ['bad-signature', () => { const b = this.nonsense(topic); b[b.length - 5] ^= 0x01; return b }],
      ['other-network', () => this.seal(CapacityAdvertMessage.type, this.advert(), { network: 'mainnet' })],
      ['unknown-type', () => this.seal('no-such-type/1', { x: 1 })],
      ['wrong-body', () => this.seal(own, { nonsense: true, seq: 'one' })],
      ['wrong-topic-type', () => this.seal(topic === CAPACITY_TOPIC ? JobBidMessage.type : CapacityAdvertMessage.type, topic === CAPACITY_TOPIC ? { job: this.hash32(), role: 'worker', price: '1', etaMs: 1, stake: '1' } : this.advert())],
      ['stale', () => this.seal(CapacityAdvertMessage.type, this.advert(), { now: Date.now() - 10 * 60_000 })],
      ['future', () => this.seal(CapacityAdvertMessage.type, this.advert(), { now: Date.now() + 10 * 60_000 })],
      ['signed-nonsense', () => this.nonsense(topic)]
    ]
    const [name, make] = this.pick(cases)
    this.count(this.tally.gossip, `${topic.name}:${name}`)
    try { await node.services.pubsub.publish(topicName(this.network, topic), make()) } catch { this.tally.publishFailed++ }
  }

  private async stream (): Promise<void> {
    const node = this.node!
    const live = this.targets().filter(t => node.getConnections(peerIdFromString(t.peerId)).length > 0)
    if (live.length === 0) return
    const target = peerIdFromString(this.pick(live).peerId)
    const protocol = this.pick(PROTOCOLS)
    const other = signerFromPrivateKey(secp256k1.utils.randomSecretKey())
    const cases: Array<[string, () => Uint8Array]> = [
      ['random-bytes', () => randomBytes(1 + Math.floor(this.random() * 300))],
      ['wrong-shape', () => encode([1, 'x', { y: 2 }])],
      ['oversized', () => new Uint8Array(5 * 1024 * 1024).fill(0x92)],
      ['wrong-type', () => this.seal(CapacityAdvertMessage.type, this.advert())],
      ['other-signer', () => this.seal(JobBidMessage.type, { job: this.hash32(), role: 'worker', price: '1', etaMs: 1, stake: '1' }, { signer: other })],
      ['made-up-result', () => this.seal(JobResultMessage.type, { job: this.hash32(), worker: this.address(), result: CID_V1, resultHash: this.hash32(), receipt: { head: this.hash32(), entries: 1, every: 1, steps: 1, chain: CID_V1 }, participation: '0x' + randomBytes(65).toString('hex') })],
      ['rewards-for-strangers', () => encode({ accounts: [randomBytes(20), randomBytes(20)], at: 'posted' })],
      ['verify-unknown-job', () => encode({ job: randomBytes(32), entry: 50 })]
    ]
    const raw: Array<[string, () => Promise<string>]> = [
      ['cut-short', async () => {
        const s = await node.dialProtocol(target, protocol, { signal: AbortSignal.timeout(5_000) })
        // A length prefix that promises 1,000 bytes, then 3 bytes and the end of the stream.
        s.send(Uint8Array.of(0xe8, 0x07, 1, 2, 3))
        await s.close()
        return 'closed'
      }],
      ['silent', async () => {
        const s = await node.dialProtocol(target, protocol, { signal: AbortSignal.timeout(5_000) })
        await new Promise(resolve => setTimeout(resolve, 3_000))
        s.abort(new Error('garbage peer gave up'))
        return 'abandoned'
      }]
    ]
    const tally = this.tally.streams[protocol] ??= {}
    if (this.random() < 0.2) {
      const [name, run] = this.pick(raw)
      try { this.count(tally, `${name}:${await run()}`) } catch (err) { this.count(tally, `${name}:${(err as Error).name}`) }
      return
    }
    const [name, make] = this.pick(cases)
    try {
      await request(node, target, protocol, SEND_LIMITS, make())
      this.count(tally, `${name}:answered`)
    } catch (err) {
      this.count(tally, `${name}:${err instanceof RemoteError ? `RemoteError:${String(err.details.remoteName)}` : (err as Error).name}`)
    }
  }
}
