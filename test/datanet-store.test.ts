// Datanets on a real blockstore on disk: contributions from files and folders, bad
// input refused before anything is stored, duplicates credited to the first
// contributor, near-duplicates flagged, state back after a restart, real corpora.
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { FsBlockstore } from 'blockstore-fs'
import { MemoryBlockstore } from 'blockstore-core'
import { CID } from 'multiformats/cid'
import { signerFromPrivateKey } from '../protocols/signer.ts'
import { corpusContributorSigner, importCorpus, AlreadyImportedError } from '../storage/datanet/corpus.ts'
import { ingest, planIngest, UnsupportedFileError, InputTooLargeError, EmptyInputError } from '../storage/datanet/ingest.ts'
import { DatanetStore, InvalidDatanetIdError, NotFollowedError, UnknownDatanetError } from '../storage/datanet/store.ts'
import { InvalidEntryLinkError } from '../storage/manifest/errors.ts'
import { readSotuAddresses } from '../storage/corpora/sotu.ts'
import { readFileBytes } from '../storage/unixfs/index.ts'
import { putDagCbor } from '../storage/blocks.ts'
import { signatureToBytes, textSignature } from '../storage/dedupe/minhash.ts'
import { addressOf } from '../storage/signing.ts'

const newSigner = () => signerFromPrivateKey(secp256k1.utils.randomSecretKey())

describe('datanet store', function () {
  this.timeout(120_000)
  let dir: string
  let blocks: FsBlockstore
  let store: DatanetStore
  const alice = newSigner()
  const bob = newSigner()

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-datanets-'))
    blocks = new FsBlockstore(join(dir, 'blocks'))
    await blocks.open()
    store = new DatanetStore({ dir: join(dir, 'datanets'), blockstore: blocks })
  })
  afterEach(async () => {
    await blocks.close()
    await rm(dir, { recursive: true, force: true })
  })

  async function files (sub: string, entries: Record<string, string>): Promise<string> {
    const root = join(dir, sub)
    for (const [name, text] of Object.entries(entries)) {
      await mkdir(join(root, name, '..'), { recursive: true })
      await writeFile(join(root, name), text)
    }
    return root
  }

  it('contributes a folder; the view credits contributors and flags duplicates and near-duplicates', async () => {
    const speeches = readSotuAddresses({ limit: 3 })
    const a = await files('a', { 'notes/one.md': speeches[0].text, 'two.txt': speeches[1].text, 'table.csv': 'x,y\n1,2\n' })
    const log = await store.create({ name: 'speeches', description: 'test', license: 'CC0-1.0' }, alice)
    await store.contribute(log.id, await ingest(blocks, await planIngest([a])), 'CC0-1.0', alice)

    // Bob contributes the same bytes as one of Alice's files, and a lightly edited copy of another.
    // (The edit drops one word in 37: 5-word shingles put such a copy under 0.8 similarity; the stored sketches use 3.)
    const edited = speeches[1].text.split(' ').filter((_, j) => j % 37 !== 5).join(' ')
    const b = await files('b', { 'copy.md': speeches[0].text, 'edited.txt': edited, 'new.txt': speeches[2].text })
    await store.contribute('speeches', await ingest(blocks, await planIngest([b])), 'CC0-1.0', bob)

    const view = await store.view('speeches')
    assert.equal(view.contributions.length, 2)
    assert.equal(view.totals.files, 6)
    assert.equal(view.totals.uniqueFiles, 5)
    const [first, second] = view.contributions
    assert.equal(first.contributor, addressOf(alice.publicKey))
    assert.deepEqual(first.files.map(f => f.path).sort(), ['a/notes/one.md', 'a/table.csv', 'a/two.txt'])
    const copy = second.files.find(f => f.path === 'b/copy.md')!
    assert.deepEqual(copy.duplicateOf, { contribution: first.cid, contributor: addressOf(alice.publicKey) })
    const near = second.files.find(f => f.path === 'b/edited.txt')!
    assert.equal(near.duplicateOf, undefined)
    assert.equal(near.nearDuplicateOf?.cid, first.files.find(f => f.path === 'a/two.txt')!.cid)
    assert.ok(near.nearDuplicateOf!.similarity > 0.8)
    assert.equal(second.files.find(f => f.path === 'b/new.txt')!.nearDuplicateOf, undefined)
    const bobView = view.contributors.find(c => c.address === addressOf(bob.publicKey))!
    assert.equal(bobView.duplicateFiles, 1)
    assert.equal(bobView.nearDuplicateFiles, 1)
    // The stored bytes come back exactly.
    assert.equal(new TextDecoder().decode(await readFileBytes(blocks, first.files.find(f => f.path === 'a/two.txt')!.cid)), speeches[1].text)

    // A new store on the same folder (a restarted peer) sees the same datanet.
    const again = new DatanetStore({ dir: join(dir, 'datanets'), blockstore: blocks })
    await again.load()
    assert.deepEqual(await again.view(log.id), view)
  })

  it('refuses unsupported, oversize, linked and empty input before storing anything', async () => {
    const bad = await files('bad', { 'ok.txt': 'fine', 'model.bin': 'binary' })
    await assert.rejects(planIngest([bad]), (err: Error) => err instanceof UnsupportedFileError && /\.bin/.test(err.message))
    const big = await files('big', { 'big.txt': 'x'.repeat(2000) })
    await assert.rejects(planIngest([big], { maxFileBytes: 1000, maxTotalBytes: 1e9, maxFiles: 10 }), InputTooLargeError)
    await symlink(join(big, 'big.txt'), join(dir, 'link.txt'))
    await assert.rejects(planIngest([join(dir, 'link.txt')]), UnsupportedFileError)
    await assert.rejects(planIngest([join(dir, 'missing')]), UnsupportedFileError)
    await mkdir(join(dir, 'empty'))
    await assert.rejects(planIngest([join(dir, 'empty')]), EmptyInputError)
    assert.deepEqual(await readdir(join(dir, 'blocks')).catch(() => []), [])
    await assert.rejects(async () => store.resolve('nope'), UnknownDatanetError)
  })

  it('keeps a credit map across training cycles, queryable per contributor', async () => {
    const log = await store.create({ name: 'credit', description: '', license: 'CC0-1.0' }, alice)
    const a = await files('ca', { 'a.txt': 'alpha text for the model' })
    const b = await files('cb', { 'b.txt': 'beta text for the model, different' })
    const [ea] = await store.contribute(log.id, await ingest(blocks, await planIngest([a])), 'CC0-1.0', alice)
    const [eb] = await store.contribute(log.id, await ingest(blocks, await planIngest([b])), 'CC0-1.0', bob)
    const v1 = await store.resolve(log.id).version()
    await store.recordCycle(log.id, { version: v1, model: 'tiny-lm', credits: [{ contribution: ea.cid, weight: 0.7 }, { contribution: eb.cid, weight: 0.3 }] }, alice)
    const v2 = await store.resolve(log.id).version()
    await store.recordCycle(log.id, { version: v2, model: 'tiny-lm', credits: [{ contribution: ea.cid, weight: 0.25 }, { contribution: eb.cid, weight: 0.75 }] }, bob)

    const again = new DatanetStore({ dir: join(dir, 'datanets'), blockstore: blocks })
    await again.load()
    const view = await again.view(log.id)
    assert.equal(view.cycles.length, 2)
    const alicePart = view.contributions.find(c => c.cid === ea.cid.toString())!
    assert.deepEqual(alicePart.credits.map(c => [c.version, c.weight]), [[v1.toString(), 0.7], [v2.toString(), 0.25]])
    assert.equal(view.contributors.find(c => c.address === addressOf(alice.publicKey))!.creditWeight, 0.95)
    assert.equal(view.contributors.find(c => c.address === addressOf(bob.publicKey))!.creditWeight, 1.05)
  })

  it('compares near-duplicate sketches only within one sketch version (old bare-list blocks still load)', async () => {
    const speech = readSotuAddresses({ limit: 1 })[0].text
    const copy = speech.split(' ').filter((_, j) => j % 53 !== 7).join(' ')
    const log = await store.create({ name: 'versions', description: '', license: 'CC0-1.0' }, alice)
    await store.contribute(log.id, await ingest(blocks, await planIngest([await files('v2a', { 'a.txt': speech })])), 'CC0-1.0', alice)
    // Entries as peers before the change wrote them: a bare list of 5-word-shingle signatures.
    const v1 = async (text: string, signer: typeof bob) => {
      const [[f]] = await ingest(blocks, await planIngest([await files(`v1-${Math.random()}`, { 'x.txt': text })]))
      const { cid } = await putDagCbor(blocks, [signatureToBytes(textSignature(text))])
      await store.resolve(log.id).append({ kind: 'contribution', contributor: addressOf(signer.publicKey), license: 'CC0-1.0', files: [f.file], sketches: cid }, signer)
    }
    await v1(copy, bob)
    let view = await store.view(log.id)
    assert.equal(view.contributions[1].files[0].nearDuplicateOf, undefined, 'a version-1 sketch is not compared with version-2 ones')
    await v1(copy + ' Thank you.', alice)
    view = await store.view(log.id)
    assert.ok((view.contributions[2].files[0].nearDuplicateOf?.similarity ?? 0) > 0.8, 'two version-1 sketches still compare')
  })

  it('attribution records credit a cycle after the fact; a newer one replaces the older', async () => {
    const log = await store.create({ name: 'attributed', description: '', license: 'CC0-1.0' }, alice)
    const [ea] = await store.contribute(log.id, await ingest(blocks, await planIngest([await files('aa', { 'a.txt': 'gamma text' })])), 'CC0-1.0', alice)
    const [eb] = await store.contribute(log.id, await ingest(blocks, await planIngest([await files('ab', { 'b.txt': 'delta text, other' })])), 'CC0-1.0', bob)
    const cycle = await store.recordCycle(log.id, { version: await store.resolve(log.id).version(), model: 'm', credits: [] }, bob)
    await store.recordAttribution(log.id, { cycle: cycle.cid, method: 'tracin', credits: [{ contribution: ea.cid, weight: 0.9, influence: 2 }, { contribution: eb.cid, weight: 0.1, influence: 0.2 }] }, bob)
    let view = await store.view(log.id)
    assert.equal(view.cycles[0].credits, 2)
    assert.equal(view.cycles[0].method, 'tracin')
    assert.deepEqual(view.contributions.find(c => c.cid === ea.cid.toString())!.credits.map(c => [c.weight, c.influence]), [[0.9, 2]])
    await store.recordAttribution(log.id, { cycle: cycle.cid, method: 'tracin', credits: [{ contribution: ea.cid, weight: 0.4, influence: 1 }, { contribution: eb.cid, weight: 0.6, influence: 1.5 }] }, alice)
    view = await store.view(log.id)
    assert.deepEqual(view.contributions.find(c => c.cid === ea.cid.toString())!.credits.map(c => c.weight), [0.4])
    assert.equal(view.contributors.find(c => c.address === addressOf(bob.publicKey))!.creditWeight, 0.6)
    // An attribution of a cycle this log does not hold credits nobody.
    await store.recordAttribution(log.id, { cycle: ea.cid, method: 'tracin', credits: [{ contribution: ea.cid, weight: 1, influence: 1 }] }, alice)
    assert.deepEqual((await store.view(log.id)).contributions.find(c => c.cid === ea.cid.toString())!.credits.map(c => c.weight), [0.4])
  })

  it('credit moves money only from entitled entries: a stranger\'s cycle or newer attribution earns nothing, weights bounded', async () => {
    const stranger = newSigner()
    const log = await store.create({ name: 'guarded', description: '', license: 'CC0-1.0' }, alice)
    const [ea] = await store.contribute(log.id, await ingest(blocks, await planIngest([await files('ga', { 'a.txt': 'honest text' })])), 'CC0-1.0', alice)
    const [es] = await store.contribute(log.id, await ingest(blocks, await planIngest([await files('gs', { 's.txt': 'stranger text' })])), 'CC0-1.0', stranger)
    const version = await store.resolve(log.id).version()
    // Unbounded and negative weights are refused at the door, on the author's side as on a receiver's.
    for (const weight of [1e300, -1, 1.5]) {
      await assert.rejects(store.recordCycle(log.id, { version, model: 'm', credits: [{ contribution: es.cid, weight }] }, stranger), { name: 'MalformedEntryError' })
    }
    const cycle = await store.recordCycle(log.id, { version, model: 'm', credits: [] }, bob)
    const honest = await store.recordAttribution(log.id, { cycle: cycle.cid, method: 'tracin', credits: [{ contribution: ea.cid, weight: 1, influence: 2 }] }, bob)
    // The stranger: a newer attribution of the honest cycle, and a cycle of its own, both crediting itself.
    await store.recordAttribution(log.id, { cycle: cycle.cid, method: 'tracin', credits: [{ contribution: es.cid, weight: 1, influence: 9 }] }, stranger)
    const own = await store.recordCycle(log.id, { version, model: 'm', credits: [{ contribution: es.cid, weight: 1 }] }, stranger)
    const entitled = { cycles: new Set([cycle.cid.toString()]), attributions: new Set([honest.cid.toString()]) }
    const paid = await store.view(log.id, { entitled })
    const weightOf = (v: typeof paid, who: { publicKey: Uint8Array }): number => v.contributors.find(c => c.address === addressOf(who.publicKey))!.creditWeight
    assert.equal(weightOf(paid, alice), 1)
    assert.equal(weightOf(paid, stranger), 0)
    assert.deepEqual(paid.cycles.map(c => [c.cid, c.entitled]), [[cycle.cid.toString(), true], [own.cid.toString(), false]])
    // Without an entitlement the view shows the manifest as written (the stranger's newest record on top).
    assert.equal(weightOf(await store.view(log.id), stranger), 2)
  })

  it('imports a real corpus with one signing contributor per president', async () => {
    // For sotu, the limit is a number of presidents (the earliest): Washington, Adams, Jefferson.
    const result = await importCorpus(store, blocks, 'sotu', alice, { limit: 3 })
    const view = await store.view('sotu')
    assert.deepEqual(result.contributors.map(c => c.id), ['george-washington', 'john-adams', 'thomas-jefferson'])
    assert.equal(view.totals.files, result.contributors.reduce((s, c) => s + c.files, 0))
    assert.ok(view.totals.files > 3)
    assert.equal(view.contributors.length, 3)
    for (const c of result.contributors) {
      // Each contribution is signed by its contributor's own (derived) key.
      assert.equal(c.address, corpusContributorSigner('sotu', c.id).address)
      assert.ok(view.contributions.some(v => v.contributor === c.address))
    }
    assert.notEqual(new Set(result.contributors.map(c => c.address)).size, 1)
    await assert.rejects(importCorpus(store, blocks, 'sotu', alice, { limit: 1 }), AlreadyImportedError)
  })

  it('follows only what it chose: heads of another datanet are refused before anything is fetched; a followed one is pending until its genesis comes', async () => {
    // Another peer's disk, reached the way a networked blockstore would reach it.
    const remoteBlocks = new FsBlockstore(join(dir, 'remote-blocks'))
    await remoteBlocks.open()
    try {
      const remote = new DatanetStore({ dir: join(dir, 'remote-datanets'), blockstore: remoteBlocks })
      const log = await remote.create({ name: 'elsewhere', description: '', license: 'CC0-1.0' }, bob)
      const [entry] = await remote.contribute(log.id, await ingest(remoteBlocks, await planIngest([await files('el', { 'e.txt': 'from elsewhere' })])), 'CC0-1.0', bob)

      await assert.rejects(store.merge(log.id, log.heads, remoteBlocks), NotFollowedError)
      assert.equal(await blocks.has(CID.parse(log.id)), false, 'nothing was fetched')
      assert.deepEqual(await readdir(join(dir, 'datanets')).catch(() => []), [], 'nothing was saved')

      // Followed while no peer has it: pending, and still so after a restart.
      assert.equal(await store.follow(log.id, 'follow', new MemoryBlockstore()), undefined)
      assert.deepEqual(store.pending(), [log.id])
      const restarted = new DatanetStore({ dir: join(dir, 'datanets'), blockstore: blocks })
      await restarted.load()
      assert.ok(restarted.follows(log.id))
      assert.deepEqual(restarted.pending(), [log.id])
      // Its heads come by: opened and merged.
      await restarted.merge(log.id, log.heads, remoteBlocks)
      assert.equal(restarted.resolve('elsewhere').size, 2)
      assert.deepEqual(restarted.reasons(log.id), ['follow'])

      // What is not a datanet id is refused and not followed.
      await assert.rejects(restarted.follow('not-a-cid', 'follow', remoteBlocks), InvalidDatanetIdError)
      await assert.rejects(restarted.follow(entry.cid.toString(), 'follow', remoteBlocks), InvalidEntryLinkError)
      assert.equal(restarted.follows(entry.cid.toString()), false)
      // A full follow list takes no more.
      const full = new DatanetStore({ dir: join(dir, 'full'), blockstore: blocks, maxDatanets: 1 })
      await full.follow(log.id, 'follow', remoteBlocks)
      await assert.rejects(full.create({ name: 'more', description: '', license: 'CC0-1.0' }, alice), { name: 'TooManyDatanetsError' })

      // Unfollowed: gone, and still gone after a restart.
      await restarted.unfollow('elsewhere')
      assert.equal(restarted.follows(log.id), false)
      const again = new DatanetStore({ dir: join(dir, 'datanets'), blockstore: blocks })
      await again.load()
      assert.deepEqual(again.list(), [])
    } finally {
      await remoteBlocks.close()
    }
  })

  it('loads a layout from before follow lists: datanets this peer wrote to stay followed, the ones it only heard of are evicted', async () => {
    const mine = await store.create({ name: 'mine', description: '', license: 'CC0-1.0' }, alice)
    const contributed = await store.create({ name: 'contributed', description: '', license: 'CC0-1.0' }, bob)
    await store.contribute(contributed.id, await ingest(blocks, await planIngest([await files('co', { 'c.txt': 'alice adds this' })])), 'CC0-1.0', alice)
    const heard = await store.create({ name: 'heard', description: '', license: 'CC0-1.0' }, bob)
    // The older layout: heads only, no reasons.
    for (const log of [mine, contributed, heard]) await writeFile(join(dir, 'datanets', `${log.id}.json`), JSON.stringify({ id: log.id, heads: log.heads.map(String) }))

    const upgraded = new DatanetStore({ dir: join(dir, 'datanets'), blockstore: blocks, self: addressOf(alice.publicKey) })
    const { evicted } = await upgraded.load()
    assert.deepEqual(evicted.map(l => l.id), [heard.id])
    assert.deepEqual(upgraded.list().map(l => l.id).sort(), [mine.id, contributed.id].sort())
    assert.deepEqual(upgraded.reasons(mine.id), ['own'])
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'datanets', `${contributed.id}.json`), 'utf8')).follow, ['own'])
    assert.ok(!(await readdir(join(dir, 'datanets'))).includes(`${heard.id}.json`))
  })
})
