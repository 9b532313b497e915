// Gossip topics. The network name is part of every topic, so two swarms that meet
// (e.g. two devnets on one LAN) do not mix their traffic.
import { CapacityAdvertMessage } from './messages/capacity-advert.ts'
import { DatanetHeadsMessage } from './messages/datanet-heads.ts'

export interface TopicSpec {
  /** Topic name without the network prefix. */
  readonly name: string
  /** Message types a peer may publish on it; anything else is rejected. */
  readonly accept: readonly string[]
}

export const CAPACITY_TOPIC: TopicSpec = { name: 'capacity/1', accept: [CapacityAdvertMessage.type] }

export const DATANET_TOPIC: TopicSpec = { name: 'datanets/1', accept: [DatanetHeadsMessage.type] }

export const TOPICS: readonly TopicSpec[] = [CAPACITY_TOPIC, DATANET_TOPIC]

export function topicName (network: string, topic: TopicSpec): string {
  return `/openledger/${network}/${topic.name}`
}
