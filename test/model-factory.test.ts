// ModelFactory and OpenLoRA on a devnet of real peer processes: a real corpus datanet
// on one peer, a base model added on another, `openledger train` there (shards pulled
// over the swarm), `openledger infer` on the adapter, on that peer and on one that has
// to fetch adapter and base from the swarm; a training job killed with -9 resumes from
// its checkpoints to the same adapter an uninterrupted run gives.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeModel } from '../compute/models/artifacts.ts'
import { writeFileAtomic } from '../storage/atomic-file.ts'
import { Devnet } from '../peer/devnet/devnet.ts'
import { buildBase } from '../peer/models/recipes.ts'
import { devnetCli, spawnCli } from './helpers/cli.ts'
import { waitFor } from './helpers/wait.ts'

describe('ModelFactory and OpenLoRA on a 3-peer devnet', function () {
  this.timeout(600_000)
  let dir: string
  let devnet: Devnet
  let modelFile: string
  let adapter: any
  let version: string

  const cli = devnetCli(() => devnet.peers, 300_000)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-model-factory-'))
    modelFile = join(dir, 'tiny-lm.safetensors')
    await writeFileAtomic(modelFile, encodeModel(await buildBase('sotu-lm', { tiny: true, steps: 300, threads: 2 })))
    devnet = new Devnet({ dir: join(dir, 'devnet'), peers: 3, advertIntervalMs: 1_000, benchSize: 64 })
    await devnet.start()
  })
  after(async () => {
    await devnet?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('trains an adapter on one party\'s speeches from a datanet held by another peer, and lowers held-out perplexity', async () => {
    const imported = await cli(0, ['datanet', 'import', 'sotu', '--limit', '6'])
    version = imported.version
    await cli(1, ['datanet', 'follow', imported.datanet])
    await waitFor('peer 1 to follow sotu', async () => (await cli(1, ['datanet', 'list'])).datanets.some((d: any) => d.id === imported.datanet), 60_000, 500)
    const added = await cli(1, ['model', 'add', modelFile, '--name', 'tiny-lm'])
    assert.equal(added.kind, 'lm')
    assert.deepEqual(await cli(1, ['model', 'add', modelFile]), added, 'adding the same file again changes nothing')

    adapter = await cli(1, ['train', '--datanet', `sotu@${imported.version}`, '--base', 'tiny-lm', '--label', 'Democratic-Republican', '--steps', '200', '--seq', '32', '--batch', '8', '--lr', '0.02'])
    assert.equal(adapter.version, imported.version)
    assert.ok(adapter.files.train > 0 && adapter.files.heldOut > 0)
    assert.ok(adapter.after.perplexity < adapter.before.perplexity, `held-out perplexity ${adapter.before.perplexity} -> ${adapter.after.perplexity}`)
    assert.equal(adapter.checkpoints.length, 4) // every 50 steps
    const listed = await cli(1, ['model', 'list'])
    assert.ok(listed.adapters.some((a: any) => a.cid === adapter.adapter))

    // The training cycle is recorded in the datanet, and reaches the other peers.
    await waitFor('the training cycle to reach peer 0', async () => {
      const v = await cli(0, ['datanet', 'show', 'sotu'])
      return v.entries === imported.contributors.length + 2 ? v : undefined
    }, 60_000, 500)
  })

  it('answers prompts with the adapter, here and on a peer that fetches adapter and base from the swarm', async () => {
    const here = await cli(1, ['infer', '--adapter', adapter.adapter, 'Fellow citizens of the Senate', '--max-tokens', '12'])
    assert.equal(here.kind, 'lm')
    assert.ok(here.tokens.length >= 1 && here.tokens.length <= 12)
    const again = await cli(1, ['infer', '--adapter', adapter.adapter, 'Fellow citizens of the Senate', '--max-tokens', '12'])
    assert.deepEqual(again.tokens, here.tokens, 'greedy decoding is deterministic')
    const base = await cli(1, ['infer', '--base', 'tiny-lm', 'Fellow citizens of the Senate', '--max-tokens', '12'])
    assert.equal(base.adapter, null)

    const remote = await cli(2, ['infer', '--adapter', adapter.adapter, 'Fellow citizens of the Senate', '--max-tokens', '12'])
    assert.deepEqual(remote.tokens, here.tokens, 'the same adapter on another peer gives the same answer')
    const served = await cli(2, ['serve'])
    assert.equal(served.adapters.misses, 1)

    const bad = await cli(1, ['infer', '--adapter', 'QmNotACid', 'x'], false)
    assert.notEqual(bad.code, 0)
    const tooLong = await cli(1, ['infer', '--adapter', adapter.adapter, 'word '.repeat(200), '--max-tokens', '12'], false)
    assert.equal(tooLong.code, 2, tooLong.stderr)
    assert.match(tooLong.stderr, /context/)
  })

  it('attributes the language-model adapter to the speeches it was trained on', async () => {
    const r = await cli(1, ['attribute', '--adapter', adapter.adapter, '--datanet', `sotu@${version}`])
    const view = await cli(1, ['datanet', 'show', 'sotu'])
    const entries = new Map(view.contributions.map((c: any) => [c.cid, c.contributor]))
    assert.ok(r.contributions.length >= 2)
    for (const c of r.contributions) assert.equal(entries.get(c.contribution), c.contributor, 'every scored contribution is one of the datanet\'s, with its own contributor')
    assert.ok(Math.abs(r.contributors.reduce((s: number, c: any) => s + c.weight, 0) - 1) < 1e-9)
    assert.ok(r.contributions.every((c: any) => Number.isFinite(c.tracin) && Number.isFinite(c.datainf)))

    // Attribution left gradient sketches: an explained answer now also says which
    // contributions it resembles in gradient space.
    const answer = await cli(1, ['infer', '--adapter', adapter.adapter, 'Fellow citizens of the Senate', '--max-tokens', '12', '--explain'])
    const g = answer.explanation.gradient
    assert.equal(g.method, 'countsketch-cosine')
    const total = g.shares.reduce((s: number, x: any) => s + x.share, 0) + g.baseShare
    assert.ok(Math.abs(total - 1) < 1e-9 || g.shares.length === 20, `gradient shares and base sum to ${total}`)
    assert.ok(g.baseShare >= 0 && g.baseShare <= 1)
    for (const x of g.shares) assert.equal(entries.get(x.contribution), x.contributor)
    // On a peer that did not attribute it, the gradient part says why it is missing.
    const elsewhere = await cli(2, ['infer', '--adapter', adapter.adapter, 'Fellow citizens of the Senate', '--max-tokens', '12', '--explain'], false)
    if (elsewhere.code === 0) assert.match(JSON.parse(elsewhere.stdout.trim().split('\n').at(-1)).explanation.gradient.unavailable, /not trained on this peer/)
  })

  it('a training job killed with -9 resumes from its last checkpoint to the same adapter', async () => {
    // The version is named: training cycles recorded meanwhile add entries to the datanet.
    const args = ['train', '--datanet', `sotu@${version}`, '--base', 'tiny-lm', '--steps', '400', '--seq', '32', '--batch', '8', '--seed', '7']
    await cli(2, ['model', 'add', modelFile, '--name', 'tiny-lm'])
    const reference = await cli(2, args)
    assert.equal(reference.resumedFrom, 0)

    const victim = devnet.peers[1]
    const jobs = join(victim.dataDir, 'jobs')
    const earlier = new Set(existsSync(jobs) ? await readdir(jobs) : [])
    const child = spawnCli([...args, '--json', '-d', victim.dataDir])
    child.stdout!.resume(); child.stderr!.resume()
    await waitFor('a checkpoint of the job on disk', async () => {
      if (!existsSync(jobs)) return undefined
      for (const job of (await readdir(jobs)).filter(j => !earlier.has(j))) {
        const files = await readdir(join(jobs, job))
        if (files.includes('ckpt-100.safetensors') && !files.includes('ckpt-400.safetensors')) return true
      }
      return undefined
    }, 120_000, 20)
    await devnet.kill(victim)
    child.kill('SIGKILL')
    await devnet.startPeer(victim)
    const resumed = await cli(1, args)
    assert.ok(resumed.resumedFrom >= 100 && resumed.resumedFrom < 400, `resumed from ${resumed.resumedFrom}`)
    assert.equal(resumed.adapter, reference.adapter, 'same CID: bit-identical adapter')
    assert.deepEqual(resumed.checkpoints, reference.checkpoints)
  })

  it('refuses bad requests with clear errors', async () => {
    const noBase = await cli(1, ['train', '--datanet', 'sotu', '--base', 'no-such-model'], false)
    assert.equal(noBase.code, 3, noBase.stderr)
    const noData = await cli(1, ['train', '--datanet', 'sotu', '--base', 'tiny-lm', '--label', 'Whig'], false)
    assert.equal(noData.code, 2, noData.stderr)
    const badVersion = await cli(1, ['train', '--datanet', 'sotu@nonsense', '--base', 'tiny-lm'], false)
    assert.equal(badVersion.code, 2, badVersion.stderr)
    const notAModel = join(dir, 'junk.safetensors')
    await writeFileAtomic(notAModel, new Uint8Array(100))
    const junk = await cli(1, ['model', 'add', notAModel], false)
    assert.equal(junk.code, 2, junk.stderr)
    assert.match(junk.stderr, /truncated|header|Malformed|metadata/i)
  })
})
