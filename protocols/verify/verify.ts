// /openledger/verify/1.0.0 — a verifier fetches what it needs to replay part of a job
// from the worker: the receipt itself, or the bytes of one receipt entry (a training
// checkpoint, named by its step). Request: msgpack { job: bytes32, entry?: uint } (no
// entry: the receipt). Response: the raw bytes (at most 16 MiB). The
// worker cannot lie usefully: the verifier checks the bytes against the receipt's hash
// chain before replaying from them, and a worker that withholds an entry a verifier
// sampled fails verification.
import type { PeerId } from '@libp2p/interface'
import { bytesToHex, hexToBytes } from '../bytes.ts'
import { decode, encode } from '../codec.ts'
import { MalformedMessageError, WireError } from '../errors.ts'
import { requestPaced, serveProtocol, type ProtocolLimits, type StreamHost } from '../reqresp.ts'

export const VERIFY_PROTOCOL = '/openledger/verify/1.0.0'
export const MAX_ENTRY_BYTES = 16 * 1024 * 1024

/** The worker does not hold that entry (or never ran that job). */
export class UnknownReceiptEntryError extends WireError {}

export const VERIFY_LIMITS: ProtocolLimits = {
  maxRequestBytes: 128,
  maxResponseBytes: MAX_ENTRY_BYTES + 64,
  timeoutMs: 60_000,
  maxInboundStreams: 8,
  rateLimit: { burst: 64, refillMs: 250 }
}

export type ReceiptPart = number | 'receipt'

function parseRequest (bytes: Uint8Array): { job: string, entry: ReceiptPart } {
  const v = decode(bytes, VERIFY_LIMITS.maxRequestBytes) as Record<string, unknown>
  if (!(v?.job instanceof Uint8Array) || v.job.byteLength !== 32) throw new MalformedMessageError('verify: job must be 32 bytes')
  if (v.entry !== undefined && (!Number.isSafeInteger(v.entry) || (v.entry as number) < 0)) throw new MalformedMessageError('verify: entry must be an index')
  return { job: '0x' + bytesToHex(v.job), entry: v.entry === undefined ? 'receipt' : v.entry as number }
}

export async function serveVerify (host: StreamHost, lookup: (job: string, entry: ReceiptPart, from: string) => Promise<Uint8Array | undefined>): Promise<void> {
  await serveProtocol(host, VERIFY_PROTOCOL, VERIFY_LIMITS, async (req, connection) => {
    const { job, entry } = parseRequest(req)
    const bytes = await lookup(job, entry, connection.remotePeer.toString())
    if (bytes === undefined) throw new UnknownReceiptEntryError('no such receipt entry here', { job, entry })
    if (bytes.byteLength > MAX_ENTRY_BYTES) throw new UnknownReceiptEntryError('entry too large to serve', { job, entry })
    return bytes
  })
}

/**
 * The receipt of `job`, or the bytes of one of its entries, from the worker `peer`.
 * Unchecked: verify them against the receipt. A verifier sampling many checkpoints
 * outruns the worker's rate limit: that is waited out, never read as a refusal.
 */
export async function fetchReceiptEntry (host: StreamHost, peer: PeerId, job: string, entry: ReceiptPart): Promise<Uint8Array> {
  if (!/^0x[0-9a-f]{64}$/.test(job)) throw new RangeError('job must be 0x + 32 bytes of lowercase hex')
  const id = hexToBytes(job.slice(2))
  return await requestPaced(host, peer, VERIFY_PROTOCOL, VERIFY_LIMITS, encode(entry === 'receipt' ? { job: id } : { job: id, entry }))
}
