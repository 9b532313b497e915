import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readJsonIfExists, writeFileAtomic, writeJsonAtomic } from '../storage/atomic-file.ts'

describe('peer/util/atomic-file', () => {
  let root: string
  let n = 0
  /** A fresh, not yet existing directory per test. */
  const freshDir = (): string => join(root, `case-${n++}`)

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'openledger-atomic-file-test-'))
  })

  after(async () => {
    await rm(root, { recursive: true, force: true })
  })

  it('writeJsonAtomic / readJsonIfExists round-trip a nested value', async () => {
    const dir = freshDir()
    const path = join(dir, 'state.json')
    const value = { peerId: '16Uiu2HAm', port: 4001, addrs: ['/ip4/127.0.0.1/tcp/4001'], nested: { ok: true, n: null }, text: 'héllo' }
    await writeJsonAtomic(path, value)
    assert.deepEqual(await readJsonIfExists<typeof value>(path), value)
    // The file is readable JSON ending in a newline, pretty-printed.
    const text = await readFile(path, 'utf8')
    assert.ok(text.endsWith('}\n'))
    assert.deepEqual(JSON.parse(text), value)
  })

  it('creates missing parent directories', async () => {
    const path = join(freshDir(), 'a', 'b', 'c.json')
    await writeJsonAtomic(path, [1, 2, 3])
    assert.deepEqual(await readJsonIfExists(path), [1, 2, 3])
  })

  it('replaces an existing file completely', async () => {
    const dir = freshDir()
    const path = join(dir, 'state.json')
    await writeJsonAtomic(path, { long: 'x'.repeat(1000), version: 1 })
    await writeJsonAtomic(path, { version: 2 })
    assert.deepEqual(await readJsonIfExists(path), { version: 2 })
    assert.ok((await stat(path)).size < 100, 'no leftovers of the longer old contents')
  })

  it('leaves no temporary files behind', async () => {
    const dir = freshDir()
    for (let i = 0; i < 5; i++) await writeJsonAtomic(join(dir, 'state.json'), { i })
    await writeFileAtomic(join(dir, 'raw.bin'), new Uint8Array([1, 2, 3]))
    await writeFileAtomic(join(dir, 'raw.txt'), 'text')
    assert.deepEqual((await readdir(dir)).sort(), ['raw.bin', 'raw.txt', 'state.json'])
  })

  it('concurrent writers leave one complete version and no temporary files', async () => {
    const dir = freshDir()
    const path = join(dir, 'state.json')
    const values = Array.from({ length: 10 }, (_, i) => ({ writer: i, pad: String(i).repeat(500) }))
    await Promise.all(values.map(async v => await writeJsonAtomic(path, v)))
    const got = await readJsonIfExists<{ writer: number, pad: string }>(path)
    assert.ok(got != null)
    assert.deepEqual(got, values[got.writer])
    assert.deepEqual(await readdir(dir), ['state.json'])
  })

  it('writes files with mode 0600 by default, and the given mode otherwise', async () => {
    const dir = freshDir()
    await writeJsonAtomic(join(dir, 'secret.json'), { k: 1 })
    assert.equal((await stat(join(dir, 'secret.json'))).mode & 0o777, 0o600)
    await writeFileAtomic(join(dir, 'private.bin'), new Uint8Array([9]))
    assert.equal((await stat(join(dir, 'private.bin'))).mode & 0o777, 0o600)
    await writeFileAtomic(join(dir, 'owner-only.txt'), 'x', { mode: 0o400 })
    assert.equal((await stat(join(dir, 'owner-only.txt'))).mode & 0o777, 0o400)
  })

  it('writeFileAtomic writes bytes and strings exactly', async () => {
    const dir = freshDir()
    const bytes = new Uint8Array([0, 255, 10, 13, 128])
    await writeFileAtomic(join(dir, 'b'), bytes)
    assert.deepEqual([...await readFile(join(dir, 'b'))], [...bytes])
    await writeFileAtomic(join(dir, 's'), 'line1\nline2')
    assert.equal(await readFile(join(dir, 's'), 'utf8'), 'line1\nline2')
  })

  it('readJsonIfExists of a missing file (or missing directory) is undefined', async () => {
    const dir = freshDir()
    assert.equal(await readJsonIfExists(join(dir, 'nope.json')), undefined)
    await mkdir(dir)
    assert.equal(await readJsonIfExists(join(dir, 'nope.json')), undefined)
  })

  it('readJsonIfExists throws on a file that is not JSON (it does not pretend it is missing)', async () => {
    const dir = freshDir()
    await mkdir(dir)
    await writeFile(join(dir, 'bad.json'), '{ half')
    await assert.rejects(readJsonIfExists(join(dir, 'bad.json')), SyntaxError)
  })

  it('readJsonIfExists throws on errors other than a missing file', async () => {
    const dir = freshDir()
    await mkdir(join(dir, 'is-a-dir.json'), { recursive: true })
    await assert.rejects(readJsonIfExists(join(dir, 'is-a-dir.json')), (err: NodeJS.ErrnoException) => err.code === 'EISDIR')
  })

  it('a failed rename removes its temporary file and leaves the target as it was', async () => {
    const dir = freshDir()
    // The target path is a non-empty directory: rename(file -> dir) fails.
    const target = join(dir, 'state.json')
    await mkdir(target, { recursive: true })
    await writeFile(join(target, 'keep'), 'kept')
    await assert.rejects(writeJsonAtomic(target, { x: 1 }))
    assert.deepEqual(await readdir(dir), ['state.json'])
    assert.equal(await readFile(join(target, 'keep'), 'utf8'), 'kept')
  })

  it('a value JSON cannot encode fails before touching the disk', async () => {
    const dir = freshDir()
    await mkdir(dir)
    await writeJsonAtomic(join(dir, 'state.json'), { v: 1 })
    await assert.rejects(writeJsonAtomic(join(dir, 'state.json'), { v: 10n }), TypeError)
    assert.deepEqual(await readJsonIfExists(join(dir, 'state.json')), { v: 1 })
    assert.deepEqual(await readdir(dir), ['state.json'])
  })
})
