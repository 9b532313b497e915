// /openledger/hello/1.0.0 — two peers swap their current signed capacity adverts
// when they connect, so a newcomer sees the swarm at once instead of waiting for the
// next gossip round. The request and the response are each one advert envelope,
// signed by the peer at that end of the connection.
import type { PeerId } from '@libp2p/interface'
import { maxEnvelopeBytes, type Envelope } from '../envelope.ts'
import { WireError } from '../errors.ts'
import { identityOf } from '../identity.ts'
import type { Inbound } from '../inbound.ts'
import { CapacityAdvertMessage, type CapacityAdvert } from '../messages/capacity-advert.ts'
import type { MessageRegistry } from '../registry.ts'
import { request, serveProtocol, type ProtocolLimits, type StreamHost } from '../reqresp.ts'

export const HELLO_PROTOCOL = '/openledger/hello/1.0.0'

/** The advert was signed by someone other than the peer on the connection. */
export class SignerMismatchError extends WireError {}

export function helloLimits (registry: MessageRegistry): ProtocolLimits {
  const max = maxEnvelopeBytes(registry)
  return {
    maxRequestBytes: max,
    maxResponseBytes: max + 64,
    timeoutMs: 10_000,
    maxInboundStreams: 32,
    // A hello is sent once per connection: a burst of 20, then one every 3 s, is generous.
    rateLimit: { burst: 20, refillMs: 3_000 }
  }
}

export interface HelloOptions {
  host: StreamHost
  inbound: Inbound
  registry: MessageRegistry
  /** A freshly signed envelope of our current advert (new nonce each call). */
  currentAdvert: () => Promise<Uint8Array>
  onAdvert: (env: Envelope<CapacityAdvert>, from: string) => void
}

const ACCEPT = [CapacityAdvertMessage.type]

export class Hello {
  private readonly opts: HelloOptions
  private readonly limits: ProtocolLimits

  constructor (opts: HelloOptions) {
    this.opts = opts
    this.limits = helloLimits(opts.registry)
  }

  async start (): Promise<void> {
    await serveProtocol(this.opts.host, HELLO_PROTOCOL, this.limits, async (req, connection) => {
      this.accept(req, connection.remotePeer.toString(), 'proto:' + HELLO_PROTOCOL)
      return await this.opts.currentAdvert()
    })
  }

  async stop (): Promise<void> {
    await this.opts.host.unhandle(HELLO_PROTOCOL)
  }

  /** Swap adverts with `peer`; returns theirs. */
  async exchange (peer: PeerId): Promise<Envelope<CapacityAdvert>> {
    const answer = await request(this.opts.host, peer, HELLO_PROTOCOL, this.limits, await this.opts.currentAdvert())
    return this.accept(answer, peer.toString(), 'proto:' + HELLO_PROTOCOL + ':response')
  }

  private accept (bytes: Uint8Array, from: string, channel: string): Envelope<CapacityAdvert> {
    const env = this.opts.inbound.open<CapacityAdvert>(bytes, channel, from, ACCEPT, (e) => {
      if (identityOf(e.signer).peerId !== from) {
        throw new SignerMismatchError('advert not signed by the connected peer', { from })
      }
    })
    this.opts.onAdvert(env, from)
    return env
  }
}
