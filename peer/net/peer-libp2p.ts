// The libp2p node every peer service is given: what ./libp2p.ts builds and what the
// services (datanets, market, …) type their `libp2p` against, without loading the stack.
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Libp2p } from 'libp2p'

export type PeerLibp2p = Libp2p<{ identify: Identify, pubsub: GossipSub }>
