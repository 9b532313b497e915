// The providing peer of the shard-sync bench, run as its own process:
//   node bench/shard-sync/provider.ts --mib 64 --seed S [--dir D]
// Builds a peer the way peers are built (createPeerStack: Helia + libp2p with tcp,
// noise, yamux and bitswap) over a blockstore-fs in a temp folder, imports the bench
// file Kubo-style, and serves it three ways:
//   /openledger/shard/1.0.0       ShardSync (the project)
//   bitswap                       stock Helia (baseline b)
//   /openledger-bench/raw/1.0.0   the file's bytes on one stream, 64 KiB writes that
//                                 honour backpressure (baseline a)
// Prints one JSON line { peerId, addrs, root, size, blocks, dagBytes, importMs } on
// stdout when ready; exits when stdin closes or on SIGTERM, removing its folder.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { FsBlockstore } from 'blockstore-fs'
import { MemoryDatastore } from 'datastore-core'
import { createPeerStack } from '../../peer/net/libp2p.ts'
import { ShardSync } from '../../protocols/shard/index.ts'
import { importFile } from '../../storage/unixfs/index.ts'
import { deterministicBytes, MIB, RAW_PROTOCOL, RAW_WRITE_BYTES } from './data.ts'

const { values } = parseArgs({ options: { mib: { type: 'string' }, seed: { type: 'string' }, dir: { type: 'string' } } })
const size = Math.round(Number(values.mib ?? '64') * MIB)
const seed = values.seed ?? 'openledger-shard-sync'
const dir = values.dir ?? await mkdtemp(join(os.tmpdir(), 'openledger-shard-provider-'))
const ownDir = values.dir == null

const blockstore = new FsBlockstore(join(dir, 'blocks'))
await blockstore.open()
const datastore = new MemoryDatastore()
const helia = createPeerStack({
  privateKey: await generateKeyPair('Ed25519'),
  listen: ['/ip4/127.0.0.1/tcp/0'],
  bootstrap: [],
  mdns: false,
  network: 'bench',
  datastore,
  blockstore,
  agentVersion: 'openledger-bench/shard-sync',
  maxGossipBytes: 64 * 1024
})

let shard: ShardSync | undefined
let stopping = false
async function stop (): Promise<void> {
  if (stopping) return
  stopping = true
  try {
    await shard?.stop()
    await helia.stop()
  } finally {
    if (ownDir) await rm(dir, { recursive: true, force: true })
    process.exit(0)
  }
}
process.on('SIGTERM', () => { void stop() })
process.on('SIGINT', () => { void stop() })
process.stdin.on('end', () => { void stop() })
process.stdin.resume()

const bytes = deterministicBytes(size, seed)
const t0 = performance.now()
const imported = await importFile(blockstore, bytes)
const importMs = performance.now() - t0

await helia.start()
const libp2p = helia.libp2p
shard = new ShardSync({ host: libp2p, blockstore })
await shard.start()

// Baseline (a): the same bytes on one stream. The dialler writes one byte to start
// (so the stream is open at both ends), then reads until the end.
async function sendRaw (stream: Stream): Promise<void> {
  try {
    const it = stream[Symbol.asyncIterator]()
    await it.next()
    for (let o = 0; o < bytes.byteLength; o += RAW_WRITE_BYTES) {
      if (!stream.send(bytes.subarray(o, Math.min(o + RAW_WRITE_BYTES, bytes.byteLength)))) await stream.onDrain()
    }
    await stream.close()
  } catch (err) {
    stream.abort(err as Error)
  }
}
await libp2p.handle(RAW_PROTOCOL, (stream) => { void sendRaw(stream) }, { maxInboundStreams: 4 })

let dagBytes = 0
for (const cid of imported.blocks) {
  for await (const chunk of blockstore.get(cid)) dagBytes += chunk.byteLength
}

process.stdout.write(JSON.stringify({
  peerId: libp2p.peerId.toString(),
  addrs: libp2p.getMultiaddrs().map(a => a.toString()),
  root: imported.cid.toString(),
  size: imported.size,
  blocks: imported.blocks.length,
  dagBytes,
  importMs: Math.round(importMs)
}) + '\n')
