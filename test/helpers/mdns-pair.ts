// Run inside a private network namespace by mdns.test.ts: two peers with mDNS on and
// no bootstrap list must find, dial and hear each other. Prints one JSON line.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createKeystore } from '../../peer/identity/keystore.ts'
import { PeerNode } from '../../peer/node/peer-node.ts'
import { waitFor, WaitTimeoutError } from './wait.ts'

const dirs = await Promise.all([0, 1].map(async () => await mkdtemp(join(tmpdir(), 'openledger-mdns-'))))
const ids = await Promise.all(dirs.map(async d => await createKeystore(d, 'pw', { kdfCost: 10 })))
const nodes = dirs.map((dataDir, i) => new PeerNode({ dataDir, identity: ids[i], mdns: true, bootstrap: [], advertIntervalMs: 1_000, benchSize: 64, network: 'mdns-test' }))
let found = false
try {
  await Promise.all(nodes.map(async n => await n.start()))
  found = await waitFor('the two peers to find, dial and hear each other', (saw) => {
    const [a, b] = nodes.map(n => n.status())
    const seen = { connected: a.connections.some(c => c.peerId === b.peerId), aHeardB: a.adverts.some(r => r.peerId === b.peerId), bHeardA: b.adverts.some(r => r.peerId === a.peerId) }
    saw(seen)
    return seen.connected && seen.aHeardB && seen.bHeardA
  }, 30_000, 250).catch((err: unknown) => {
    // Not found in time: the test reads found: false; say what was seen.
    if (!(err instanceof WaitTimeoutError)) throw err
    console.error(err.message)
    return false
  })
} finally {
  await Promise.all(nodes.map(async n => await n.stop()))
  await Promise.all(dirs.map(async d => await rm(d, { recursive: true, force: true })))
}
console.log(JSON.stringify({ found, peers: ids.map(i => i.peerId) }))
