// The devnet as a newcomer meets it: real peer processes on loopback that find each
// other, survive a kill -9 with their identity, leave no process behind, and hand the
// keystore passphrase to no process but the peers, and to them only on stdin.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { createInterface } from 'node:readline'
import { Devnet } from '../peer/devnet/devnet.ts'
import { loadKeystore } from '../peer/identity/keystore.ts'
import { fetchStatus } from '../peer/cli/commands/status.ts'
import { isAlive, runCli, spawnCli } from './helpers/cli.ts'
import { waitFor } from './helpers/wait.ts'

describe('devnet', function () {
  this.timeout(180_000)

  it('openledger devnet --peers 4 --smoke --json: every peer sees 3 adverts', async () => {
    const r = await runCli(['devnet', '--peers', '4', '--smoke', '--json', '--bench-size', '64'])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trim().split('\n')
    const { peers } = JSON.parse(lines.at(-1)!)
    assert.equal(peers.length, 4)
    assert.equal(new Set(peers.map((p: any) => p.peerId)).size, 4)
    for (const p of peers) {
      assert.match(p.address, /^0x[0-9a-fA-F]{40}$/)
      assert.equal(p.advertsSeen, 3)
    }
  })

  it('brings a SIGKILLed peer back with the same peer id, address and listen port, reconnecting from its stored peers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'openledger-kill-'))
    const devnet = new Devnet({ dir, peers: 3, advertIntervalMs: 1_000, benchSize: 64 })
    try {
      await devnet.start()
      const victim = devnet.peers[2]
      // A peer that has run a while: connected to both others, so its peer store knows them.
      await waitFor('the victim to know both other peers', async () => {
        const s = await fetchStatus(victim.statusUrl!)
        return s.advertsSeen === 2 && new Set(s.connections.map(c => c.peerId)).size === 2
      })
      const before = { peerId: victim.peerId, address: victim.address, addrs: victim.addrs }
      const oldPid = victim.child!.pid!
      await devnet.kill(victim)
      assert.equal(isAlive(oldPid), false)

      const killedAt = Date.now()
      // No bootstrap list this time: it can only find the others through the peer
      // store it persisted before the kill. (startPeer throws on another peer id.)
      await devnet.startPeer(victim, { bootstrap: [] })
      const status = await fetchStatus(victim.statusUrl!)
      assert.notEqual(status.pid, oldPid)
      assert.deepEqual({ peerId: status.peerId, address: status.address, addrs: status.addrs }, before)
      // The keystore on disk still opens to the same key, and the others see it again.
      const ks = JSON.parse(await readFile(join(victim.dataDir, 'keystore.json'), 'utf8'))
      assert.equal('0x' + String(ks.address).replace(/^0x/, '').toLowerCase(), before.address.toLowerCase())
      for (const other of devnet.peers.slice(0, 2)) {
        await waitFor(`peer ${other.index} to see the restarted peer`, async () =>
          (await fetchStatus(other.statusUrl!)).adverts.some(a => a.peerId === before.peerId && a.ts > killedAt))
      }
    } finally {
      await devnet.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('leaves no peer process behind when the devnet itself is SIGKILLed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'openledger-orphans-'))
    const child = spawnCli(['devnet', '--peers', '2', '--dir', dir, '--json', '--bench-size', '64'])
    try {
      const pids = await new Promise<number[]>((resolve, reject) => {
        child.once('exit', () => reject(new Error('devnet exited early')))
        createInterface({ input: child.stdout! }).on('line', (line) => {
          const msg = JSON.parse(line)
          if (msg.peers?.every((p: any) => p.pid != null && p.error == null)) resolve(msg.peers.map((p: any) => p.pid))
        })
      })
      assert.equal(pids.length, 2)
      assert.ok(pids.every(isAlive))
      const chains = (): string[] => processesMentioning(dir).map(p => p.cmd).filter(cmd => cmd.includes('anvil'))
      assert.equal(chains().length > 0, true, 'the devnet runs its chain')
      child.kill('SIGKILL')
      await waitFor('every peer process to exit', () => pids.every(pid => !isAlive(pid)), 20_000)
      await waitFor('the devnet\'s anvil to exit', () => chains().length === 0, 20_000)
    } finally {
      if (child.exitCode == null) child.kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('gives the passphrase to no child through the environment: peers read it on stdin, anvil and nvidia-smi never see it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'openledger-passenv-'))
    // A stand-in nvidia-smi first on PATH: each peer runs it at start-up, and it writes down the environment it got.
    const bin = join(dir, 'bin')
    const dumps = join(dir, 'dumps')
    await mkdir(bin)
    await mkdir(dumps)
    await writeFile(join(bin, 'nvidia-smi'), `#!/bin/sh\nenv > "${dumps}/$$.env"\nexit 1\n`, { mode: 0o755 })
    const secret = 'devnet secret ' + Math.random()
    const net = join(dir, 'net')
    const child = spawnCli(['devnet', '--peers', '2', '--dir', net, '--json', '--bench-size', '64'], { OPENLEDGER_PASSPHRASE: secret, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` })
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('exit', () => reject(new Error('devnet exited early')))
        createInterface({ input: child.stdout! }).on('line', (line) => {
          if (JSON.parse(line).peers?.every((p: any) => p.pid != null && p.error == null)) resolve()
        })
      })
      // Every process of this devnet but the devnet command itself: the peers, anvil and its guard.
      const children = processesMentioning(net).filter(p => p.pid !== child.pid)
      assert.ok(children.filter(p => p.cmd.includes('node start')).length === 2 && children.some(p => p.cmd.includes('anvil')), children.map(p => p.cmd).join('\n'))
      for (const p of children) {
        const environ = readFileSync(`/proc/${p.pid}/environ`, 'utf8').split('\0')
        assert.ok(environ.some(v => v.startsWith('PATH=')), 'an environment was read')
        assert.ok(!environ.some(v => v.startsWith('OPENLEDGER_PASSPHRASE=') || v.includes(secret)), `${p.cmd} has the passphrase in its environment`)
      }
      const seen = await readdir(dumps)
      assert.ok(seen.length >= 2, `nvidia-smi ran ${seen.length} times`)
      for (const f of seen) assert.ok(!(await readFile(join(dumps, f), 'utf8')).includes(secret), 'nvidia-smi got the passphrase')
      // The peers came up, so they had it: on stdin. It is the one the keys were made with.
      for (const peer of ['peer-0', 'peer-1']) assert.match((await loadKeystore(join(net, peer), secret)).address, /^0x/)
    } finally {
      child.kill('SIGTERM')
      await new Promise(resolve => child.exitCode != null ? resolve(null) : child.once('exit', resolve))
      await waitFor('the devnet\'s processes to exit', () => processesMentioning(net).length === 0, 20_000)
      await rm(dir, { recursive: true, force: true })
    }
  })
})

/** Running processes whose command line mentions `text` (from /proc). */
function processesMentioning (text: string): Array<{ pid: number, cmd: string }> {
  const out: Array<{ pid: number, cmd: string }> = []
  for (const pid of readdirSync('/proc').filter(p => /^[0-9]+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
      if (cmd.includes(text)) out.push({ pid: Number(pid), cmd })
    } catch {}
  }
  return out
}
