// The network stack of a peer: libp2p with tcp + noise + yamux, identify (gossipsub
// needs it), gossipsub for broadcast, bootstrap and (optionally) mDNS for discovery;
// inside Helia, whose blockstore and datastore are on disk (so the peer store, pins
// and blocks outlive the process) and which moves blocks with bitswap.
import { bootstrap } from '@libp2p/bootstrap'
import { gossipsub } from '@libp2p/gossipsub'
import { identify, identifyPush } from '@libp2p/identify'
import type { PeerDiscovery, PrivateKey } from '@libp2p/interface'
import { mdns } from '@libp2p/mdns'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import type { Datastore } from 'interface-datastore'
import { withBitswap } from '@helia/bitswap'
import type { Helia } from '@helia/interface'
import { withLibp2pLight } from '@helia/libp2p'
import * as dagCbor from '@ipld/dag-cbor'
import type { Blockstore } from 'interface-blockstore'
import { createHeliaLight } from 'helia'
import { GOSSIP_SCORE_THRESHOLDS, gossipScoreParams } from '../../protocols/gossip-score.ts'
import type { PeerLibp2p } from './peer-libp2p.ts'

// Still re-exported for peer/market/ (rewritten elsewhere), which imports it from here;
// new code imports peer/net/peer-libp2p.ts.
export type { PeerLibp2p } from './peer-libp2p.ts'

export interface Libp2pOptions {
  privateKey: PrivateKey
  listen: string[]
  bootstrap: string[]
  mdns: boolean
  /** mDNS service tag: peers of other networks on the LAN are not found. */
  network: string
  datastore: Datastore
  blockstore: Blockstore
  agentVersion: string
  /** Largest gossip message accepted off the wire, before our own per-type caps. */
  maxGossipBytes: number
}

/** A stopped Helia node around libp2p; `helia.libp2p` exists once it has started. */
export function createPeerStack (opts: Libp2pOptions): Helia & { libp2p: PeerLibp2p } {
  const discovery: Array<(components: any) => PeerDiscovery> = []
  if (opts.bootstrap.length > 0) discovery.push(bootstrap({ list: opts.bootstrap, timeout: 100 }))
  if (opts.mdns) discovery.push(mdns({ serviceTag: `openledger-${opts.network}.local`, interval: 5_000 }))

  const base = createHeliaLight({ blockstore: opts.blockstore, datastore: opts.datastore, codecs: [dagCbor] })
  const withNet = withLibp2pLight(base, {
    privateKey: opts.privateKey,
    datastore: opts.datastore,
    nodeInfo: { userAgent: opts.agentVersion },
    addresses: { listen: opts.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: discovery,
    services: {
      identify: identify(),
      // Services that start after the node (settlement's /openledger/epoch on a co-signer)
      // reach peers already connected: without a push they would never learn of them.
      identifyPush: identifyPush(),
      pubsub: gossipsub({
        // Envelopes are signed by their author already; gossipsub's own signature
        // would sign the same bytes with the same key a second time.
        globalSignaturePolicy: 'StrictNoSign',
        emitSelf: false,
        allowPublishToZeroTopicPeers: true,
        maxInboundDataLength: opts.maxGossipBytes,
        // A neighbour whose messages our validators Reject loses score until we
        // ignore it; protocols/gossip-score.ts says how much and why.
        scoreParams: gossipScoreParams(opts.network),
        scoreThresholds: GOSSIP_SCORE_THRESHOLDS
      })
    }
  })
  return withBitswap(withNet) as unknown as Helia & { libp2p: PeerLibp2p }
}
