// Gossip topics. The network name is part of every topic, so two swarms that meet
// (e.g. two devnets on one LAN) do not mix their traffic.
import { CapacityAdvertMessage } from './messages/capacity-advert.ts'
import { DatanetHeadsMessage } from './messages/datanet-heads.ts'
import { JobAnnounceMessage, JobAssignMessage, JobVerdictMessage, JobRevealMessage, JobRulingMessage } from './messages/jobs.ts'

export interface TopicSpec {
  /** Topic name without the network prefix. */
  readonly name: string
  /** Message types a peer may publish on it; anything else is rejected. */
  readonly accept: readonly string[]
}

export const CAPACITY_TOPIC: TopicSpec = { name: 'capacity/1', accept: [CapacityAdvertMessage.type] }

export const DATANET_TOPIC: TopicSpec = { name: 'datanets/1', accept: [DatanetHeadsMessage.type] }

/** Jobs looking for workers, and who got them. */
export const JOBS_TOPIC: TopicSpec = { name: 'jobs/1', accept: [JobAnnounceMessage.type, JobAssignMessage.type] }

/** Verifiers' verdicts: what the epoch builder and every requester watch. */
export const VERDICTS_TOPIC: TopicSpec = { name: 'verdicts/1', accept: [JobVerdictMessage.type, JobRevealMessage.type, JobRulingMessage.type] }

export const TOPICS: readonly TopicSpec[] = [CAPACITY_TOPIC, DATANET_TOPIC, JOBS_TOPIC, VERDICTS_TOPIC]

export function topicName (network: string, topic: TopicSpec): string {
  return `/openledger/${network}/${topic.name}`
}
