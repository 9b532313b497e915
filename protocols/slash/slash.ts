// /openledger/slash/1.0.0 — a job's referee asks the job's other verifiers to co-sign a
// slash, when the verifier quorum is above one (Staking.slash counts the referee and
// the job's assigned verifiers; the slashed peer never signs). Request: msgpack
// { jobId, peer, role, amount (decimal wei), evidence, prover, resultHash, fault }: the
// Slash case and the fault that prices it. Answer: { signer, signature }, an EIP-712
// Slash signature, given only if the asked verifier's own verdict on that result
// contradicts the slashed peer's (peer/market/slash-cosigner.ts); otherwise
// SlashCosignRefusedError with the reason. Who may ask: anyone (the signature is worth
// nothing on chain without the referee's own over the same case, the requester's
// assignment and the slashed peer's participation); the co-signer's verdict decides.
import type { PeerId } from '@libp2p/interface'
import { decode, encode } from '../codec.ts'
import { MalformedMessageError, WireError } from '../errors.ts'
import { request, serveProtocol, type ProtocolLimits, type StreamHost } from '../reqresp.ts'

export const SLASH_PROTOCOL = '/openledger/slash/1.0.0'

export const SLASH_LIMITS: ProtocolLimits = {
  maxRequestBytes: 1_024,
  maxResponseBytes: 512,
  timeoutMs: 20_000,
  maxInboundStreams: 8,
  rateLimit: { burst: 16, refillMs: 1_000 }
}

/** The asked verifier will not co-sign: its own verdict does not back the slash, or the case is not the policy's. */
export class SlashCosignRefusedError extends WireError {}

export interface SlashCosignRequest {
  jobId: string
  peer: string
  /** 'worker' | 'verifier' (the stake role slashed). */
  role: 'worker' | 'verifier'
  amount: string
  evidence: string
  prover: string
  resultHash: string
  /** The fault the shared policy prices (settlement/policy slashFor). */
  fault: string
}

export interface SlashCosignAnswer { signer: string, signature: string }

const HASH = /^0x[0-9a-fA-F]{64}$/
const ADDRESS = /^0x[0-9a-fA-F]{40}$/
const SIGNATURE = /^0x[0-9a-fA-F]{130}$/

export function parseSlashCosignRequest (body: Uint8Array): SlashCosignRequest {
  const v = decode(body, SLASH_LIMITS.maxRequestBytes) as Record<string, unknown> | null
  const ok = v != null && typeof v === 'object' &&
    typeof v.jobId === 'string' && HASH.test(v.jobId) &&
    typeof v.peer === 'string' && ADDRESS.test(v.peer) &&
    (v.role === 'worker' || v.role === 'verifier') &&
    typeof v.amount === 'string' && /^[1-9][0-9]{0,77}$/.test(v.amount) &&
    typeof v.evidence === 'string' && HASH.test(v.evidence) &&
    typeof v.prover === 'string' && ADDRESS.test(v.prover) &&
    typeof v.resultHash === 'string' && HASH.test(v.resultHash) &&
    typeof v.fault === 'string' && v.fault.length > 0 && v.fault.length <= 64
  if (!ok) throw new MalformedMessageError('slash: expected { jobId, peer, role, amount, evidence, prover, resultHash, fault }')
  const r = v as unknown as SlashCosignRequest
  return { jobId: r.jobId, peer: r.peer, role: r.role, amount: r.amount, evidence: r.evidence, prover: r.prover, resultHash: r.resultHash, fault: r.fault }
}

export async function serveSlashCosign (host: StreamHost, handle: (req: SlashCosignRequest, from: string) => Promise<SlashCosignAnswer>): Promise<void> {
  await serveProtocol(host, SLASH_PROTOCOL, SLASH_LIMITS, async (body, connection) => {
    return encode(await handle(parseSlashCosignRequest(body), connection.remotePeer.toString()))
  })
}

export function parseSlashCosignAnswer (body: Uint8Array): SlashCosignAnswer {
  const v = decode(body, SLASH_LIMITS.maxResponseBytes) as Record<string, unknown> | null
  if (typeof v?.signer !== 'string' || !ADDRESS.test(v.signer) || typeof v.signature !== 'string' || !SIGNATURE.test(v.signature)) {
    throw new MalformedMessageError('slash: a co-signature must be { signer: address, signature: 65 bytes }')
  }
  return { signer: v.signer, signature: v.signature }
}

export async function askSlashCosign (host: StreamHost, peer: PeerId, req: SlashCosignRequest): Promise<SlashCosignAnswer> {
  return parseSlashCosignAnswer(await request(host, peer, SLASH_PROTOCOL, SLASH_LIMITS, encode(req)))
}
