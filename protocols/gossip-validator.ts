// Adapts the inbound door to a gossipsub topic validator: a message that fails any
// wire check is Rejected (gossipsub then penalises the peer that sent it and does not
// forward it); a failure of our own handler is Ignored.
import { TopicValidatorResult, type TopicValidatorFn } from '@libp2p/gossipsub'
import type { Envelope } from './envelope.ts'
import { WireError } from './errors.ts'
import type { Inbound } from './inbound.ts'
import type { TopicSpec } from './topics.ts'

export function topicValidator (inbound: Inbound, topic: TopicSpec, topicId: string,
  onEnvelope: (env: Envelope, from: string) => void): TopicValidatorFn {
  return (peer, msg) => {
    let env: Envelope
    try {
      env = inbound.open(msg.data, `gossip:${topicId}`, peer.toString(), topic.accept)
    } catch (err) {
      return err instanceof WireError ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
    }
    try {
      onEnvelope(env, peer.toString())
    } catch {
      return TopicValidatorResult.Ignore
    }
    return TopicValidatorResult.Accept
  }
}
