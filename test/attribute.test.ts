// Proof of Attribution on a devnet of real peer processes: a SpamAssassin datanet
// imported on one peer, a classifier adapter trained on another with the shipped
// spam-base, then `openledger attribute` there: scores per contribution, payout
// weights that sum to one, an SVG chart, and credits recorded in the datanet's credit
// map that every peer sees.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Devnet } from '../peer/devnet/devnet.ts'
import { devnetCli } from './helpers/cli.ts'
import { SPAM_BASE } from './helpers/fixtures.ts'
import { waitFor } from './helpers/wait.ts'

describe('openledger attribute on a 2-peer devnet', function () {
  this.timeout(300_000)
  let dir: string
  let devnet: Devnet
  let imported: any
  let trained: any

  const cli = devnetCli(() => devnet.peers, 240_000)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-attribute-'))
    devnet = new Devnet({ dir: join(dir, 'devnet'), peers: 2, advertIntervalMs: 1_000, benchSize: 64 })
    await devnet.start()
    imported = await cli(0, ['datanet', 'import', 'spam-assassin', '--limit', '1500'])
    await cli(1, ['datanet', 'follow', imported.datanet])
    await waitFor('peer 1 to follow the datanet', async () => (await cli(1, ['datanet', 'list'])).datanets.some((d: any) => d.id === imported.datanet), 60_000, 500)
    await cli(1, ['model', 'add', SPAM_BASE])
    trained = await cli(1, ['train', '--datanet', `spam-assassin@${imported.version}`, '--base', 'spam-base', '--steps', '100', '--batch', '32'])
  })
  after(async () => {
    await devnet?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('scores every contribution, pays through the shared policy, draws the chart and records the credits', async () => {
    assert.ok(trained.after.accuracy > 0.8, `held-out accuracy ${trained.after.accuracy}`)
    const svg = join(dir, 'influence.svg')
    const r = await cli(1, ['attribute', '--adapter', trained.adapter, '--datanet', `spam-assassin@${imported.version}`, '--svg', svg])
    assert.equal(r.cycle, trained.cycle)
    assert.ok(r.contributions.length >= 5, `${r.contributions.length} contributions`)
    assert.equal(r.contributions.reduce((s: number, c: any) => s + c.examples, 0), trained.files.train)
    const paid = r.contributors.reduce((s: number, c: any) => s + c.weight, 0)
    assert.ok(Math.abs(paid - 1) < 1e-9, `weights sum to ${paid}`)
    for (const c of r.contributions) if (c.paidInfluence <= 0) assert.equal(c.weight, 0, 'harmful contributions earn nothing')
    // Per file: the fit gate and the zero floor act on each file, never on a group of
    // them, so a contribution is paid its helpful fitted files' sum, in proportion.
    const paidTotal = r.contributions.reduce((s: number, c: any) => s + c.paidInfluence, 0)
    for (const c of r.contributions) {
      assert.equal(c.unfit, c.unfitFiles === c.files)
      if (c.unfit === true) assert.equal(c.paidInfluence, 0, 'data the adapter could not fit earns nothing')
      else if (c.unfitFiles === 0 && r.nearDuplicateExamples === 0) assert.ok(c.paidInfluence >= Math.max(0, c.tracin) - 1e-12, 'per file, helpful files are not netted against harmful ones')
      assert.ok(Math.abs(c.weight - c.paidInfluence / paidTotal) < 1e-9, 'weights in proportion to paid influence (no cap)')
    }
    assert.ok(r.contributions.some((c: any) => c.tracin > 0))
    assert.equal(r.verification.sample.length, 16)
    assert.equal(r.verification.checkpoints.length, 2)
    const chart = await readFile(svg, 'utf8')
    assert.match(chart, /^<svg /)
    assert.equal((chart.match(/<rect x=/g) ?? []).length, r.contributors.length)

    // The credit map, on the other peer too.
    const top = r.contributors.find((c: any) => c.weight > 0)
    const seen = await waitFor('the attribution to reach peer 0', async () => {
      const c = await cli(0, ['datanet', 'show', 'spam-assassin', '--contributor', top.address])
      const credit = c.contributions.flatMap((k: any) => k.credits).find((x: any) => x.cycle === trained.cycle)
      return credit != null ? c : undefined
    }, 60_000, 500)
    assert.ok(Math.abs(seen.creditWeight - top.weight) < 1e-9)
  })

  it('a verifier recomputes the sampled scores: an honest result passes, a doctored one yields evidence', async () => {
    const result = await cli(1, ['attribute', '--adapter', trained.adapter])
    const honest = join(dir, 'honest.json')
    await writeFile(honest, JSON.stringify(result))
    const ok = await cli(1, ['attribute', '--adapter', trained.adapter, '--verify', honest])
    assert.equal(ok.ok, true)
    assert.equal(ok.checked, 16)
    const doctored = structuredClone(result)
    doctored.verification.sample[3].tracin *= 1.5
    const forged = join(dir, 'forged.json')
    await writeFile(forged, JSON.stringify(doctored))
    const bad = await cli(1, ['attribute', '--adapter', trained.adapter, '--verify', forged], false)
    assert.equal(bad.code, 1, bad.stderr)
    const v = JSON.parse(bad.stdout.trim().split('\n').at(-1)!)
    assert.equal(v.ok, false)
    assert.equal(v.evidence.mismatches.length, 1)
    assert.equal(v.evidence.mismatches[0].example, result.verification.sample[3].example)
    assert.equal(v.evidence.checkpoints.length, result.verification.checkpoints.length)
    assert.ok(v.evidence.mismatches[0].file.startsWith('Qm'))
  })

  it('refuses an adapter this peer did not train, and a datanet version it was not trained on', async () => {
    const other = await cli(0, ['attribute', '--adapter', trained.adapter], false)
    assert.equal(other.code, 2, other.stderr)
    assert.match(other.stderr, /did not train/)
    const wrong = await cli(1, ['attribute', '--adapter', trained.adapter, '--datanet', 'spam-assassin'], false)
    assert.equal(wrong.code, 2, wrong.stderr)
    assert.match(wrong.stderr, /not trained on that datanet version/)
    const junk = await cli(1, ['attribute', '--adapter', trained.adapter, '--datanet', 'spam-assassin@bafyreinotaversion'], false)
    assert.equal(junk.code, 2, junk.stderr)
  })
})
