// /openledger/task/1.0.0 — the task market's point-to-point messages: a bid goes to the
// requester, a result to the requester and the assigned verifiers, a progress note (its
// newest checkpoint) from a worker to its verifiers. The request is one signed envelope
// (job-bid/1, job-result/1 or job-progress/1) and must be signed by the peer on the
// connection, so nobody can bid or report in another's name; it goes through the
// node's Inbound door (size, signature, replay window, schema) before the handler sees
// it. The answer says whether it was taken: msgpack { accepted, reason? }.
import type { PeerId } from '@libp2p/interface'
import { decode, encode } from '../codec.ts'
import { maxEnvelopeBytes, type Envelope } from '../envelope.ts'
import { MalformedMessageError } from '../errors.ts'
import { SignerMismatchError } from '../hello/hello.ts'
import { identityOf } from '../identity.ts'
import type { Inbound } from '../inbound.ts'
import { JobBidMessage, JobProgressMessage, JobResultMessage, type JobBid, type JobProgress, type JobResult } from '../messages/jobs.ts'
import type { MessageRegistry } from '../registry.ts'
import { request, serveProtocol, type ProtocolLimits, type StreamHost } from '../reqresp.ts'

export const TASK_PROTOCOL = '/openledger/task/1.0.0'
const ACCEPT = [JobBidMessage.type, JobResultMessage.type, JobProgressMessage.type]

export interface TaskAnswer { accepted: boolean, reason?: string }

export function taskLimits (registry: MessageRegistry): ProtocolLimits {
  return {
    maxRequestBytes: maxEnvelopeBytes(registry),
    maxResponseBytes: 512,
    timeoutMs: 10_000,
    maxInboundStreams: 32,
    // A peer bids on a job once or twice and reports a result once: this is generous.
    rateLimit: { burst: 30, refillMs: 1_000 }
  }
}

export interface TaskHandlers {
  onBid?: (env: Envelope<JobBid>, from: string) => Promise<TaskAnswer>
  onResult?: (env: Envelope<JobResult>, from: string) => Promise<TaskAnswer>
  onProgress?: (env: Envelope<JobProgress>, from: string) => Promise<TaskAnswer>
}

export async function serveTask (host: StreamHost, inbound: Inbound, registry: MessageRegistry, handlers: TaskHandlers): Promise<void> {
  await serveProtocol(host, TASK_PROTOCOL, taskLimits(registry), async (req, connection) => {
    const from = connection.remotePeer.toString()
    const env = inbound.open<JobBid | JobResult | JobProgress>(req, 'proto:' + TASK_PROTOCOL, from, ACCEPT, (e) => {
      if (identityOf(e.signer).peerId !== from) throw new SignerMismatchError('task message not signed by the connected peer', { from })
    })
    const handle = env.type === JobBidMessage.type ? handlers.onBid : env.type === JobProgressMessage.type ? handlers.onProgress : handlers.onResult
    const answer: TaskAnswer = handle === undefined
      ? { accepted: false, reason: `this peer takes no ${env.type}` }
      : await (handle as (e: typeof env, f: string) => Promise<TaskAnswer>)(env, from)
    return encode(answer.reason === undefined ? { accepted: answer.accepted } : { accepted: answer.accepted, reason: answer.reason.slice(0, 200) })
  })
}

/** Send a sealed job-bid/1, job-result/1 or job-progress/1 envelope to `peer`; its answer. */
export async function sendTask (host: StreamHost, registry: MessageRegistry, peer: PeerId, envelope: Uint8Array): Promise<TaskAnswer> {
  const v = decode(await request(host, peer, TASK_PROTOCOL, taskLimits(registry), envelope), 512) as Record<string, unknown>
  if (v == null || typeof v.accepted !== 'boolean' || (v.reason !== undefined && typeof v.reason !== 'string')) throw new MalformedMessageError('task: bad answer')
  return v.reason === undefined ? { accepted: v.accepted } : { accepted: v.accepted, reason: v.reason as string }
}
