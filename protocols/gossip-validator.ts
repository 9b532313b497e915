// Adapts the inbound door to a gossipsub topic validator: a message that fails a wire
// check is Rejected (gossipsub then lowers the score of the peer that sent it, see
// ./gossip-score.ts, and does not forward it); one that is merely untimely (stale,
// ahead, a replay, over an allowance: an honest relay may pass those on) and a failure
// of our own handler are Ignored: not forwarded, not held against anyone.
import { TopicValidatorResult, type TopicValidatorFn } from '@libp2p/gossipsub'
import type { Envelope } from './envelope.ts'
import { verdictOf, type Inbound } from './inbound.ts'
import { SenderLimiter } from './sender-limiter.ts'
import type { TopicSpec } from './topics.ts'

export function topicValidator (inbound: Inbound, topic: TopicSpec, topicId: string,
  onEnvelope: (env: Envelope, from: string) => void): TopicValidatorFn {
  // Each neighbour and each signing key gets the topic's allowance (topics.ts).
  const limiter = new SenderLimiter(topic.limits)
  return (peer, msg) => {
    let env: Envelope
    try {
      env = inbound.open(msg.data, `gossip:${topicId}`, peer.toString(), topic.accept, undefined, limiter)
    } catch (err) {
      return verdictOf(err) === 'reject' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
    }
    try {
      onEnvelope(env, peer.toString())
    } catch {
      return TopicValidatorResult.Ignore
    }
    return TopicValidatorResult.Accept
  }
}
