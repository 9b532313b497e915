// Datanets across a 4-peer devnet of real processes on loopback, each with its own
// Helia blockstore on disk, driven through the CLI as a contributor would.
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Devnet } from '../peer/devnet/devnet.ts'
import { runCli } from './helpers/cli.ts'
import { waitFor } from './helpers/wait.ts'

describe('datanets on a 4-peer devnet', function () {
  this.timeout(300_000)
  let dir: string
  let devnet: Devnet
  let datanetId: string

  const cli = async (peer: number, args: string[]): Promise<any> => {
    const r = await runCli([...args, '--json', '-d', devnet.peers[peer].dataDir])
    assert.equal(r.code, 0, `peer ${peer}: openledger ${args.join(' ')}\n${r.stderr}`)
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!)
  }
  const show = async (peer: number, target = 'notes'): Promise<any> => await cli(peer, ['datanet', 'show', target])
  const list = async (peer: number): Promise<any[]> => (await cli(peer, ['datanet', 'list'])).datanets
  const live = (): number[] => devnet.peers.filter(p => p.exitCode === undefined).map(p => p.index)

  async function converged (what: string): Promise<any[]> {
    return await waitFor(what, async () => {
      const lists = await Promise.all(live().map(async i => (await list(i)).find(d => d.id === datanetId)))
      if (lists.some(l => l == null)) return undefined
      const heads = lists.map(l => l.heads.join(','))
      return heads.every(h => h === heads[0]) ? lists : undefined
    }, 60_000, 500)
  }

  async function fullyReplicated (peer: number): Promise<any> {
    return await waitFor('every shard on 3 live peers', async () => {
      const v = await show(peer)
      const alive = new Set(live().map(i => devnet.peers[i].peerId))
      return v.replication.shards.every((s: any) => s.holders.filter((h: string) => alive.has(h)).length >= 3) ? v : undefined
    }, 120_000, 1_000)
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-datanet-swarm-'))
    devnet = new Devnet({ dir: join(dir, 'devnet'), peers: 4, advertIntervalMs: 1_000, benchSize: 64 })
    await devnet.start()
  })
  after(async () => {
    await devnet?.stop()
    if (process.env.KEEP == null) await rm(dir, { recursive: true, force: true })
    else console.log(`kept ${dir}`)
  })

  async function inputs (name: string, files: Record<string, Uint8Array | string>): Promise<string> {
    const root = join(dir, name)
    for (const [path, data] of Object.entries(files)) {
      await mkdir(join(root, path, '..'), { recursive: true })
      await writeFile(join(root, path), data)
    }
    return root
  }

  it('create and contribute on one peer; every peer told to follow it gets it; shards reach 3 holders', async () => {
    const created = await cli(0, ['datanet', 'create', 'notes', '--license', 'CC-BY-4.0', '--description', 'test notes'])
    datanetId = created.id
    const big = randomBytes(900_000).toString('base64') // ~1.2 MB of text: a multi-block DAG
    const folder = await inputs('first', { 'a.md': '# hello\n', 'deep/b.csv': 'x,y\n1,2\n', 'big.txt': big })
    const result = await cli(0, ['datanet', 'contribute', 'notes', folder])
    assert.equal(result.files, 3)
    // A peer follows only what it chose: the others are told to (after the contribution: they catch up).
    for (const p of [1, 2, 3]) {
      const followed = await cli(p, ['datanet', 'follow', datanetId])
      assert.equal(followed.pending, false)
      assert.deepEqual(followed.follow, ['follow'])
    }
    const lists = await converged('all peers to hold the datanet')
    assert.equal(lists[0].entries, 2)
    const view = await fullyReplicated(3)
    assert.equal(view.version, result.version)
    assert.equal(view.contributors.length, 1)
    assert.equal(view.totals.files, 3)
  })

  it('two peers contributing at once end with identical heads everywhere', async () => {
    const one = await inputs('one', { 'one.txt': 'from peer one\n'.repeat(50) })
    const two = await inputs('two', { 'two.txt': 'from peer two\n'.repeat(50) })
    await Promise.all([cli(1, ['datanet', 'contribute', 'notes', one]), cli(2, ['datanet', 'contribute', 'notes', two])])
    const lists = await converged('heads to converge after concurrent appends')
    assert.equal(lists[0].entries, 4)
    const views = await Promise.all(live().map(async i => await show(i)))
    assert.ok(views.every(v => v.version === views[0].version))
    assert.equal(views[0].contributors.length, 3)
  })

  it('with one holder killed, another peer still fetches everything, and replication returns to 3', async () => {
    const view = await fullyReplicated(0)
    const bigShard = view.replication.shards.find((s: any) => s.path.endsWith('big.txt'))
    // Kill a holder of the big file other than peer 0 (the bootstrap) and the fetcher.
    const victim = devnet.peers.find(p => p.index !== 0 && p.index !== 3 && bigShard.holders.includes(p.peerId))!
    const pinnedBefore = view.replication.shards.filter((s: any) => s.holders.includes(victim.peerId)).map((s: any) => s.cid).sort()
    await devnet.kill(victim)
    const out = join(dir, 'fetched')
    const fetched = await cli(3, ['datanet', 'get', 'notes', '--out', out])
    assert.equal(fetched.files, 5)
    assert.equal(await readFile(join(out, 'first', 'big.txt'), 'utf8'), await readFile(join(dir, 'first', 'big.txt'), 'utf8'))
    assert.equal(await readFile(join(out, 'two', 'two.txt'), 'utf8'), 'from peer two\n'.repeat(50))
    await fullyReplicated(3)

    // Restarted on its folder, the victim still holds and serves what it had pinned.
    await devnet.startPeer(victim)
    const again = await waitFor('the restarted peer to report its pins', async () => {
      const v = await show(victim.index)
      const mine = v.replication.shards.filter((s: any) => s.holders.includes(victim.peerId)).map((s: any) => s.cid).sort()
      return mine.length >= pinnedBefore.length ? mine : undefined
    }, 60_000, 1_000)
    for (const cid of pinnedBefore) assert.ok(again.includes(cid))
    const single = await cli(victim.index, ['datanet', 'get', bigShard.cid, '--out', join(dir, 'single')])
    assert.equal(single.files, 1)
  })

  it('imports a real corpus that a peer following it sees with its contributors; the others do not follow it', async () => {
    const imported = await cli(3, ['datanet', 'import', 'sotu', '--limit', '3'])
    assert.equal(imported.contributors.length, 3)
    await cli(1, ['datanet', 'follow', imported.datanet])
    const v = await waitFor('peer 1 to see the sotu datanet', async () => {
      try { return await show(1, imported.datanet) } catch { return undefined }
    }, 60_000, 1_000)
    assert.equal(v.name, 'sotu')
    assert.deepEqual(v.contributors.map((c: any) => c.address).sort(), imported.contributors.map((c: any) => c.address).sort())
    assert.ok(!(await list(2)).some(d => d.id === imported.datanet), 'peer 2 was not told to follow sotu')
  })
})
