// The capacity adverts this peer currently believes: one per peer, the newest by
// sequence number, dropped when its time-to-live runs out. Bounded, because every
// entry arrives from the network.
import type { Envelope } from '../../protocols/envelope.ts'
import { identityOf } from '../../protocols/identity.ts'
import type { CapacityAdvert } from '../../protocols/messages/capacity-advert.ts'

export interface AdvertRecord {
  peerId: string
  address: string
  seq: number
  /** Sender's signing time (ms). */
  ts: number
  receivedAt: number
  expiresAt: number
  via: 'gossip' | 'hello'
  advert: CapacityAdvert
}

export class AdvertBook {
  private readonly byPeer = new Map<string, AdvertRecord>()
  private readonly maxPeers: number

  constructor (maxPeers = 10_000) {
    this.maxPeers = maxPeers
  }

  /** Store the advert if it is newer than what we hold. Returns true when stored. */
  upsert (env: Envelope<CapacityAdvert>, via: AdvertRecord['via'], now: number): boolean {
    const { peerId, address } = identityOf(env.signer)
    const old = this.byPeer.get(peerId)
    // Same seq with a later timestamp is a re-signed refresh (hello): it extends the TTL.
    if (old != null && (env.body.seq < old.seq || (env.body.seq === old.seq && env.ts <= old.ts))) return false
    if (old == null && this.byPeer.size >= this.maxPeers) this.evictSoonestExpiring()
    this.byPeer.set(peerId, {
      peerId,
      address,
      seq: env.body.seq,
      ts: env.ts,
      receivedAt: now,
      expiresAt: env.ts + env.body.ttlMs,
      via,
      advert: env.body
    })
    return true
  }

  /** Drop expired adverts; returns the peer ids dropped. */
  expire (now: number): string[] {
    const dropped: string[] = []
    for (const [peerId, rec] of this.byPeer) {
      if (rec.expiresAt <= now) {
        this.byPeer.delete(peerId)
        dropped.push(peerId)
      }
    }
    return dropped
  }

  get (peerId: string): AdvertRecord | undefined {
    return this.byPeer.get(peerId)
  }

  list (): AdvertRecord[] {
    return [...this.byPeer.values()]
  }

  get size (): number { return this.byPeer.size }

  private evictSoonestExpiring (): void {
    let victim: AdvertRecord | undefined
    for (const rec of this.byPeer.values()) if (victim == null || rec.expiresAt < victim.expiresAt) victim = rec
    if (victim != null) this.byPeer.delete(victim.peerId)
  }
}
