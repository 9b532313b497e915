// What the market sends and receives, behind one interface: two gossip topics (jobs:
// announces and assignments; verdicts: verdicts, forced-error reveals, rulings) and
// four request/response protocols (task: bids, results, progress; verify: receipts and
// checkpoints; dispute: a referee's questions; slash: a referee asking the job's other
// verifiers to co-sign a slash). Every inbound envelope has passed the
// node's Inbound door (size, signature, replay window, schema) before a handler sees
// it. The live peer runs it on libp2p (libp2pWire); the market's unit tests on memory.
import { peerIdFromString } from '@libp2p/peer-id'
import type { Envelope } from '../../protocols/envelope.ts'
import { topicValidator } from '../../protocols/gossip-validator.ts'
import type { Inbound } from '../../protocols/inbound.ts'
import type { DisputeClaim, DisputeQuery, JobBid, JobProgress, JobResult } from '../../protocols/messages/index.ts'
import type { MessageRegistry } from '../../protocols/registry.ts'
import { sendTask, serveTask, TASK_PROTOCOL, type TaskAnswer } from '../../protocols/task/task.ts'
import { JOBS_TOPIC, topicName, VERDICTS_TOPIC } from '../../protocols/topics.ts'
import { fetchReceiptEntry, serveVerify, VERIFY_PROTOCOL, type ReceiptPart } from '../../protocols/verify/verify.ts'
import { askDispute, DISPUTE_PROTOCOL, serveDispute, type DisputeAnswer } from '../../protocols/dispute/dispute.ts'
import { askSlashCosign, serveSlashCosign, SLASH_PROTOCOL, type SlashCosignAnswer, type SlashCosignRequest } from '../../protocols/slash/slash.ts'
import type { PeerLibp2p } from '../net/peer-libp2p.ts'

export type { TaskAnswer, DisputeAnswer, ReceiptPart, SlashCosignAnswer, SlashCosignRequest }
export type MarketTopic = 'jobs' | 'verdicts'

export interface MarketHandlers {
  /** A checked envelope on a topic (handlers never throw: gossip has no one to answer). */
  onGossip: (topic: MarketTopic, env: Envelope) => void
  onBid: (env: Envelope<JobBid>, from: string) => Promise<TaskAnswer>
  onResult: (env: Envelope<JobResult>, from: string) => Promise<TaskAnswer>
  onProgress: (env: Envelope<JobProgress>, from: string) => Promise<TaskAnswer>
  /** A receipt or checkpoint this peer serves, or undefined. */
  serveEntry: (job: string, entry: ReceiptPart, from: string) => Promise<Uint8Array | undefined>
  onDisputeQuery: (env: Envelope<DisputeQuery>, from: string) => Promise<DisputeAnswer>
  /** A referee's request to co-sign a slash (./slash-cosigner.ts); throws SlashCosignRefusedError to refuse. */
  onSlashCosign: (req: SlashCosignRequest, from: string) => Promise<SlashCosignAnswer>
}

export interface MarketWire {
  start: (handlers: MarketHandlers) => Promise<void>
  stop: () => Promise<void>
  /** Publishes a sealed envelope (a failure is the caller's to log). */
  publish: (topic: MarketTopic, envelope: Uint8Array) => Promise<void>
  /** A sealed job-bid/1, job-result/1 or job-progress/1 to `peer`, and its answer. */
  send: (peer: string, envelope: Uint8Array) => Promise<TaskAnswer>
  /** The receipt of `job`, or one of its checkpoints, from `peer` (unchecked: ./receipts.ts checks). */
  fetch: (peer: string, job: string, entry: ReceiptPart) => Promise<Uint8Array>
  /** A sealed dispute-query/1 to a party; its signed claim (checked to answer the query) or a state. */
  askDispute: (peer: string, query: DisputeQuery, envelope: Uint8Array) => Promise<{ claim?: Envelope<DisputeClaim>, claimBytes?: Uint8Array, state?: Uint8Array }>
  /** Ask a verifier of the job to co-sign a slash; its Slash signature (unchecked: the caller verifies it). */
  askSlashCosign: (peer: string, req: SlashCosignRequest) => Promise<SlashCosignAnswer>
}

export function libp2pWire (opts: { libp2p: PeerLibp2p, inbound: Inbound, registry: MessageRegistry, network: string }): MarketWire {
  const { libp2p, inbound, registry } = opts
  const pubsub = libp2p.services.pubsub
  const topics: Record<MarketTopic, { spec: typeof JOBS_TOPIC, id: string }> = {
    jobs: { spec: JOBS_TOPIC, id: topicName(opts.network, JOBS_TOPIC) },
    verdicts: { spec: VERDICTS_TOPIC, id: topicName(opts.network, VERDICTS_TOPIC) }
  }
  return {
    async start (h) {
      for (const topic of ['jobs', 'verdicts'] as const) {
        const { spec, id } = topics[topic]
        pubsub.topicValidators.set(id, topicValidator(inbound, spec, id, (env) => { h.onGossip(topic, env) }))
        pubsub.subscribe(id)
      }
      await serveTask(libp2p, inbound, registry, { onBid: h.onBid, onResult: h.onResult, onProgress: h.onProgress })
      await serveVerify(libp2p, h.serveEntry)
      await serveDispute(libp2p, inbound, registry, h.onDisputeQuery)
      await serveSlashCosign(libp2p, h.onSlashCosign)
    },
    async stop () {
      for (const t of Object.values(topics)) {
        pubsub.unsubscribe(t.id)
        pubsub.topicValidators.delete(t.id)
      }
      for (const p of [TASK_PROTOCOL, VERIFY_PROTOCOL, DISPUTE_PROTOCOL, SLASH_PROTOCOL]) await libp2p.unhandle(p).catch(() => {})
    },
    async publish (topic, envelope) {
      await pubsub.publish(topics[topic].id, envelope)
    },
    send: async (peer, envelope) => await sendTask(libp2p, registry, peerIdFromString(peer), envelope),
    fetch: async (peer, job, entry) => await fetchReceiptEntry(libp2p, peerIdFromString(peer), job, entry),
    askDispute: async (peer, query, envelope) => await askDispute(libp2p, inbound, registry, peerIdFromString(peer), query, envelope),
    askSlashCosign: async (peer, req) => await askSlashCosign(libp2p, peerIdFromString(peer), req)
  }
}
