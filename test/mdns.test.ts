// mDNS discovery, tested inside a private network namespace with only a loopback
// interface, so the multicast never leaves this test (needs root and iproute2, as
// on these machines and CI).
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const SCRIPT = fileURLToPath(new URL('./helpers/mdns-pair.ts', import.meta.url))

describe('mDNS discovery', function () {
  this.timeout(90_000)
  const ns = `openledger-mdns-${process.pid}`
  let ready = false

  before(function () {
    try {
      execFileSync('ip', ['netns', 'add', ns], { stdio: 'pipe' })
      for (const args of [['link', 'set', 'lo', 'up'], ['link', 'set', 'lo', 'multicast', 'on'], ['route', 'add', '224.0.0.0/4', 'dev', 'lo']]) {
        execFileSync('ip', ['netns', 'exec', ns, 'ip', ...args], { stdio: 'pipe' })
      }
      ready = true
    } catch (err) {
      // Without root or iproute2 there is no safe place to multicast: say so, run nothing.
      console.warn(`mDNS test skipped: cannot make a network namespace (${(err as Error).message.split('\n')[0]})`)
      this.skip()
    }
  })

  after(() => {
    if (ready) spawnSync('ip', ['netns', 'del', ns])
  })

  it('two peers with no bootstrap list find, dial and hear each other', () => {
    const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, SCRIPT], { encoding: 'utf8', timeout: 80_000 })
    const result = JSON.parse(out.trim().split('\n').at(-1)!)
    assert.equal(result.peers.length, 2)
    assert.equal(result.found, true)
  })
})
