// Gossip topics. The network name is part of every topic, so two swarms that meet
// (e.g. two devnets on one LAN) do not mix their traffic.
//
// Each topic holds every signing key and every neighbour to an allowance (a token
// bucket: a burst, then one message per refill interval; beyond it Ignored). A key's
// is several times what an honest peer publishes; a neighbour's is ten keys' worth,
// because an honest neighbour relays everyone's messages (each one counts against
// the neighbour that brought it first).
import { CapacityAdvertMessage } from './messages/capacity-advert.ts'
import { DatanetHeadsMessage } from './messages/datanet-heads.ts'
import { JobAnnounceMessage, JobAssignMessage, JobVerdictMessage, JobRevealMessage, JobRulingMessage } from './messages/jobs.ts'
import type { SenderLimits } from './sender-limiter.ts'

export interface TopicSpec {
  /** Topic name without the network prefix. */
  readonly name: string
  /** Message types a peer may publish on it; anything else is rejected. */
  readonly accept: readonly string[]
  /** Allowances per neighbour and per signing key. */
  readonly limits: SenderLimits
}

/** Adverts: one per advert interval (10 s by default, 500 ms at the CLI's fastest, 100 ms in the gossip bench). */
export const CAPACITY_TOPIC: TopicSpec = {
  name: 'capacity/1',
  accept: [CapacityAdvertMessage.type],
  limits: { perSigner: { burst: 20, refillMs: 100 }, perPeer: { burst: 200, refillMs: 10 } }
}

/** Heads: every 5 s for each followed datanet, and on every change: fifty datanets at 10 a second. */
export const DATANET_TOPIC: TopicSpec = {
  name: 'datanets/1',
  accept: [DatanetHeadsMessage.type],
  limits: { perSigner: { burst: 64, refillMs: 100 }, perPeer: { burst: 640, refillMs: 10 } }
}

/** Jobs looking for workers, and who got them: a requester announces and assigns each job (16 at once). */
export const JOBS_TOPIC: TopicSpec = {
  name: 'jobs/1',
  accept: [JobAnnounceMessage.type, JobAssignMessage.type],
  limits: { perSigner: { burst: 32, refillMs: 250 }, perPeer: { burst: 320, refillMs: 25 } }
}

/** Verifiers' verdicts: what the epoch builder and every requester watch. One verdict, reveal or ruling per job and role. */
export const VERDICTS_TOPIC: TopicSpec = {
  name: 'verdicts/1',
  accept: [JobVerdictMessage.type, JobRevealMessage.type, JobRulingMessage.type],
  limits: { perSigner: { burst: 32, refillMs: 250 }, perPeer: { burst: 320, refillMs: 25 } }
}

export const TOPICS: readonly TopicSpec[] = [CAPACITY_TOPIC, DATANET_TOPIC, JOBS_TOPIC, VERDICTS_TOPIC]

export function topicName (network: string, topic: TopicSpec): string {
  return `/openledger/${network}/${topic.name}`
}
