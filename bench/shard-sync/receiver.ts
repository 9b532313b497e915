// The fetching side of the shard-sync bench, inside the bench process: a fresh peer
// (createPeerStack: Helia + libp2p + bitswap, as peers are built) over a fresh
// blockstore in a temp folder for every repetition, connected to the provider and
// identified before the clock starts, so every case starts from the same state.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { FsBlockstore } from 'blockstore-fs'
import { MemoryDatastore } from 'datastore-core'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import { createPeerStack } from '../../peer/net/libp2p.ts'
import { waitFor } from '../lib/wait.ts'

const BITSWAP_PROTOCOL = '/ipfs/bitswap/1.2.0'

export interface ProviderInfo {
  peerId: string
  addrs: string[]
  root: string
  size: number
  blocks: number
  dagBytes: number
  importMs: number
}

export interface Receiver {
  helia: ReturnType<typeof createPeerStack>
  /** The blockstore the fetch writes to (the Helia node's own). */
  blockstore: Blockstore
  provider: PeerId
  addr: Multiaddr
  close: () => Promise<void>
}

/** What ShardSync needs of a blockstore, in memory: to tell the disk's share apart. */
export class MapBlockstore {
  private readonly blocks = new Map<string, Uint8Array>()
  get size (): number { return this.blocks.size }
  async put (cid: CID, bytes: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<CID> {
    if (!(bytes instanceof Uint8Array)) throw new Error('MapBlockstore takes whole blocks')
    this.blocks.set(cid.toString(), bytes)
    return cid
  }

  async has (cid: CID): Promise<boolean> { return this.blocks.has(cid.toString()) }
  async * get (cid: CID): AsyncGenerator<Uint8Array> {
    const b = this.blocks.get(cid.toString())
    if (b == null) throw Object.assign(new Error(`${cid} not found`), { name: 'NotFoundError' })
    yield b
  }
}

/** A started peer with an empty blockstore-fs in a temp folder, connected to the provider. */
export async function freshReceiver (info: ProviderInfo): Promise<Receiver> {
  const dir = await mkdtemp(join(os.tmpdir(), 'openledger-shard-recv-'))
  const blockstore = new FsBlockstore(join(dir, 'blocks'))
  await blockstore.open()
  const helia = createPeerStack({
    privateKey: await generateKeyPair('Ed25519'),
    listen: [],
    bootstrap: [],
    mdns: false,
    network: 'bench',
    datastore: new MemoryDatastore(),
    blockstore,
    agentVersion: 'openledger-bench/shard-sync-receiver',
    maxGossipBytes: 64 * 1024
  })
  const close = async (): Promise<void> => {
    try {
      await helia.stop()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
  try {
    await helia.start()
    const addr = multiaddr(info.addrs[0])
    const provider = peerIdFromString(info.peerId)
    await helia.libp2p.dial(addr)
    // identify done: bitswap knows the provider speaks it, as it would in a swarm.
    await waitFor(async () => {
      const peer = await helia.libp2p.peerStore.get(provider).catch(() => undefined)
      return peer?.protocols.includes(BITSWAP_PROTOCOL) === true ? true : null
    }, { timeoutMs: 10_000, intervalMs: 20, describe: () => 'provider not identified' })
    return { helia, blockstore, provider, addr, close }
  } catch (err) {
    await close()
    throw err
  }
}
