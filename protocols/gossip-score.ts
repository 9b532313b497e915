// Gossipsub peer scoring for our topics. Without topic parameters gossipsub counts
// nothing per topic, so a message our validator Rejected (./gossip-validator.ts) cost
// the neighbour that sent it nothing. With them each Rejected message counts against
// that neighbour, squared (P4), and a little credit is earned by first deliveries (P2)
// and time in the mesh (P1); the thresholds then decide when we stop gossiping with a
// peer, stop publishing to it, and drop everything it sends unread (graylist).
// Gossipsub also prunes a peer with a negative score from the mesh and refuses its
// grafts. Scores of disconnected peers are kept for an hour (gossipsub's retainScore),
// so reconnecting does not wipe the slate.
import { createPeerScoreParams, createTopicScoreParams, type PeerScoreParams, type PeerScoreThresholds, type TopicScoreParams } from '@libp2p/gossipsub/score'
import { TOPICS, topicName } from './topics.ts'

/** Score decays run once a second (gossipsub's decayInterval). */
const DECAY_INTERVAL_MS = 1_000

/** The per-interval factor that halves a counter in `seconds`. */
function halvingIn (seconds: number): number {
  return 0.5 ** (DECAY_INTERVAL_MS / 1_000 / seconds)
}

export const GOSSIP_SCORE_THRESHOLDS: PeerScoreThresholds = {
  // One rejected message from a peer with no credit leaves it at -10: still gossiped
  // with; a second takes it below this and it gets no IHAVE/IWANT from us.
  gossipThreshold: -10,
  // Two rejected messages (-40) still publish to it, three do not...
  publishThreshold: -50,
  // ...and three (-90, or four against the most credit an honest peer can hold) graylist it.
  graylistThreshold: -80,
  // Peer exchange only from a peer that has earned half the credit there is.
  acceptPXThreshold: 5,
  // Graft better-scoring peers when the mesh's median has earned next to nothing.
  opportunisticGraftThreshold: 1
}

/** The same weights for every topic: each is low-rate, and a forgery is as bad on one as on another. */
export const TOPIC_SCORE_PARAMS: Partial<TopicScoreParams> = {
  topicWeight: 1,
  // P1: up to +1 after an hour in the mesh (quantum in ms): a tie-breaker, not a shield.
  timeInMeshWeight: 1 / 3_600,
  timeInMeshQuantum: 1_000,
  timeInMeshCap: 3_600,
  // P2: +0.5 for each message it was first to bring us, at most +5, halving every minute.
  firstMessageDeliveriesWeight: 0.5,
  firstMessageDeliveriesDecay: halvingIn(60),
  firstMessageDeliveriesCap: 10,
  // P3 and P3b off: our topics are sparse and bursty (an advert every 10 s per peer,
  // jobs and verdicts when the market moves), so a mesh peer that delivered nothing in
  // a window has done nothing wrong, and penalising it would prune honest peers.
  meshMessageDeliveriesWeight: 0,
  meshFailurePenaltyWeight: 0,
  // P4: -10 × (rejected messages)², the count halving every hour: three graylist a peer
  // with no credit, and one that comes back with more rejects is graylisted again at
  // once, for longer each time.
  invalidMessageDeliveriesWeight: -10,
  invalidMessageDeliveriesDecay: halvingIn(3_600)
}

/** Score parameters for `network`'s topics (their names carry the network). */
export function gossipScoreParams (network: string): PeerScoreParams {
  const topics: Record<string, TopicScoreParams> = {}
  for (const t of TOPICS) topics[topicName(network, t)] = createTopicScoreParams(TOPIC_SCORE_PARAMS)
  return createPeerScoreParams({
    topics,
    // Credit from all topics together is capped, so good behaviour on busy topics
    // cannot buy room for forgeries; penalties are never capped.
    topicScoreCap: 10,
    decayInterval: DECAY_INTERVAL_MS,
    // Every devnet peer shares the loopback address: without this, more than ten of
    // them (the colocation threshold) would penalise one another. A remote peer never
    // has a loopback address.
    IPColocationFactorWhitelist: new Set(['127.0.0.1', '::1'])
  })
}
