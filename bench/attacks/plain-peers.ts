// Attackers built straight from the libraries, not through the project's peer code: a
// plain libp2p node (gossipsub) and a plain Helia node (libp2p + bitswap + gossipsub),
// to send what the project's own send path never would. Plus the few things the
// network attacks share: polling, dialling a peer that limits inbound connections,
// reading a peer's /status.
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import { identify, type Identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import * as dagCbor from '@ipld/dag-cbor'
import { multiaddr } from '@multiformats/multiaddr'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import { createHeliaLight } from 'helia'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { StatusReport } from '../../peer/api/status-report.ts'
import type { CapacityAdvert } from '../../protocols/messages/index.ts'
import { sealEnvelope } from '../../protocols/envelope.ts'
import { DatanetHeadsMessage, type DatanetHeads } from '../../protocols/messages/index.ts'
import { signerFromPrivateKey } from '../../protocols/signer.ts'
import { encodeEntry, signEntry } from '../../storage/manifest/entry.ts'
import { addressOf } from '../../storage/signing.ts'

export type PlainNode = Libp2p<{ identify: Identify, pubsub: GossipSub }>

/** Same gossip framing as the peers (unsigned at the gossip layer), or they would drop our messages before their validator saw them. */
const plainGossip = () => gossipsub({ globalSignaturePolicy: 'StrictNoSign', allowPublishToZeroTopicPeers: true })

/** The libp2p options of every plain node: loopback TCP, noise, yamux, identify and the peers' gossip framing, keyed by `key`. */
function plainLibp2p (key: Uint8Array) {
  return {
    privateKey: privateKeyFromRaw(key),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), pubsub: plainGossip() }
  }
}

/** A plain libp2p node with gossipsub, keyed by `key` (secp256k1, raw), started. */
export async function plainNode (key: Uint8Array = secp256k1.utils.randomSecretKey()): Promise<PlainNode> {
  const node = await createLibp2p(plainLibp2p(key))
  await node.start()
  return node
}

/** A plain Helia node whose libp2p key is `key`: the heads it signs with that key name it as their announcer. */
export async function plainHelia (key: Uint8Array = secp256k1.utils.randomSecretKey()) {
  const helia = withBitswap(withLibp2pLight(createHeliaLight({ blockstore: new MemoryBlockstore(), datastore: new MemoryDatastore(), codecs: [dagCbor] }), plainLibp2p(key)))
  await helia.start()
  return helia as typeof helia & { libp2p: { services: { pubsub: GossipSub } } }
}

export type PlainHelia = Awaited<ReturnType<typeof plainHelia>>

/** Polls `check` every `everyMs` until it returns something other than undefined/false; undefined after `ms`. A check that throws is retried. */
export async function until<T> (check: () => Promise<T | undefined | false> | T | undefined | false, ms = 20_000, everyMs = 250): Promise<T | undefined> {
  const end = Date.now() + ms
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined && v !== false) return v
    } catch {}
    if (Date.now() >= end) return undefined
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}

export const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** A peer's GET /status (5 s timeout); throws when it does not answer. */
export async function statusOf (statusUrl: string): Promise<StatusReport> {
  const res = await fetch(new URL('/status', statusUrl), { signal: AbortSignal.timeout(5_000) })
  if (!res.ok) throw new Error(`GET /status: HTTP ${res.status}`)
  return await res.json() as StatusReport
}

/** Peers whose /status no longer answers (each polled up to 20 s: a loaded machine is slow, not crashed). */
export async function crashed (statusUrls: string[]): Promise<number> {
  let n = 0
  for (const url of statusUrls) if (await until(async () => (await statusOf(url)).peerId !== undefined) === undefined) n++
  return n
}

/**
 * Dials `addr` (retrying: libp2p refuses more than 5 inbound connections a second from
 * one host) and waits until `peerId` is in the node's subscribers of `topic`.
 */
export async function joinTopic (node: { dial: (ma: ReturnType<typeof multiaddr>) => Promise<unknown>, services: { pubsub: GossipSub } }, addr: string, peerId: string, topic: string): Promise<void> {
  node.services.pubsub.subscribe(topic)
  if (await until(async () => { await node.dial(multiaddr(addr)); return true }, 20_000) === undefined) throw new Error(`could not dial ${addr}`)
  if (await until(() => node.services.pubsub.getSubscribers(topic).some(p => p.toString() === peerId), 20_000, 100) === undefined) throw new Error(`${peerId} never showed in ${topic}`)
}

/** A capacity advert that passes every check (the numbers of a real machine). */
export function advertBody (seq: number): CapacityAdvert {
  return {
    seq,
    ttlMs: 30_000,
    agent: 'openledger/0.1.0',
    addrs: ['/ip4/127.0.0.1/tcp/40001/p2p/16Uiu2HAmHydXHRPoYhhkhDiV1ZFQJgviKUPHttFraCuf9rszvQ4q'],
    slots: { total: 2, free: 2 },
    cpu: { cores: 2, model: 'AMD EPYC', flags: { avx2: true, avx512f: true, fma: true, neon: false } },
    memory: { totalBytes: 25_276_026_880, freeBytes: 22_902_381_568 },
    disk: { totalBytes: 270_553_174_016, freeBytes: 84_949_237_760 },
    ort: { version: '1.30.0', providers: ['cpu'], matmulGflops: 151.2, matmulSize: 512, threads: 2 },
    gpus: [],
    measuredAt: Date.now()
  }
}

/** A valid genesis entry under a throwaway key, stored on the attacker, and its signed heads announcement (sealed anew on each call). */
export async function junkGenesis (attacker: PlainHelia, i: number, network: string): Promise<{ id: string, announce: () => Uint8Array }> {
  const signer = signerFromPrivateKey(secp256k1.utils.randomSecretKey())
  const entry = signEntry({
    v: 1, datanet: null, prev: [], clock: 0, ts: Date.now(),
    payload: { kind: 'genesis', name: `junk-${i}`, description: 'junk', license: 'CC0-1.0', creator: addressOf(signer.publicKey) }
  }, signer)
  const { cid, bytes } = await encodeEntry(entry)
  await attacker.blockstore.put(cid, bytes)
  const body: DatanetHeads = { datanet: cid.toString(), name: `junk-${i}`, heads: [cid.toString()], entries: 1 }
  return { id: cid.toString(), announce: () => sealEnvelope({ network, type: DatanetHeadsMessage.type, body, signer }) }
}
