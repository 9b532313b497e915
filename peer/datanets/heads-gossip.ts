// The datanets gossip topic: where each followed datanet stands, announced and heard.
// - Heads of a datanet this peer does not follow are relayed (another peer may follow
//   it) and otherwise ignored: anyone can announce a thousand geneses for free, so
//   hearing of a datanet follows, fetches and keeps nothing.
// - Of a followed datanet, the announcer is counted as a follower (followers.ts) and
//   what it has that this peer lacks is merged, fetching entries through Helia
//   (bitswap); a follower that is behind is answered with this peer's heads.
// - Entries that fail their checks count against the peer that signed the heads
//   announcement (its key is its peer id): its announcements are ignored for a while and
//   it is disconnected. Never against the gossip neighbour that relayed them: honest
//   peers forward heads before merging, so blaming the relay would set honest peers
//   on each other.
import type { Helia } from '@helia/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { sealEnvelope, type Envelope } from '../../protocols/envelope.ts'
import { topicValidator } from '../../protocols/gossip-validator.ts'
import { identityOf } from '../../protocols/identity.ts'
import type { Inbound } from '../../protocols/inbound.ts'
import { DatanetHeadsMessage, type DatanetHeads } from '../../protocols/messages/index.ts'
import type { MessageRegistry } from '../../protocols/registry.ts'
import { DATANET_TOPIC, topicName } from '../../protocols/topics.ts'
import type { Genesis } from '../../storage/datanet/records.ts'
import type { DatanetStore } from '../../storage/datanet/store.ts'
import type { ManifestLog } from '../../storage/manifest/log.ts'
import type { Identity } from '../identity/keystore.ts'
import type { PeerLibp2p } from '../net/peer-libp2p.ts'
import { FollowerBook } from './followers.ts'

/** A heads announcement: who signed it (and answers for it) and the neighbour that relayed it. */
interface Announcement { heads: CID[], announcer: string, relay: string }

/** Bad content from a peer: the named entry or block failed its checks. */
const CONTENT_ERRORS = new Set(['MalformedEntryError', 'InvalidEntrySignatureError', 'ForgedContributorError', 'InvalidEntryLinkError', 'BlockHashMismatchError', 'MalformedDagError'])

export interface HeadsGossipOptions {
  helia: Helia
  libp2p: PeerLibp2p
  identity: Identity
  network: string
  registry: MessageRegistry
  inbound: Inbound
  store: DatanetStore
  /** A datanet gained entries (or was opened: `opened`) from a merge. */
  onMerged: (id: string, opened: boolean) => void
  log: (msg: string, fields?: Record<string, unknown>) => void
}

export class HeadsGossip {
  readonly followers = new FollowerBook()
  private readonly opts: HeadsGossipOptions
  private readonly topic: string
  /** Datanets being merged, with the announcements that arrived meanwhile (merged next). */
  private readonly merging = new Map<string, Announcement[]>()
  private readonly banned = new Map<string, number>()
  /** When this peer last answered a follower that was behind, per datanet. */
  private readonly answeredAt = new Map<string, number>()
  private stopped = false
  private ignored = 0
  private readonly failures: Record<string, number> = {}
  private readonly penalised: Array<{ peer: string, why: string, at: number }> = []

  constructor (opts: HeadsGossipOptions) {
    this.opts = opts
    this.topic = topicName(opts.network, DATANET_TOPIC)
  }

  start (): void {
    const { libp2p } = this.opts
    libp2p.services.pubsub.topicValidators.set(this.topic, topicValidator(this.opts.inbound, DATANET_TOPIC, this.topic,
      (env, from) => this.onHeads(env as Envelope<DatanetHeads>, from)))
    libp2p.services.pubsub.subscribe(this.topic)
  }

  stop (): void {
    this.stopped = true
  }

  /** Counters for the status API: heads of datanets not followed, failed merges by error, peers penalised. */
  stats (): { ignoredHeads: number, failures: Record<string, number>, penalised: Array<{ peer: string, why: string, at: number }> } {
    return { ignoredHeads: this.ignored, failures: { ...this.failures }, penalised: [...this.penalised] }
  }

  /** Whether a merge of the datanet is under way (or queued). */
  mergingNow (id: string): boolean {
    return this.merging.has(id)
  }

  /** The datanet is no longer followed: forget who else follows it. */
  forget (id: string): void {
    this.followers.forget(id)
    this.answeredAt.delete(id)
  }

  announce (log: ManifestLog): void {
    const body: DatanetHeads = { datanet: log.id, name: (log.genesis.entry.payload as Genesis).name, heads: log.heads.map(String).slice(0, 64), entries: log.size }
    const bytes = sealEnvelope({ network: this.opts.network, type: DatanetHeadsMessage.type, body, signer: this.opts.identity.signer, registry: this.opts.registry })
    this.opts.libp2p.services.pubsub.publish(this.topic, bytes).catch((err: Error) => this.opts.log('heads publish failed', { error: err.message }))
  }

  isBanned (peer: string): boolean {
    return (this.banned.get(peer) ?? 0) > Date.now()
  }

  /** A peer that announced or served bad entries or blocks: disconnected, its announcements ignored for 10 minutes. */
  async penalise (peer: string, why: string): Promise<void> {
    // Bounded: throwaway keys must not grow the map forever; expired bans go first.
    if (this.banned.size >= 10_000) for (const [p, until] of this.banned) if (until <= Date.now()) this.banned.delete(p)
    if (this.banned.size >= 10_000) this.banned.delete(this.banned.keys().next().value!)
    this.banned.set(peer, Date.now() + 10 * 60_000)
    this.penalised.push({ peer, why, at: Date.now() })
    if (this.penalised.length > 50) this.penalised.shift()
    this.opts.log('peer penalised', { peer, why })
    await this.opts.libp2p.hangUp(peerIdFromString(peer)).catch(() => {})
  }

  private onHeads (env: Envelope<DatanetHeads>, from: string): void {
    const announcer = identityOf(env.signer).peerId
    if (this.isBanned(announcer)) return
    const id = env.body.datanet
    const store = this.opts.store
    // Only what this peer chose: anyone can announce a thousand geneses for free.
    if (!store.follows(id)) { this.ignored++; return }
    this.followers.saw(id, announcer)
    const heads = env.body.heads.map(h => CID.parse(h))
    const log = store.has(id) ? store.resolve(id) : undefined
    if (log != null && heads.every(h => log.has(h))) {
      // The announcer is behind (a follower that just joined): where we stand, at most once a second.
      if (!log.heads.every(h => heads.some(n => n.equals(h))) && Date.now() - (this.answeredAt.get(id) ?? 0) >= 1_000) {
        this.answeredAt.set(id, Date.now())
        this.announce(log)
      }
      return
    }
    void this.mergeFrom(id, { heads, announcer, relay: from })
  }

  /** One merge per datanet at a time; announcements that arrive meanwhile are merged next, each on its own account. */
  private async mergeFrom (id: string, first: Announcement): Promise<void> {
    const queued = this.merging.get(id)
    if (queued !== undefined) { if (queued.length < 64) queued.push(first); return }
    const queue: Announcement[] = [first]
    this.merging.set(id, queue)
    const store = this.opts.store
    try {
      while (queue.length > 0 && !this.stopped) {
        const next = queue.shift()!
        if (this.isBanned(next.announcer)) continue
        try {
          const wasOpen = store.has(id)
          const added = await store.merge(id, next.heads, this.opts.helia.blockstore, { signal: AbortSignal.timeout(60_000) })
          if (added.length > 0) {
            this.opts.log('datanet merged', { datanet: id, added: added.length, announcer: next.announcer, relay: next.relay })
            const log = store.resolve(id)
            // Our side had entries the announcer lacks: tell it (and everyone) where we stand.
            if (!log.heads.every(h => next.heads.some(n => n.equals(h)))) this.announce(log)
            this.opts.onMerged(id, !wasOpen)
          }
        } catch (err) {
          const e = err as Error
          this.opts.log('datanet merge failed', { datanet: id, announcer: next.announcer, relay: next.relay, error: e.name, message: e.message })
          this.failures[e.name] = (this.failures[e.name] ?? 0) + 1
          if (CONTENT_ERRORS.has(e.name)) await this.penalise(next.announcer, e.name)
        }
      }
    } finally {
      this.merging.delete(id)
    }
  }
}
