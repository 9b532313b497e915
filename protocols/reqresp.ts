// One request, one response, over a libp2p stream: each a length-prefixed frame.
// The response frame is msgpack [0, payload] on success or [1, errorName, message]
// when the request was refused, so the caller gets the responder's typed error.
// Limits (frame size, time, concurrent streams) are set per protocol. A responder's
// rate limit is its own business, never a fault of the asker nor proof against the
// responder: requestPaced waits it out.
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import { decode, encode } from './codec.ts'
import { MalformedMessageError, MessageTooLargeError, RemoteError, RequestTimeoutError, WireError } from './errors.ts'
import { RateLimiter, type RateLimit } from './rate-limiter.ts'

export interface ProtocolLimits {
  maxRequestBytes: number
  maxResponseBytes: number
  timeoutMs: number
  maxInboundStreams: number
  /** Requests each remote peer may make (burst, then one per refillMs). */
  rateLimit: RateLimit
}

export type RequestHandler = (request: Uint8Array, connection: Connection) => Promise<Uint8Array>

/** The part of a libp2p node this module needs. */
export interface StreamHost {
  handle (protocol: string, handler: (stream: Stream, connection: Connection) => void | Promise<void>,
    options?: { maxInboundStreams?: number, maxOutboundStreams?: number }): Promise<void>
  unhandle (protocol: string): Promise<void>
  dialProtocol (peer: PeerId | Multiaddr, protocol: string, options?: { signal?: AbortSignal }): Promise<Stream>
}

const OK = 0
const ERR = 1

function errorFrame (err: Error): Uint8Array {
  // Only our own typed errors describe the request; anything else stays internal.
  return err instanceof WireError
    ? encode([ERR, err.name, err.message.slice(0, 200)])
    : encode([ERR, 'InternalError', 'request failed'])
}

function wrapLengthError (err: unknown, max: number): unknown {
  const name = (err as Error)?.name
  return name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError'
    ? new MessageTooLargeError('frame too large', { max })
    : err
}

export async function serveProtocol (host: StreamHost, protocol: string, limits: ProtocolLimits,
  handler: RequestHandler): Promise<void> {
  const limiter = new RateLimiter(limits.rateLimit)
  await host.handle(protocol, async (stream, connection) => {
    const signal = AbortSignal.timeout(limits.timeoutMs)
    const lp = lpStream(stream, { maxDataLength: limits.maxRequestBytes })
    let response: Uint8Array
    try {
      limiter.take(connection.remotePeer.toString())
      let request: Uint8Array
      try {
        request = (await lp.read({ signal })).subarray()
      } catch (err) {
        throw wrapLengthError(err, limits.maxRequestBytes)
      }
      response = encode([OK, await handler(request, connection)])
    } catch (err) {
      response = errorFrame(err as Error)
    }
    try {
      await lp.write(response, { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: limits.maxInboundStreams })
}

/** Send one request and return the payload of the answer; RemoteError if refused. */
export async function request (host: StreamHost, peer: PeerId | Multiaddr, protocol: string,
  limits: ProtocolLimits, payload: Uint8Array): Promise<Uint8Array> {
  const signal = AbortSignal.timeout(limits.timeoutMs)
  let stream: Stream | undefined
  try {
    stream = await host.dialProtocol(peer, protocol, { signal })
    const lp = lpStream(stream, { maxDataLength: limits.maxResponseBytes })
    await lp.write(payload, { signal })
    let frame: Uint8Array
    try {
      frame = (await lp.read({ signal })).subarray()
    } catch (err) {
      throw wrapLengthError(err, limits.maxResponseBytes)
    }
    await stream.close({ signal }).catch(() => {})
    const decoded = decode(frame, limits.maxResponseBytes)
    if (Array.isArray(decoded) && decoded[0] === OK && decoded[1] instanceof Uint8Array) return decoded[1]
    if (Array.isArray(decoded) && decoded[0] === ERR && typeof decoded[1] === 'string') {
      throw new RemoteError(`peer refused the request: ${decoded[1]}`, { remoteName: decoded[1], remoteMessage: String(decoded[2] ?? '') })
    }
    throw new MalformedMessageError('bad response frame', { protocol })
  } catch (err) {
    if (signal.aborted) {
      stream?.abort(new RequestTimeoutError('request timed out'))
      throw new RequestTimeoutError('request timed out', { protocol, timeoutMs: limits.timeoutMs })
    }
    throw err
  }
}

/** The responder refused because this peer asked faster than its allowance. */
export function isRateLimited (err: unknown): boolean {
  return err instanceof RemoteError && (err.details as { remoteName?: unknown } | undefined)?.remoteName === 'RateLimitedError'
}

/**
 * `request`, with a RateLimitedError answer waited out: the responder's bucket refills
 * one token per `limits.rateLimit.refillMs`, so wait twice that, doubling each time (at
 * most 10 s), up to `attempts` requests in all; then the RemoteError is thrown.
 */
export async function requestPaced (host: StreamHost, peer: PeerId | Multiaddr, protocol: string,
  limits: ProtocolLimits, payload: Uint8Array, opts: { attempts?: number, signal?: AbortSignal } = {}): Promise<Uint8Array> {
  const attempts = opts.attempts ?? 8
  for (let attempt = 1; ; attempt++) {
    try {
      return await request(host, peer, protocol, limits, payload)
    } catch (err) {
      if (!isRateLimited(err) || attempt >= attempts || opts.signal?.aborted === true) throw err
      const waitMs = Math.min(10_000, limits.rateLimit.refillMs * 2 ** attempt)
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, waitMs)
        opts.signal?.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
      })
    }
  }
}
