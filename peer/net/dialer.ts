// How a peer keeps connected: it dials the peers it learns of (mDNS, adverts), re-dials
// the bootstrap list and its peer store when it has no connection left, and greets
// every peer it dials with the hello exchange (one exchange gives both sides the
// other's advert). Two peers that learn of each other at the same moment would both
// dial: the one with the smaller id dials at once, the other waits and dials only if
// no connection appeared.
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Envelope } from '../../protocols/envelope.ts'
import type { Hello } from '../../protocols/hello/hello.ts'
import { identityOf } from '../../protocols/identity.ts'
import type { CapacityAdvert } from '../../protocols/messages/index.ts'
import type { PeerLibp2p } from './libp2p.ts'

/** Beyond this many connections, adverts no longer trigger dials. */
const MAX_ADVERT_DIALS = 32
/** How long the larger peer id waits before dialling (see dialOnce). */
const DIAL_BACKOFF_MS = 2_000

export interface DialerOptions {
  libp2p: PeerLibp2p
  hello: Hello
  bootstrap: readonly string[]
  /** True once the node is stopping: no new dials. */
  stopping: () => boolean
  log: (msg: string, fields?: Record<string, unknown>) => void
}

export class Dialer {
  private readonly opts: DialerOptions

  constructor (opts: DialerOptions) {
    this.opts = opts
  }

  private get node (): PeerLibp2p { return this.opts.libp2p }

  /** Dials what discovery finds, and greets whoever this peer dialled. */
  start (): void {
    this.node.addEventListener('peer:discovery', (evt) => { void this.dialIfNew(evt.detail.id) })
    this.node.addEventListener('connection:open', (evt) => {
      // The dialler starts the hello; one exchange gives both sides the other's advert.
      if (evt.detail.direction === 'outbound') void this.greet(evt.detail.remotePeer)
    })
  }

  /** Adverts double as discovery: connect to advertisers we are not connected to yet. */
  async dialAdvertised (env: Envelope<CapacityAdvert>): Promise<void> {
    if (this.opts.stopping() || this.node.getConnections().length >= MAX_ADVERT_DIALS) return
    const { peerId } = identityOf(env.signer)
    if (peerId === this.node.peerId.toString()) return
    const addrs = env.body.addrs.flatMap(a => { try { return [multiaddr(a)] } catch { return [] } })
      .filter(a => a.getComponents().some(c => c.name === 'p2p' && c.value === peerId))
    if (addrs.length > 0) await this.dialOnce(peerIdFromString(peerId), addrs)
  }

  /** Dial the bootstrap list and every peer the peer store remembers. */
  async reconnect (): Promise<void> {
    const targets: Array<Parameters<PeerLibp2p['dial']>[0]> = []
    for (const addr of this.opts.bootstrap) targets.push(multiaddr(addr))
    for (const peer of await this.node.peerStore.all()) {
      if (!peer.id.equals(this.node.peerId) && peer.addresses.length > 0) targets.push(peer.id)
    }
    if (targets.length === 0) return
    const results = await Promise.allSettled(targets.map(async t => await this.node.dial(t, { signal: AbortSignal.timeout(5_000) })))
    const failed = results.filter(r => r.status === 'rejected')
    this.opts.log('reconnect', { targets: targets.length, failed: failed.length, error: (failed[0] as PromiseRejectedResult | undefined)?.reason?.message })
  }

  private async dialIfNew (peer: PeerId): Promise<void> {
    if (this.opts.stopping() || peer.equals(this.node.peerId)) return
    await this.dialOnce(peer, [])
  }

  private async dialOnce (peer: PeerId, addrs: Multiaddr[]): Promise<void> {
    const connected = (): boolean => this.node.getConnections(peer).length > 0
    if (connected()) return
    if (this.node.peerId.toString() > peer.toString()) {
      await new Promise(resolve => setTimeout(resolve, DIAL_BACKOFF_MS + Math.random() * DIAL_BACKOFF_MS))
      if (this.opts.stopping() || connected()) return
    }
    try {
      await this.node.dial(addrs.length > 0 ? addrs : peer, { signal: AbortSignal.timeout(5_000) })
    } catch (err) {
      this.opts.log('dial failed', { peer: peer.toString(), error: (err as Error).message })
    }
  }

  private async greet (peer: PeerId): Promise<void> {
    try {
      await this.opts.hello.exchange(peer)
    } catch (err) {
      this.opts.log('hello failed', { peer: peer.toString(), error: (err as Error).name })
    }
  }
}
