// A plain libp2p node built straight from the libraries, not through the project's
// peer code: tests and the soak's garbage peer use it to send bytes the project's own
// send path never would.
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import type { PrivateKey } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'

export type PlainNode = Libp2p<{ identify: Identify, pubsub: GossipSub }>

export async function createPlainNode (privateKey?: PrivateKey): Promise<PlainNode> {
  return await createLibp2p({
    privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      // Same gossip framing as the peers (unsigned at the gossip layer), or the
      // peers would drop our messages before their validator ever saw them.
      pubsub: gossipsub({ globalSignaturePolicy: 'StrictNoSign', allowPublishToZeroTopicPeers: true, maxInboundDataLength: 4 * 1024 * 1024 })
    }
  })
}
