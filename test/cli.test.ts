// The CLI as a script sees it: help on every command, JSON where asked, exit codes
// that say what went wrong.
import assert from 'node:assert/strict'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from './helpers/cli.ts'

describe('openledger CLI', function () {
  this.timeout(60_000)
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'openledger-cli-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  for (const cmd of [[], ['key'], ['key', 'new'], ['key', 'show'], ['node'], ['node', 'start'], ['status'], ['devnet']]) {
    it(`prints help for "${cmd.join(' ') || 'openledger'}" and exits 0`, async () => {
      const r = await runCli([...cmd, '--help'])
      assert.equal(r.code, 0)
      assert.match(r.stdout, /^Usage: openledger/m)
    })
  }

  it('exits 2 on an unknown command or a bad option value', async () => {
    assert.equal((await runCli(['frobnicate'])).code, 2)
    const r = await runCli(['devnet', '--peers', 'many'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--peers must be an integer/)
    assert.equal((await runCli(['node', 'start', '--bootstrap', '/ip4/127.0.0.1/tcp/1'])).code, 2)
  })

  it('creates a key, refuses to overwrite it and shows it with the right passphrase only', async () => {
    const env = { OPENLEDGER_PASSPHRASE: 'correct horse' }
    const made = await runCli(['key', 'new', '--data-dir', dir, '--kdf-cost', '10', '--json'], env)
    assert.equal(made.code, 0, made.stderr)
    const created = JSON.parse(made.stdout)
    assert.match(created.peerId, /^16Uiu2/) // secp256k1 peer ids start so
    assert.match(created.address, /^0x[0-9a-fA-F]{40}$/)
    assert.equal((await stat(join(dir, 'keystore.json'))).mode & 0o777, 0o600)

    assert.equal((await runCli(['key', 'new', '--data-dir', dir, '--kdf-cost', '10'], env)).code, 1)

    const shown = await runCli(['key', 'show', '--data-dir', dir, '--json'], env)
    assert.equal(shown.code, 0, shown.stderr)
    const { peerId, address } = JSON.parse(shown.stdout)
    assert.deepEqual({ peerId, address }, { peerId: created.peerId, address: created.address })

    const wrong = await runCli(['key', 'show', '--data-dir', dir], { OPENLEDGER_PASSPHRASE: 'wrong' })
    assert.equal(wrong.code, 4)
    assert.match(wrong.stderr, /wrong passphrase/)
  })

  it('exits 4 without a passphrase and no terminal, 3 without a keystore', async () => {
    assert.equal((await runCli(['key', 'show', '--data-dir', dir], { OPENLEDGER_PASSPHRASE: undefined })).code, 4)
    assert.equal((await runCli(['key', 'show', '--data-dir', join(dir, 'nothing')], { OPENLEDGER_PASSPHRASE: 'x' })).code, 3)
  })

  it('exits 5 when asked for the status of a node that is not running', async () => {
    assert.equal((await runCli(['status', '--data-dir', dir])).code, 5)
    assert.equal((await runCli(['status', '--url', 'http://127.0.0.1:1'])).code, 5)
  })
})
