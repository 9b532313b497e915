// The libp2p stack of a peer: tcp + noise + yamux, identify (gossipsub needs it),
// gossipsub for broadcast, bootstrap and (optionally) mDNS for discovery, and a
// datastore on disk so the peer store outlives the process.
import { bootstrap } from '@libp2p/bootstrap'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import type { PeerDiscovery, PrivateKey } from '@libp2p/interface'
import { mdns } from '@libp2p/mdns'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import type { Datastore } from 'interface-datastore'
import { createLibp2p, type Libp2p } from 'libp2p'

export type PeerLibp2p = Libp2p<{ identify: Identify, pubsub: GossipSub }>

export interface Libp2pOptions {
  privateKey: PrivateKey
  listen: string[]
  bootstrap: string[]
  mdns: boolean
  /** mDNS service tag: peers of other networks on the LAN are not found. */
  network: string
  datastore?: Datastore
  agentVersion: string
  /** Largest gossip message accepted off the wire, before our own per-type caps. */
  maxGossipBytes: number
}

export async function createPeerLibp2p (opts: Libp2pOptions): Promise<PeerLibp2p> {
  const discovery: Array<(components: any) => PeerDiscovery> = []
  if (opts.bootstrap.length > 0) discovery.push(bootstrap({ list: opts.bootstrap, timeout: 100 }))
  if (opts.mdns) discovery.push(mdns({ serviceTag: `openledger-${opts.network}.local`, interval: 5_000 }))

  return await createLibp2p({
    privateKey: opts.privateKey,
    datastore: opts.datastore,
    start: false,
    nodeInfo: { userAgent: opts.agentVersion },
    addresses: { listen: opts.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: discovery,
    services: {
      identify: identify(),
      pubsub: gossipsub({
        // Envelopes are signed by their author already; gossipsub's own signature
        // would sign the same bytes with the same key a second time.
        globalSignaturePolicy: 'StrictNoSign',
        emitSelf: false,
        allowPublishToZeroTopicPeers: true,
        maxInboundDataLength: opts.maxGossipBytes
      })
    }
  })
}
