// Attacks on the gossip network (findings 12, 5, 3, 6), from outside: plain libp2p and
// plain Helia nodes built straight from the libraries (bench/attacks/plain-peers.ts,
// not the project's peer code) send what the project's send path never would, with
// messages built by protocols/ (the wire format). Each attempt is judged from the
// peers' GET /status and GET /datanets before and after:
// - floods of valid adverts, one key over one or many connections, or many throwaway
//   keys over one connection: refused when no more than the key's (or the
//   neighbour's) allowance got through, the rest RateLimitedError;
// - forged adverts until the sender is graylisted: each forgery refused when rejected,
//   its later valid advert refused when dropped unread;
// - junk datanet geneses under throwaway keys: refused when a peer follows none;
// - a manifest entry with a key outside the schema, announced to a datanet the target
//   follows: refused when the target does not merge it;
// - a bad entry relayed by an honest peer: refused when the target blames the
//   announcer and keeps the relay.
// Crashes: peers whose /status stops answering after the attack. OPEN taken is 0: no
// money moves on these paths. Findings 3 and 6 need a datanet the target follows, made
// through its API (token in <dataDir>/run.json): without dataDir they are left out.
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import type { StatusReport } from '../../peer/api/status-report.ts'
import { sealEnvelope } from '../../protocols/envelope.ts'
import { GOSSIP_SCORE_THRESHOLDS } from '../../protocols/gossip-score.ts'
import { identityOf } from '../../protocols/identity.ts'
import { CapacityAdvertMessage, DatanetHeadsMessage } from '../../protocols/messages/index.ts'
import { signerFromPrivateKey, type Signer } from '../../protocols/signer.ts'
import { CAPACITY_TOPIC, DATANET_TOPIC, topicName } from '../../protocols/topics.ts'
import { encodeEntry, signEntry, type ManifestEntry } from '../../storage/manifest/entry.ts'
import { addressOf } from '../../storage/signing.ts'
import { attempts, type AttackOutcome } from './outcome.ts'
import { advertBody, crashed, joinTopic, junkGenesis, plainHelia, plainNode, sleep, statusOf, until, type PlainHelia, type PlainNode } from './plain-peers.ts'

export interface NetworkScene {
  /** The devnet's peers; dataDir (for the API token) lets the datanet attacks set up a followed datanet. */
  peers: Array<{ peerId: string, addrs: string[], statusUrl: string, dataDir?: string }>
  network: string
}

type Tally = Pick<AttackOutcome, 'attempts' | 'refused' | 'log'>
/** A try's answer: a refusal's name, or what went through. */
type Answer = string | { through: string }
type Try = [string, () => Promise<Answer>]
type ScenePeer = NetworkScene['peers'][number]

const FLOOD_ONE_KEY = 120
const FLOOD_MANY_KEYS = 800
const JUNK = 200
/** The allowances on the capacity topic (protocols/topics.ts). */
const { perSigner: KEY_LIMIT, perPeer: PEER_LIMIT } = CAPACITY_TOPIC.limits

/**
 * attempts() over tries that say what went through: that goes into the log after
 * WENT THROUGH. A try that fails before its attack is judged (a dial, a status read)
 * counts as went through, never as refused.
 */
async function judge (tries: Try[]): Promise<Tally> {
  const notes = new Map<number, string>()
  const tally = await attempts(tries.map(([tried, run], i): [string, () => Promise<string | null>] => [tried, async () => {
    try {
      const a = await run()
      if (typeof a === 'string') return a
      notes.set(i, a.through)
    } catch (err) {
      notes.set(i, `not judged: ${(err as Error).name}: ${(err as Error).message}`)
    }
    return null
  }]))
  return { ...tally, log: tally.log.map((l, i) => notes.has(i) ? { ...l, answer: `${l.answer}: ${notes.get(i)!}` } : l) }
}

function merge (parts: Tally[]): Tally {
  return { attempts: parts.reduce((n, p) => n + p.attempts, 0), refused: parts.reduce((n, p) => n + p.refused, 0), log: parts.flatMap(p => p.log) }
}

const limitedOf = (s: StatusReport): number => s.inbound.byError.RateLimitedError ?? 0
const invalidSigOf = (s: StatusReport): number => s.inbound.byError.InvalidSignatureError ?? 0

/** Tokens a bucket lets through in `ms`: its burst and one per refill. */
const allowance = (limit: { burst: number, refillMs: number }, ms: number): number => Math.ceil(limit.burst + ms / limit.refillMs)

async function apiPost<T> (peer: ScenePeer, path: string, body: unknown): Promise<T> {
  const run = JSON.parse(await readFile(join(peer.dataDir!, 'run.json'), 'utf8')) as { token?: string }
  const res = await fetch(new URL(path, peer.statusUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${run.token ?? ''}` },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60_000)
  })
  const lines = (await res.text()).split('\n').filter(l => l.trim() !== '').map(l => JSON.parse(l) as { result?: T, error?: { name: string, message: string } })
  const last = lines.at(-1)
  if (!res.ok || last === undefined || !('result' in last)) throw new Error(`POST ${path}: ${last?.error?.name ?? res.status} ${last?.error?.message ?? ''}`)
  return last.result as T
}

async function datanetsOf (peer: ScenePeer): Promise<Array<{ id: string, entries: number, heads: string[] }>> {
  const res = await fetch(new URL('/datanets', peer.statusUrl), { signal: AbortSignal.timeout(5_000) })
  if (!res.ok) throw new Error(`GET /datanets: HTTP ${res.status}`)
  return await res.json() as Array<{ id: string, entries: number, heads: string[] }>
}

export async function networkAttacks (scene: NetworkScene): Promise<AttackOutcome[]> {
  const { network } = scene
  const urls = scene.peers.map(p => p.statusUrl)
  const advertTopic = topicName(network, CAPACITY_TOPIC)
  const datanetTopic = topicName(network, DATANET_TOPIC)
  // Gossip floods go to the last peer (no role on the chain); datanets live on peer 0, relayed by peer 1.
  const gossipTarget = scene.peers[scene.peers.length - 1]
  const stoppable: Array<{ stop: () => unknown }> = []
  const out: AttackOutcome[] = []
  const row = async (attack: string, finding: string, run: () => Promise<Tally>): Promise<void> => {
    const tally = await run()
    out.push({ attack, finding, ...tally, openTaken: 0n, honestSlashed: 0, crashes: await crashed(urls) })
  }
  const track = <T extends { stop: () => unknown }>(n: T): T => { stoppable.push(n); return n }
  const advertSender = async (key?: Uint8Array): Promise<PlainNode> => {
    const node = track(await plainNode(key))
    await joinTopic(node, gossipTarget.addrs[0], gossipTarget.peerId, advertTopic)
    return node
  }
  const sealAdvert = (signer: Signer, seq: number): Uint8Array => sealEnvelope({ network, type: CapacityAdvertMessage.type, body: advertBody(seq), signer })
  const forge = (signer: Signer, seq: number): Uint8Array => {
    const bytes = sealAdvert(signer, seq)
    bytes[bytes.length - 5] ^= 0x01 // inside the signature
    return bytes
  }
  const target = async (): Promise<StatusReport> => await statusOf(gossipTarget.statusUrl)
  const judgedOf = (s: StatusReport): number => {
    const c = s.inbound.byChannel[`gossip:${advertTopic}`]
    return c == null ? 0 : c.accept + c.reject + c.ignore
  }
  /** The target's status once it has judged `n` more adverts than `before` (or after 60 s, whatever it judged). */
  const judged = async (before: StatusReport, n: number): Promise<StatusReport> =>
    await until(async () => { const s = await target(); return judgedOf(s) - judgedOf(before) >= n ? s : undefined }, 60_000) ?? await target()

  /** One fresh key floods `count` valid adverts, split over `connections` plain nodes. */
  const floodOneKey = async (connections: number): Promise<Answer> => {
    const senders: PlainNode[] = []
    for (let i = 0; i < connections; i++) senders.push(await advertSender())
    const signer = signerFromPrivateKey(secp256k1.utils.randomSecretKey())
    const per = Math.ceil(FLOOD_ONE_KEY / connections)
    const seq0 = Date.now()
    // Sealed first, so the flood leaves at once.
    const batches = senders.map((_, i) => Array.from({ length: per }, (_, j) => sealAdvert(signer, seq0 + i * per + j)))
    const count = per * connections
    const before = await target()
    const t0 = performance.now()
    await Promise.all(senders.map(async (node, i) => { for (const b of batches[i]) await node.services.pubsub.publish(advertTopic, b) }))
    const after = await judged(before, count)
    const limited = limitedOf(after) - limitedOf(before)
    const allowed = allowance(KEY_LIMIT, performance.now() - t0)
    for (const s of senders) await s.stop()
    // Whatever was not refused counts as through (also what was never judged).
    const through = count - limited
    const seen = `${through} of ${count} through (key allowance ${allowed}), RateLimitedError x${limited}, ${judgedOf(after) - judgedOf(before)} judged`
    return limited > 0 && through <= allowed ? seen : { through: seen }
  }

  try {
    // Finding 12 (a): one signing key's adverts, over one connection and over six.
    await row(`gossip: one key floods ${FLOOD_ONE_KEY} valid adverts`, '12', async () => await judge([
      [`${FLOOD_ONE_KEY} adverts under one key over one connection`, async () => await floodOneKey(1)],
      [`${FLOOD_ONE_KEY} adverts under one key spread over six connections`, async () => await floodOneKey(6)]
    ]))

    // Finding 12 (b): one connection, a throwaway key per advert.
    await row(`gossip: one connection floods ${FLOOD_MANY_KEYS} adverts under as many throwaway keys`, '12', async () => await judge([
      [`${FLOOD_MANY_KEYS} adverts, each under its own key, over one connection`, async () => {
        const node = await advertSender()
        const seq0 = Date.now()
        const flood = Array.from({ length: FLOOD_MANY_KEYS }, (_, i) => sealAdvert(signerFromPrivateKey(secp256k1.utils.randomSecretKey()), seq0 + i))
        const before = await target()
        const t0 = performance.now()
        await Promise.all(flood.map(async b => await node.services.pubsub.publish(advertTopic, b)))
        const after = await judged(before, FLOOD_MANY_KEYS)
        const limited = limitedOf(after) - limitedOf(before)
        const allowed = allowance(PEER_LIMIT, performance.now() - t0)
        await node.stop()
        const through = FLOOD_MANY_KEYS - limited
        const seen = `${through} of ${FLOOD_MANY_KEYS} through (neighbour allowance ${allowed}), RateLimitedError x${limited}, ${judgedOf(after) - judgedOf(before)} judged`
        return limited > 0 && through <= allowed ? seen : { through: seen }
      }]
    ]))

    // Finding 12 (c): forgeries until graylisted, then a valid advert from the same node and key.
    await row('gossip: forged adverts until graylisted, then a valid one', '12', async () => {
      const key = secp256k1.utils.randomSecretKey()
      const signer = signerFromPrivateKey(key)
      const attacker = await advertSender(key)
      const attackerId = attacker.peerId.toString()
      await until(async () => (await target()).gossipScores?.[attackerId] !== undefined, 20_000)
      const graylist = GOSSIP_SCORE_THRESHOLDS.graylistThreshold
      const connected = (): boolean => attacker.getConnections().some(c => c.remotePeer.toString() === gossipTarget.peerId && c.status === 'open')
      /**
       * Back among the target's gossip peers if it hung up or dropped our gossip stream
       * (gossipsub keeps a disconnected peer's score for an hour): a new connection.
       */
      const rejoin = async (): Promise<string> => {
        const listed = (await target()).gossipScores?.[attackerId] !== undefined
        if (connected() && listed) return ''
        await attacker.hangUp(peerIdFromString(gossipTarget.peerId)).catch(() => {})
        await joinTopic(attacker, gossipTarget.addrs[0], gossipTarget.peerId, advertTopic)
        await until(async () => (await target()).gossipScores?.[attackerId] !== undefined, 20_000)
        return connected() ? ', redialled after the target dropped our gossip stream' : ', redialled after the target hung up'
      }
      /** The attacker's score at the target, read after gossipsub's one-heartbeat (1 s) score cache. */
      const scoreNow = async (): Promise<number | undefined> => {
        await sleep(1_200)
        return await until(async () => (await target()).gossipScores?.[attackerId], 5_000)
      }
      const parts: Tally[] = []
      let score: number | undefined = 0
      for (let sent = 1; sent <= 8 && !(score !== undefined && score < graylist); sent++) {
        parts.push(await judge([[`forged advert ${sent} (bad signature)`, async () => {
          const redialled = await rejoin()
          const before = await target()
          await attacker.services.pubsub.publish(advertTopic, forge(signer, Date.now()))
          const rejected = await until(async () => invalidSigOf(await target()) > invalidSigOf(before), 20_000)
          score = await scoreNow()
          const at = `score ${score?.toFixed(0) ?? 'none: not among the target\'s gossip peers'}${connected() ? '' : ', hung up on'}${redialled}`
          if (rejected === true) return `InvalidSignatureError (${at})`
          return (await target()).adverts.some(a => a.peerId === attackerId) ? { through: `accepted (${at})` } : `dropped unread (${at})`
        }]]))
      }
      parts.push(await judge([[`a valid advert from the same node and key after ${parts.length} forgeries (graylist below ${graylist})`, async () => {
        const redialled = await rejoin()
        const before = await target()
        await attacker.services.pubsub.publish(advertTopic, sealAdvert(signer, Date.now()))
        // A valid advert from a fresh node, sent after it: once that is in, ours had its chance.
        const control = await advertSender()
        const controlSigner = signerFromPrivateKey(secp256k1.utils.randomSecretKey())
        const controlId = identityOf(controlSigner.publicKey).peerId
        await control.services.pubsub.publish(advertTopic, sealAdvert(controlSigner, Date.now()))
        const seen = await until(async () => (await target()).adverts.some(a => a.peerId === controlId), 20_000)
        await sleep(1_000)
        const after = await target()
        await control.stop()
        const at = `score ${after.gossipScores[attackerId]?.toFixed(0) ?? 'none'}${redialled}`
        if (after.adverts.some(a => a.peerId === attackerId)) return { through: `accepted (${at})` }
        const judgedFromUs = after.inbound.recentRejections.filter(r => r.from === attackerId).length - before.inbound.recentRejections.filter(r => r.from === attackerId).length
        if (seen === undefined) return { through: `not judged: a fresh node's advert was not accepted either (${at})` }
        return `dropped unread (${at}; a fresh node's advert sent after it accepted; ${judgedFromUs} of ours judged)`
      }]]))
      await attacker.stop()
      return merge(parts)
    })

    // Finding 5: junk datanets under throwaway keys, from a plain Helia node at peer 0.
    const [home, relay] = scene.peers
    await row(`datanets: ${JUNK} junk geneses announced under throwaway keys`, '5', async () => {
      const attacker = track(await plainHelia())
      await joinTopic(attacker.libp2p, home.addrs[0], home.peerId, datanetTopic)
      const junk = new Map<string, () => Uint8Array>()
      for (let i = 0; i < JUNK; i++) {
        const g = await junkGenesis(attacker, i, network)
        junk.set(g.id, g.announce)
      }
      const before = await Promise.all(scene.peers.map(async p => await statusOf(p.statusUrl)))
      const ignoredAt = async (): Promise<number> => (await statusOf(home.statusUrl)).datanets.ignoredHeads - before[0].datanets.ignoredHeads
      // Gossip may drop some of a burst on a loaded machine: announce again, freshly sealed, up to three rounds.
      let heard = 0
      for (let round = 0; round < 3 && heard < JUNK; round++) {
        let i = 0
        for (const announce of junk.values()) {
          await attacker.libp2p.services.pubsub.publish(datanetTopic, announce())
          if (++i % 50 === 0) await sleep(20) // let the stream drain
        }
        heard = await until(async () => { const n = await ignoredAt(); return n >= JUNK * (round + 1) ? n : undefined }, 20_000) ?? await ignoredAt()
      }
      // Had a peer followed one, it would fetch it from the attacker: give that time to show.
      await until(async () => {
        for (const p of scene.peers) if ((await datanetsOf(p)).some(d => junk.has(d.id))) return true
        return false
      }, 10_000, 1_000)
      const tally = await judge(scene.peers.map((p, i): Try => [`peer ${i} follows any of them (peer 0 heard ${heard} announcements)`, async () => {
        const followed = (await datanetsOf(p)).filter(d => junk.has(d.id)).length
        const s = await statusOf(p.statusUrl)
        const counts = `followed ${before[i].datanets.followed} -> ${s.datanets.followed}, pending ${before[i].datanets.pending} -> ${s.datanets.pending}`
        if (followed > 0 || s.datanets.followed > before[i].datanets.followed || s.datanets.pending > before[i].datanets.pending) return { through: `${followed} junk listed (${counts})` }
        return `none followed (ignoredHeads +${s.datanets.ignoredHeads - before[i].datanets.ignoredHeads})`
      }]))
      await attacker.stop()
      return tally
    })

    if (home?.dataDir === undefined || relay?.dataDir === undefined) {
      process.stderr.write('network attacks: no dataDir for peers 0 and 1, findings 3 and 6 left out\n')
      return out
    }
    // A datanet peer 0 created and peer 1 follows: the target of findings 3 and 6.
    const datanet = await apiPost<{ id: string, creator: string }>(home, '/datanets', { name: 'attacked', description: 'target of the network attacks', license: 'CC0-1.0' })
    await apiPost(relay, '/datanets/follow', { target: datanet.id })
    await until(async () => (await datanetsOf(relay)).some(d => d.id === datanet.id && d.entries >= 1), 30_000)
    const entriesAt = async (p: ScenePeer): Promise<{ entries: number, heads: string[] } | undefined> => (await datanetsOf(p)).find(d => d.id === datanet.id)
    const contribution = (signer: Signer, contributor: string, path: string) => ({
      v: 1 as const, datanet: datanet.id, prev: [CID.parse(datanet.id)], clock: 1, ts: Date.now(),
      payload: { kind: 'contribution' as const, contributor, license: 'CC0-1.0', files: [{ path, cid: CID.parse('QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o'), size: 12, mediaType: 'text/plain' as const }] }
    })
    /** A fresh plain Helia node holding `entry` announces it as the datanet's head to `via`; returns the attacker and the entry's CID. */
    const announceBad = async (via: ScenePeer, make: (signer: Signer) => ManifestEntry): Promise<{ attacker: PlainHelia, cid: string }> => {
      const key = secp256k1.utils.randomSecretKey()
      const signer = signerFromPrivateKey(key)
      const attacker = track(await plainHelia(key))
      const { cid, bytes } = await encodeEntry(make(signer))
      await attacker.blockstore.put(cid, bytes)
      await joinTopic(attacker.libp2p, via.addrs[0], via.peerId, datanetTopic)
      await attacker.libp2p.services.pubsub.publish(datanetTopic, sealEnvelope({
        network, type: DatanetHeadsMessage.type, signer, body: { datanet: datanet.id, name: 'attacked', heads: [cid.toString()], entries: 2 }
      }))
      return { attacker, cid: cid.toString() }
    }
    const newFailure = (before: StatusReport, after: StatusReport): string | undefined =>
      Object.keys(after.datanets.failures).find(k => after.datanets.failures[k] > (before.datanets.failures[k] ?? 0))

    // Finding 3: an entry with a key outside the schema, straight to peer 0.
    await row('datanets: a manifest entry with a key outside the schema', '3', async () => {
      const extraKey = async (tried: string, make: (signer: Signer) => ManifestEntry): Promise<Try> => [tried, async () => {
        const before = await statusOf(home.statusUrl)
        const entriesBefore = (await entriesAt(home))?.entries
        const { attacker, cid } = await announceBad(home, make)
        const after = await until(async () => { const s = await statusOf(home.statusUrl); return newFailure(before, s) !== undefined ? s : undefined }, 30_000) ?? await statusOf(home.statusUrl)
        await attacker.stop()
        const now = await entriesAt(home)
        if (now === undefined || now.entries !== entriesBefore || now.heads.includes(cid)) return { through: `entries ${entriesBefore} -> ${now?.entries}, in heads: ${now?.heads.includes(cid)}` }
        return `${newFailure(before, after) ?? 'no failure counted'}: not merged (entries ${now.entries})`
      }]
      return await judge([
        await extraKey('a signed contribution with a key added after signing (a re-encoding relay)', (signer) =>
          ({ ...signEntry(contribution(signer, addressOf(signer.publicKey), 'a.txt'), signer), extra: 'added after signing' }) as unknown as ManifestEntry),
        await extraKey('a contribution signed with a key outside the schema', (signer) =>
          signEntry({ ...contribution(signer, addressOf(signer.publicKey), 'b.txt'), extra: 'signed over' } as unknown as Parameters<typeof signEntry>[0], signer))
      ])
    })

    // Finding 6: bad entries announced only to peer 1, which relays the heads to peer 0 (both follow the datanet).
    await row('datanets: bad entries relayed by an honest peer (banning the messenger)', '6', async () => {
      const relayed = (tried: string, make: (signer: Signer) => ManifestEntry): Try => [tried, async () => {
        const before = await statusOf(home.statusUrl)
        const { attacker, cid } = await announceBad(relay, make)
        const announcer = attacker.libp2p.peerId.toString()
        const after = await until(async () => { const s = await statusOf(home.statusUrl); return newFailure(before, s) !== undefined ? s : undefined }, 30_000) ?? await statusOf(home.statusUrl)
        await attacker.stop()
        const relayStatus = await statusOf(relay.statusUrl)
        const blamedRelay = after.datanets.penalised.some(p => p.peer === relay.peerId) || relayStatus.datanets.penalised.some(p => p.peer === home.peerId)
        const connected = (await until(async () => (await statusOf(home.statusUrl)).connections.some(c => c.peerId === relay.peerId), 20_000)) === true
        const merged = (await entriesAt(home))?.heads.includes(cid) ?? false
        if (blamedRelay || !connected || merged) return { through: `relay blamed: ${blamedRelay}, relay connected: ${connected}, entry merged: ${merged}` }
        const failure = newFailure(before, after)
        if (failure === undefined) return 'relay kept (the target never judged the heads)'
        return `${failure}: announcer ${after.datanets.penalised.some(p => p.peer === announcer) ? 'penalised' : 'not penalised'}, relay kept`
      }]
      return await judge([
        relayed('an entry naming the datanet\'s creator as contributor, signed by the attacker', (signer) => signEntry(contribution(signer, datanet.creator, 'c.txt'), signer)),
        relayed('an entry with a broken signature', (signer) => {
          const e = signEntry(contribution(signer, addressOf(signer.publicKey), 'd.txt'), signer)
          return { ...e, sig: Uint8Array.from(e.sig, (b, i) => i === 3 ? b ^ 0xff : b) }
        })
      ])
    })
  } finally {
    for (const n of stoppable) { try { await n.stop() } catch {} }
  }
  return out
}
