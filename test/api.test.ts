// The peer's local API refuses bad requests with typed errors, never a crash: no or
// wrong token, malformed or oversize bodies, unknown routes, bad arguments, bad files.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Devnet } from '../peer/devnet/devnet.ts'
import { fetchStatus } from '../peer/cli/commands/status.ts'
import { runCli } from './helpers/cli.ts'

describe('local API: bad requests', function () {
  this.timeout(120_000)
  let dir: string
  let devnet: Devnet
  let url: string
  let token: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-api-'))
    devnet = new Devnet({ dir, peers: 1, advertIntervalMs: 1_000, benchSize: 64 })
    await devnet.start()
    const run = JSON.parse(await readFile(join(devnet.peers[0].dataDir, 'run.json'), 'utf8'))
    url = run.statusUrl
    token = run.token
  })
  after(async () => {
    await devnet?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const post = async (path: string, body: string, auth: string | null = `Bearer ${token}`): Promise<{ status: number, lines: any[] }> => {
    const res = await fetch(url + path, { method: 'POST', headers: auth == null ? {} : { authorization: auth }, body })
    const text = await res.text()
    return { status: res.status, lines: text.trim().split('\n').filter(Boolean).map(l => JSON.parse(l)) }
  }

  it('refuses a POST without the token, or with a wrong one', async () => {
    for (const auth of [null, 'Bearer nope', `Bearer ${token}x`]) {
      const r = await post('/datanets', JSON.stringify({ name: 'x', license: 'CC0-1.0' }), auth)
      assert.equal(r.status, 401)
      assert.equal(r.lines[0].error.name, 'UnauthorizedError')
    }
  })

  it('refuses malformed JSON and bodies over 1 MiB', async () => {
    const bad = await post('/datanets', '{not json')
    assert.equal(bad.status, 400)
    assert.equal(bad.lines[0].error.name, 'MalformedRequestError')
    const big = await post('/datanets', JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }))
    assert.equal(big.status, 413)
    assert.equal(big.lines[0].error.name, 'BodyTooLargeError')
  })

  it('answers unknown routes and methods with 404 and 405', async () => {
    assert.equal((await fetch(url + '/nope')).status, 404)
    assert.equal((await fetch(url + '/status', { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status, 405)
  })

  it('names what is wrong with the arguments', async () => {
    const noPaths = await post('/datanets/anything/contribute', JSON.stringify({ paths: 'x' }))
    assert.equal(noPaths.lines.at(-1).error.name, 'UsageError')
    const badName = await post('/datanets', JSON.stringify({ name: 'Bad Name!', license: 'CC0-1.0' }))
    assert.equal(badName.lines.at(-1).error.name, 'InvalidDatanetFieldsError')
    assert.match(badName.lines.at(-1).error.message, /^name:/)
    const unknown = await post('/datanets/import', JSON.stringify({ corpus: 'wikipedia' }))
    assert.equal(unknown.lines.at(-1).error.name, 'UsageError')
  })

  it('the CLI turns refusals into messages and exit codes', async () => {
    const d = devnet.peers[0].dataDir
    assert.equal((await runCli(['datanet', 'create', 'files', '--license', 'CC0-1.0', '-d', d])).code, 0)
    await writeFile(join(dir, 'weights.bin'), 'not text')
    const unsupported = await runCli(['datanet', 'contribute', 'files', join(dir, 'weights.bin'), '-d', d])
    assert.equal(unsupported.code, 2)
    assert.match(unsupported.stderr, /unsupported file type "\.bin"/)
    const missing = await runCli(['datanet', 'show', 'no-such-datanet', '-d', d])
    assert.equal(missing.code, 3)
    // And the node is still up and answering.
    assert.equal((await fetchStatus(url)).peerId, devnet.peers[0].peerId)
  })
})
