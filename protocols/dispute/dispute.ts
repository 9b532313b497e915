// /openledger/dispute/1.0.0 — a job's referee questions the two parties of a disputed
// verdict: the worker and the verifier that rejected its result. The request is one
// signed dispute-query/1 envelope, which must be signed by the peer on the connection
// and goes through the node's Inbound door; the handler checks the signer is the job's
// assigned referee. The answer is msgpack { claim: bytes } (a dispute-claim/1 envelope
// signed by the party, so its hash at a step is attributable evidence) or { state:
// bytes } (the state itself, which the referee checks against the agreed hash before
// recomputing a step from it; at most 16 MiB). A party may take time to answer (it
// replays up to one checkpoint segment), hence the long timeout.
import type { PeerId } from '@libp2p/interface'
import { decode, encode } from '../codec.ts'
import { maxEnvelopeBytes, type Envelope } from '../envelope.ts'
import { MalformedMessageError, WireError } from '../errors.ts'
import { SignerMismatchError } from '../hello/hello.ts'
import { identityOf } from '../identity.ts'
import type { Inbound } from '../inbound.ts'
import { DisputeClaimMessage, DisputeQueryMessage, type DisputeClaim, type DisputeQuery } from '../messages/jobs.ts'
import type { MessageRegistry } from '../registry.ts'
import { request, serveProtocol, type ProtocolLimits, type StreamHost } from '../reqresp.ts'

export const DISPUTE_PROTOCOL = '/openledger/dispute/1.0.0'
export const MAX_STATE_BYTES = 16 * 1024 * 1024

/** The asker is not this job's referee, or this peer is no party to a dispute on it. */
export class NotADisputeError extends WireError {}

export function disputeLimits (registry: MessageRegistry): ProtocolLimits {
  return {
    maxRequestBytes: maxEnvelopeBytes(registry),
    maxResponseBytes: MAX_STATE_BYTES + 1024,
    timeoutMs: 180_000,
    maxInboundStreams: 4,
    // A bisection over a 50-step segment is about six rounds, plus one state.
    rateLimit: { burst: 32, refillMs: 1_000 }
  }
}

export type DisputeAnswer = { claim: Uint8Array } | { state: Uint8Array }

export async function serveDispute (host: StreamHost, inbound: Inbound, registry: MessageRegistry,
  handle: (env: Envelope<DisputeQuery>, from: string) => Promise<DisputeAnswer>): Promise<void> {
  await serveProtocol(host, DISPUTE_PROTOCOL, disputeLimits(registry), async (req, connection) => {
    const from = connection.remotePeer.toString()
    const env = inbound.open<DisputeQuery>(req, 'proto:' + DISPUTE_PROTOCOL, from, [DisputeQueryMessage.type], (e) => {
      if (identityOf(e.signer).peerId !== from) throw new SignerMismatchError('dispute query not signed by the connected peer', { from })
    })
    const answer = await handle(env, from)
    if ('state' in answer && answer.state.byteLength > MAX_STATE_BYTES) throw new NotADisputeError('state too large to serve', { bytes: answer.state.byteLength })
    return encode(answer)
  })
}

/**
 * Sends a sealed dispute-query/1 to `peer`. For a hash, returns the party's claim,
 * opened through `inbound` and checked to be signed by `peer` and to answer exactly
 * this query; for a state, its bytes (unchecked: compare their hash to the claim).
 */
export async function askDispute (host: StreamHost, inbound: Inbound, registry: MessageRegistry, peer: PeerId, query: DisputeQuery, envelope: Uint8Array): Promise<{ claim?: Envelope<DisputeClaim>, claimBytes?: Uint8Array, state?: Uint8Array }> {
  const limits = disputeLimits(registry)
  const v = decode(await request(host, peer, DISPUTE_PROTOCOL, limits, envelope), limits.maxResponseBytes) as Record<string, unknown>
  if (query.state) {
    if (!(v?.state instanceof Uint8Array)) throw new MalformedMessageError('dispute: expected a state')
    return { state: v.state }
  }
  if (!(v?.claim instanceof Uint8Array)) throw new MalformedMessageError('dispute: expected a claim')
  const claim = inbound.open<DisputeClaim>(v.claim, 'proto:' + DISPUTE_PROTOCOL + ':claim', peer.toString(), [DisputeClaimMessage.type], (e) => {
    if (identityOf(e.signer).peerId !== peer.toString()) throw new SignerMismatchError('dispute claim not signed by the party asked', { peer: peer.toString() })
    if (e.body.job !== query.job || e.body.resultHash !== query.resultHash || e.body.step !== query.step) throw new MalformedMessageError('dispute claim answers another query', { step: e.body.step })
  })
  return { claim, claimBytes: v.claim }
}
