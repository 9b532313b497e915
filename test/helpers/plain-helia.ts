// A plain Helia node (libp2p + bitswap + gossipsub) built straight from the libraries,
// not through the project's peer code: tests use it as an attacker that serves blocks
// and publishes what the project's own send path never would.
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import * as dagCbor from '@ipld/dag-cbor'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import { createHeliaLight } from 'helia'

/** A plain Helia node whose libp2p key is `key`: the heads it signs with that key name it as their announcer. */
export async function plainHelia (key: Uint8Array) {
  const helia = withBitswap(withLibp2pLight(createHeliaLight({ blockstore: new MemoryBlockstore(), datastore: new MemoryDatastore(), codecs: [dagCbor] }), {
    privateKey: privateKeyFromRaw(key),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), pubsub: gossipsub({ globalSignaturePolicy: 'StrictNoSign', allowPublishToZeroTopicPeers: true }) }
  }))
  await helia.start()
  return helia as typeof helia & { libp2p: { services: { pubsub: GossipSub } } }
}

export type PlainHelia = Awaited<ReturnType<typeof plainHelia>>
