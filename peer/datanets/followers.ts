// Who else follows each datanet this peer follows: the peers whose heads announcements
// for it were heard lately (every follower announces every datanet it follows every
// 5 s). A peer pins only shards of datanets it follows, so placement ranks only them.
// Bounded: announcements cost nothing to make, and only followed datanets are tracked.

/** A follower not heard for this long is taken to have stopped (six missed announcements). */
export const FOLLOWER_TTL_MS = 30_000
const MAX_PER_DATANET = 1_024

export class FollowerBook {
  private readonly seen = new Map<string, Map<string, number>>()

  /** `peer` announced heads of `datanet` (a datanet this peer follows). */
  saw (datanet: string, peer: string, now = Date.now()): void {
    let peers = this.seen.get(datanet)
    if (peers === undefined) this.seen.set(datanet, peers = new Map())
    peers.delete(peer) // re-inserted last: the oldest is first to go
    peers.set(peer, now)
    if (peers.size > MAX_PER_DATANET) peers.delete(peers.keys().next().value!)
  }

  has (datanet: string, peer: string, now = Date.now()): boolean {
    const at = this.seen.get(datanet)?.get(peer)
    return at !== undefined && now - at <= FOLLOWER_TTL_MS
  }

  /** Whether any other follower of the datanet has been heard lately. */
  heardAny (datanet: string, now = Date.now()): boolean {
    for (const at of this.seen.get(datanet)?.values() ?? []) if (now - at <= FOLLOWER_TTL_MS) return true
    return false
  }

  forget (datanet: string): void {
    this.seen.delete(datanet)
  }
}
