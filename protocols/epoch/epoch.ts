// /openledger/epoch/1.0.0 — an epoch's published inputs, and co-signing its root.
//   { op: 'bundle', epoch }  -> the epoch's bundle (settlement/epoch/audit.ts) as JSON
//       text: what its root was computed from. Aggregators and co-signers serve it;
//       watchers fetch it to recompute a posted root before its challenge window ends.
//   { op: 'cosign', bundle } -> { signer, signature }: an aggregator's EIP-712 signature
//       over (epoch, root, total, toBlock), given only after the co-signer recomputed
//       the root from the chain's events and the bundle (a refusal is a RemoteError
//       naming what was wrong).
// Who may ask: anyone may fetch a bundle (it is public data, rate-limited per peer); a
// co-sign request is answered by whatever the audit finds, so a stranger's proposal
// gets a signature only if its root is right, which is no harm. Sizes are bounded:
// a bundle lists at most MAX_BUNDLE_ACCOUNTS balances and MAX_BUNDLE_RECEIPTS receipts.
import type { PeerId } from '@libp2p/interface'
import { decode, encode } from '../codec.ts'
import { MalformedMessageError, WireError } from '../errors.ts'
import { request, serveProtocol, type ProtocolLimits, type StreamHost } from '../reqresp.ts'

export const EPOCH_PROTOCOL = '/openledger/epoch/1.0.0'
/** 200k balances and 50k receipts as JSON fit well inside this. */
const MAX_BUNDLE_BYTES = 48 * 1024 * 1024

export const EPOCH_LIMITS: ProtocolLimits = {
  maxRequestBytes: MAX_BUNDLE_BYTES + 1_024,
  maxResponseBytes: MAX_BUNDLE_BYTES + 1_024,
  // A co-signer reads the chain's events and maybe a datanet before it answers.
  timeoutMs: 60_000,
  maxInboundStreams: 4,
  // An aggregator retries a refused co-signature every round until the root audits.
  rateLimit: { burst: 12, refillMs: 1_000 }
}

/** A co-signer's refusal: its audit found the root wrong, or could not check it (the message says which). */
export class CosignRefusedError extends WireError {}

export type EpochRequest = { op: 'bundle', epoch: number } | { op: 'cosign', bundle: string }
export interface CosignAnswer { signer: string, signature: string }

const ADDRESS = /^0x[0-9a-fA-F]{40}$/
const SIGNATURE = /^0x[0-9a-fA-F]{130}$/

function parseRequest (body: Uint8Array): EpochRequest {
  const v = decode(body, EPOCH_LIMITS.maxRequestBytes) as Record<string, unknown> | null
  if (v?.op === 'bundle' && Number.isSafeInteger(v.epoch) && (v.epoch as number) >= 0) return { op: 'bundle', epoch: v.epoch as number }
  if (v?.op === 'cosign' && typeof v.bundle === 'string') return { op: 'cosign', bundle: v.bundle }
  throw new MalformedMessageError('epoch: expected { op: bundle, epoch } or { op: cosign, bundle }')
}

export interface EpochHandlers {
  /** The bundle's JSON text, or undefined when this peer has none for the epoch. */
  bundle: (epoch: number) => Promise<string | undefined>
  /** Audit, then sign; throws (a typed error) to refuse. Absent on a peer that does not co-sign. */
  cosign?: (bundleJson: string) => Promise<CosignAnswer>
}

export async function serveEpochs (host: StreamHost, handlers: EpochHandlers): Promise<void> {
  await serveProtocol(host, EPOCH_PROTOCOL, EPOCH_LIMITS, async (req) => {
    const r = parseRequest(req)
    if (r.op === 'bundle') {
      const text = await handlers.bundle(r.epoch)
      if (text === undefined) throw new MalformedMessageError(`epoch: no bundle for epoch ${r.epoch} here`)
      return encode({ bundle: text })
    }
    if (handlers.cosign === undefined) throw new MalformedMessageError('epoch: this peer does not co-sign roots')
    return encode(await handlers.cosign(r.bundle))
  })
}

/** Fetch an epoch's bundle (JSON text; the caller parses and audits it). */
export async function askBundle (host: StreamHost, peer: PeerId, epoch: number): Promise<string> {
  const v = decode(await request(host, peer, EPOCH_PROTOCOL, EPOCH_LIMITS, encode({ op: 'bundle', epoch })), EPOCH_LIMITS.maxResponseBytes) as Record<string, unknown> | null
  if (typeof v?.bundle !== 'string') throw new MalformedMessageError('epoch: the answer holds no bundle')
  return v.bundle
}

/** Ask a co-signer to audit and sign a bundle's root. */
export async function askCosign (host: StreamHost, peer: PeerId, bundleJson: string): Promise<CosignAnswer> {
  const v = decode(await request(host, peer, EPOCH_PROTOCOL, EPOCH_LIMITS, encode({ op: 'cosign', bundle: bundleJson })), EPOCH_LIMITS.maxResponseBytes) as Record<string, unknown> | null
  if (typeof v?.signer !== 'string' || !ADDRESS.test(v.signer) || typeof v.signature !== 'string' || !SIGNATURE.test(v.signature)) {
    throw new MalformedMessageError('epoch: a co-signature must be { signer: address, signature: 65 bytes }')
  }
  return { signer: v.signer, signature: v.signature }
}
