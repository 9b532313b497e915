// `infer --explain`: the answer of an adapter credited to the datanet contributions its
// text copies. The explainer alone, over SOTU addresses and a fake datanet (a copied
// stretch goes to its contribution; caching, the size cap, media types, first adder
// wins); then on a devnet of 2 real peer processes, against `datanet show`.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { decodeModel, encodeModel } from '../compute/models/artifacts.ts'
import { EOT_ID, PAD_ID, Tokenizer } from '../compute/tokenizer/index.ts'
import { writeFileAtomic } from '../storage/atomic-file.ts'
import { sotuContributors } from '../storage/corpora/sotu.ts'
import { importFile } from '../storage/unixfs/index.ts'
import { Devnet } from '../peer/devnet/devnet.ts'
import { buildBase } from '../peer/models/recipes.ts'
import { buildExplainIndex, explainTokens, Explainer, ExplainTooLargeError, type ExplainDatanets, type ExplainFile } from '../peer/attribution/explain.ts'
import { devnetCli, runCli } from './helpers/cli.ts'
import { expectRejects } from './helpers/expect-throws.ts'
import { SOTU_LM, SPAM_BASE } from './helpers/fixtures.ts'
import { waitFor } from './helpers/wait.ts'

const sum = (e: { shares: Array<{ share: number }>, otherShare: number, baseShare: number }): number =>
  e.shares.reduce((s, x) => s + x.share, 0) + e.otherShare + e.baseShare

describe('the explainer', function () {
  this.timeout(60_000)
  let tokenizer: Tokenizer
  let files: ExplainFile[]

  before(() => {
    tokenizer = Tokenizer.fromJSON((decodeModel(new Uint8Array(readFileSync(SOTU_LM))).meta as { tokenizer: unknown }).tokenizer)
    // Six presidents, one contribution each, one file per address: a datanet's shape.
    files = sotuContributors({ limit: 6 }).flatMap((c, i) => c.items.map(a => ({ contribution: `contribution-${i}`, contributor: `0x${String(i).repeat(40)}`, path: a.name, documents: [a.text] })))
  })

  it('credits a stretch copied from one address to that address\'s contribution', async () => {
    const ix = await buildExplainIndex(files, tokenizer)
    assert.equal(ix.stats.files, files.length)
    assert.equal(ix.stats.contributions, 6)
    const source = files[7]
    const copied = Array.from(tokenizer.encode(source.documents[0]).subarray(300, 360))
    const e = explainTokens(ix, tokenizer, [...copied, tokenizer.eot])
    assert.equal(e.answerTokens, 60, 'the end-of-text token is not part of the answer')
    assert.equal(e.shares[0].contribution, source.contribution)
    assert.equal(e.shares[0].contributor, source.contributor)
    assert.ok(e.shares[0].share > 0.9, `share ${e.shares[0].share}`)
    assert.ok(e.shares[0].files.includes(source.path), e.shares[0].files.join())
    assert.ok(Math.abs(sum(e) - 1) < 1e-9)
    assert.equal(e.spans[0].text, tokenizer.decode(copied.slice(e.spans[0].start, e.spans[0].start + e.spans[0].length)))
    assert.ok(e.spans[0].length >= 50, `longest span ${e.spans[0].length}`)
  })

  it('splits an answer copying two contributions between them, and gives made-up text to the base', async () => {
    const ix = await buildExplainIndex(files, tokenizer)
    const a = files.find(f => f.contribution === 'contribution-1')!
    const b = files.find(f => f.contribution === 'contribution-4')!
    const fromA = Array.from(tokenizer.encode(a.documents[0]).subarray(200, 230))
    const fromB = Array.from(tokenizer.encode(b.documents[0]).subarray(400, 430))
    const noise = Array.from(tokenizer.encode(' zqxv wub flarn glorp snizzle wimbleton quax'))
    const e = explainTokens(ix, tokenizer, [...fromA, ...noise, ...fromB])
    const shareOf = (c: string): number => e.shares.find(s => s.contribution === c)?.share ?? 0
    const n = e.answerTokens
    assert.ok(shareOf(a.contribution) > 0.8 * 30 / n && shareOf(b.contribution) > 0.8 * 30 / n, JSON.stringify(e.shares))
    assert.ok(e.baseShare > 0, 'the made-up words are the base model\'s')
    assert.ok(Math.abs(sum(e) - 1) < 1e-9)
    assert.ok(e.spans.length >= 2 && e.spans[0].length >= e.spans[1].length, 'spans come longest first')

    const top1 = explainTokens(ix, tokenizer, [...fromA, ...noise, ...fromB], { top: 1 })
    assert.equal(top1.shares.length, 1)
    assert.ok(top1.otherShare > 0)
    assert.ok(Math.abs(sum(top1) - 1) < 1e-9, 'what is not listed is in otherShare')
    const nothing = explainTokens(ix, tokenizer, [tokenizer.eot])
    assert.equal(nothing.answerTokens, 0)
    assert.equal(nothing.baseShare, 1)
  })

  describe('on a datanet', () => {
    const encoder = new TextEncoder()
    const cidOf = async (bytes: Uint8Array): Promise<CID> => (await importFile({ put: async (c: CID) => c } as never, bytes)).cid
    let datanets: ExplainDatanets & { reads: number }
    let entryA: string
    let entryB: string

    before(async () => {
      const addresses = sotuContributors({ limit: 2 })
      const blobs = new Map<string, Uint8Array>()
      const file = async (path: string, mediaType: string, body: string) => {
        const bytes = encoder.encode(body)
        const cid = await cidOf(bytes)
        blobs.set(cid.toString(), bytes)
        return { cid, path, size: bytes.byteLength, mediaType }
      }
      const a = await file('washington.txt', 'text/plain', addresses[0].items[0].text)
      const lines = await file('adams.jsonl', 'application/jsonl', addresses[1].items.map(x => JSON.stringify({ text: x.text })).join('\n'))
      const png = await file('chart.png', 'image/png', '\x89PNG')
      const cidA = await cidOf(encoder.encode('entry A'))
      const cidB = await cidOf(encoder.encode('entry B'))
      entryA = cidA.toString()
      entryB = cidB.toString()
      const log = {
        ordered: () => [
          { cid: cidA, entry: { payload: { kind: 'contribution', contributor: '0xaaaa', files: [a, png] } } },
          // B contributes Washington's address again: the first adder keeps it.
          { cid: cidB, entry: { payload: { kind: 'contribution', contributor: '0xbbbb', files: [lines, a] } } }
        ]
      }
      datanets = {
        reads: 0,
        atVersion: async (spec: string) => ({ id: spec.split('@')[0], name: 'fake', version: spec.split('@')[1], log: log as never }),
        readShards: async (cids: CID[], opts: { maxBytes: number }) => {
          datanets.reads++
          const out = cids.map(c => blobs.get(c.toString())!)
          assert.ok(out.reduce((s, b) => s + b.byteLength, 0) <= opts.maxBytes)
          return out
        }
      }
    })

    it('indexes every file once per version, first adder wins, JSON lines one document each, no text skipped', async () => {
      const explainer = new Explainer({ datanets })
      const [x, y] = await Promise.all([
        explainer.index({ id: 'd', version: 'v1' }, 'base', tokenizer),
        explainer.index({ id: 'd', version: 'v1' }, 'base', tokenizer)
      ])
      assert.equal(explainer.stats().builds, 1, 'concurrent requests share one build')
      assert.equal(x.index, y.index)
      const { stats } = x.index
      assert.equal(stats.files, 2)
      assert.equal(stats.skipped, 1, 'the PNG')
      assert.equal(stats.documents, 1 + sotuContributors({ limit: 2 })[1].items.length)

      const washington = Array.from(tokenizer.encode(sotuContributors({ limit: 1 })[0].items[0].text).subarray(100, 140))
      const e = await explainer.explain({ datanet: { id: 'd', version: 'v1' }, tokenizerKey: 'base', tokenizer, answer: washington })
      assert.equal(e.cached, true)
      assert.equal(e.shares[0].contribution, entryA)
      assert.equal(e.shares[0].contributor, '0xaaaa')
      assert.ok(e.shares[0].share > 0.9)
      assert.ok(!e.shares.some(s => s.contribution === entryB), 'a re-upload earns nothing')
      assert.deepEqual(e.shares[0].files, ['washington.txt'])

      // Two indexes are kept: a third version evicts the least recently used.
      await explainer.index({ id: 'd', version: 'v2' }, 'base', tokenizer)
      await explainer.index({ id: 'd', version: 'v1' }, 'base', tokenizer)
      await explainer.index({ id: 'd', version: 'v3' }, 'base', tokenizer)
      assert.equal(explainer.stats().builds, 3)
      assert.equal((await explainer.index({ id: 'd', version: 'v1' }, 'base', tokenizer)).cached, true)
      assert.equal((await explainer.index({ id: 'd', version: 'v2' }, 'base', tokenizer)).cached, false)
      assert.equal(explainer.stats().indexes, 2)
    })

    it('refuses a version over the size cap before reading its files', async () => {
      const reads = datanets.reads
      const explainer = new Explainer({ datanets, maxBytes: 1000 })
      const err = await expectRejects(explainer.index({ id: 'd', version: 'v1' }, 'base', tokenizer), ExplainTooLargeError)
      assert.equal(err.exitCode, 2)
      assert.match(err.message, /at most 1000/)
      assert.equal(datanets.reads, reads)
      assert.equal(explainer.stats().indexes, 0, 'a failed build is not kept')
    })
  })
})

describe('infer --explain on a 2-peer devnet', function () {
  this.timeout(300_000)
  let dir: string
  let devnet: Devnet
  let adapter: any

  const cli = devnetCli(() => devnet.peers, 120_000)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-explain-'))
    const modelFile = join(dir, 'tiny-lm.safetensors')
    await writeFileAtomic(modelFile, encodeModel(await buildBase('sotu-lm', { tiny: true, steps: 300, threads: 2 })))
    devnet = new Devnet({ dir: join(dir, 'devnet'), peers: 2, advertIntervalMs: 1_000, benchSize: 64 })
    await devnet.start()
    const imported = await cli(0, ['datanet', 'import', 'sotu', '--limit', '6'])
    await cli(1, ['datanet', 'follow', imported.datanet])
    await waitFor('peer 1 to follow sotu', async () => (await cli(1, ['datanet', 'list'])).datanets.some((d: any) => d.id === imported.datanet), 60_000, 500)
    await cli(1, ['model', 'add', modelFile, '--name', 'tiny-lm'])
    adapter = await cli(1, ['train', '--datanet', `sotu@${imported.version}`, '--base', 'tiny-lm', '--steps', '60', '--seq', '32', '--batch', '8'])
  })
  after(async () => {
    await devnet?.stop()
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('credits the answer to the datanet\'s contributions and the base model, shares summing to 1', async () => {
    const prompt = 'Fellow-Citizens of the Senate and House of Representatives:'
    const r = await cli(1, ['infer', '--adapter', adapter.adapter, prompt, '--max-tokens', '24', '--explain'])
    assert.equal(r.kind, 'lm')
    const e = r.explanation
    assert.equal(e.datanet, adapter.datanet)
    assert.equal(e.version, adapter.version)
    assert.equal(e.answerTokens, r.tokens.filter((t: number) => t !== EOT_ID && t !== PAD_ID).length, 'the generated tokens, not the prompt')
    assert.ok(Math.abs(sum(e) - 1) < 1e-6, `shares sum to ${sum(e)}`)
    assert.ok(e.baseShare >= 0 && e.baseShare <= 1)
    assert.equal(e.cached, false)
    assert.ok(e.index.files >= 6 && e.index.tokens > 1000, JSON.stringify(e.index))

    const show = await cli(1, ['datanet', 'show', 'sotu'])
    const contributions = new Map<string, string>(show.contributions.map((c: any) => [c.cid, c.contributor]))
    const contributors = new Set(show.contributors.map((c: any) => c.address))
    for (const s of e.shares) {
      assert.ok(contributions.has(s.contribution), `${s.contribution} is one of the datanet's contributions`)
      assert.equal(s.contributor, contributions.get(s.contribution))
      assert.ok(contributors.has(s.contributor))
      assert.ok(s.share > 0 && s.longest >= 4 && s.spans >= 1)
    }
    for (const s of e.spans) assert.ok(s.contributions.every((c: string) => contributions.has(c)))

    // The same question again: the index is in memory, the answer and its credit the same.
    const again = await cli(1, ['infer', '--adapter', adapter.adapter, prompt, '--max-tokens', '24', '--explain'])
    assert.equal(again.explanation.cached, true)
    assert.deepEqual(again.explanation.shares, e.shares)
    assert.equal(again.explanation.baseShare, e.baseShare)

    // For people: the answer, then a table ending with the base model's share.
    const human = await runCli(['infer', '--adapter', adapter.adapter, prompt, '--max-tokens', '24', '--explain', '-d', devnet.peers[1].dataDir])
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /contributor\s+contribution\s+share\s+longest span/)
    assert.match(human.stdout, new RegExp(`base model\\s+${(e.baseShare * 100).toFixed(1)}%`))
  })

  it('explains on a peer that fetches adapter and base from the swarm', async () => {
    const r = await cli(0, ['infer', '--adapter', adapter.adapter, 'The state of the Union', '--max-tokens', '16', '--explain'])
    assert.ok(Math.abs(sum(r.explanation) - 1) < 1e-6)
    assert.equal(r.explanation.version, adapter.version)
  })

  it('refuses to explain a base model alone or a classifier, with usage errors', async () => {
    const r = await cli(1, ['infer', '--base', 'tiny-lm', 'Fellow citizens', '--explain'], false)
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /no datanet/)
    await cli(1, ['model', 'add', SPAM_BASE])
    const classifier = await cli(1, ['infer', '--base', 'spam-base', 'Subject: cheap pills', '--explain'], false)
    assert.equal(classifier.code, 2, classifier.stderr)
    assert.match(classifier.stderr, /classifier/)
  })
})
