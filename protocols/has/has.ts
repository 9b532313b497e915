// /openledger/has/1.0.0 — "which of these shards do you hold (pinned)?". Lets a peer
// report the real replication of a datanet instead of trusting placement alone.
// Request: msgpack array of CID strings (at most 2,048). Response: a bitmap, bit i
// set when shard i is pinned by the responder.
import type { PeerId } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { decode, encode } from '../codec.ts'
import { MalformedMessageError } from '../errors.ts'
import { request, serveProtocol, type ProtocolLimits, type StreamHost } from '../reqresp.ts'

export const HAS_PROTOCOL = '/openledger/has/1.0.0'
export const MAX_HAS_CIDS = 2_048

export const HAS_LIMITS: ProtocolLimits = {
  maxRequestBytes: MAX_HAS_CIDS * 70 + 16,
  maxResponseBytes: MAX_HAS_CIDS / 8 + 64,
  timeoutMs: 10_000,
  maxInboundStreams: 16,
  rateLimit: { burst: 50, refillMs: 200 }
}

function parseRequest (bytes: Uint8Array): CID[] {
  const value = decode(bytes, HAS_LIMITS.maxRequestBytes)
  if (!Array.isArray(value) || value.length > MAX_HAS_CIDS) throw new MalformedMessageError(`expected an array of at most ${MAX_HAS_CIDS} CIDs`)
  return value.map((s) => {
    if (typeof s !== 'string' || s.length > 128) throw new MalformedMessageError('expected CID strings')
    try { return CID.parse(s) } catch { throw new MalformedMessageError('not a CID', { value: s.slice(0, 128) }) }
  })
}

export async function serveHas (host: StreamHost, isPinned: (cid: CID) => Promise<boolean>): Promise<void> {
  await serveProtocol(host, HAS_PROTOCOL, HAS_LIMITS, async (req) => {
    const cids = parseRequest(req)
    const bitmap = new Uint8Array(Math.ceil(cids.length / 8))
    for (const [i, cid] of cids.entries()) if (await isPinned(cid)) bitmap[i >> 3] |= 1 << (i & 7)
    return bitmap
  })
}

/** Ask `peer` which of `cids` it holds; in batches of MAX_HAS_CIDS. */
export async function askHas (host: StreamHost, peer: PeerId, cids: CID[]): Promise<boolean[]> {
  const out: boolean[] = []
  for (let i = 0; i < cids.length; i += MAX_HAS_CIDS) {
    const batch = cids.slice(i, i + MAX_HAS_CIDS)
    const bitmap = await request(host, peer, HAS_PROTOCOL, HAS_LIMITS, encode(batch.map(String)))
    if (bitmap.byteLength < Math.ceil(batch.length / 8)) throw new MalformedMessageError('has: short bitmap')
    for (let j = 0; j < batch.length; j++) out.push((bitmap[j >> 3] & (1 << (j & 7))) !== 0)
  }
  return out
}
