// The keystore passphrase stays with the process that needs it: taken out of the
// environment the moment it is read, so no child (a peer, anvil, nvidia-smi) inherits
// it; a peer can read it from its stdin instead; and a keystore file open to group or
// others is refused at the command line with the fix to apply.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { createInterface } from 'node:readline'
import { PASSPHRASE_ENV, readPassphrase, takeEnvPassphrase } from '../peer/identity/passphrase.ts'
import { CLI, runCli, type CliResult } from './helpers/cli.ts'
import { waitFor } from './helpers/wait.ts'

/** What a child process started now sees of the variable. */
async function childSees (name: string): Promise<string> {
  const child = spawn(process.execPath, ['-e', `process.stdout.write(process.env[${JSON.stringify(name)}] ?? '<unset>')`], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  await new Promise(resolve => child.once('exit', resolve))
  return out
}

/** The CLI with `input` on its stdin (then closed). */
async function cliWithStdin (args: string[], input: string, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const merged: Record<string, string | undefined> = { ...process.env, ...env }
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete merged[k]
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: merged })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => { stdout += d })
  child.stderr.on('data', (d) => { stderr += d })
  child.stdin.end(input)
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  return { code, stdout, stderr }
}

describe('the keystore passphrase', function () {
  this.timeout(120_000)
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'openledger-passphrase-')) })
  after(async () => {
    delete process.env[PASSPHRASE_ENV]
    await rm(dir, { recursive: true, force: true })
  })

  it('is taken out of the environment as it is read: a child started afterwards does not inherit it', async () => {
    process.env[PASSPHRASE_ENV] = 'in the environment'
    assert.equal(await childSees(PASSPHRASE_ENV), 'in the environment', 'the check sees what a child inherits')
    assert.equal(await readPassphrase(), 'in the environment')
    assert.equal(process.env[PASSPHRASE_ENV], undefined)
    assert.equal(await childSees(PASSPHRASE_ENV), '<unset>')
    // Still there for a second read in the same process (the CLI takes it at start-up, a command reads it later).
    assert.equal(await readPassphrase(), 'in the environment')
    // A newer value replaces it, and is taken out too.
    process.env[PASSPHRASE_ENV] = 'newer'
    assert.equal(takeEnvPassphrase(), 'newer')
    assert.equal(await childSees(PASSPHRASE_ENV), '<unset>')
  })

  it('openledger node start reads it from the environment and its own children (nvidia-smi) get none of it', async () => {
    // A stand-in nvidia-smi, first on PATH: every peer runs it at start-up, and it writes down the environment it got.
    const bin = join(dir, 'bin')
    const dumps = join(dir, 'dumps')
    await mkdir(bin)
    await mkdir(dumps)
    await writeFile(join(bin, 'nvidia-smi'), `#!/bin/sh\nenv > "${dumps}/$$.env"\nexit 1\n`, { mode: 0o755 })
    const data = join(dir, 'peer')
    const secret = 'never in a child ' + Math.random()
    assert.equal((await runCli(['key', 'new', '-d', data, '--kdf-cost', '10'], { OPENLEDGER_PASSPHRASE: secret })).code, 0)
    const env: Record<string, string | undefined> = { ...process.env, OPENLEDGER_PASSPHRASE: secret, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` }
    const child = spawn(process.execPath, [CLI, 'node', 'start', '-d', data, '--json', '--no-mdns', '--bench-size', '16', '--network', 'passphrase-test'], { stdio: ['ignore', 'pipe', 'pipe'], env })
    let stderr = ''
    child.stderr.on('data', (d) => { stderr += d })
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`node start exited ${code}: ${stderr}`)))
        createInterface({ input: child.stdout }).on('line', (line) => { if (line.includes('"ready"')) resolve() })
      })
      const files = await waitFor('nvidia-smi to have run', async () => { const f = await readdir(dumps); return f.length > 0 ? f : undefined })
      for (const f of files) {
        const seen = await readFile(join(dumps, f), 'utf8')
        assert.match(seen, /^PATH=/m, 'the dump is an environment')
        assert.doesNotMatch(seen, new RegExp(`^${PASSPHRASE_ENV}=`, 'm'))
        assert.ok(!seen.includes(secret))
      }
    } finally {
      child.kill('SIGTERM')
      await new Promise(resolve => child.exitCode != null ? resolve(null) : child.once('exit', resolve))
    }
  })

  it('--passphrase-stdin takes the first line of stdin instead (what the devnet hands its peers)', async () => {
    const data = join(dir, 'stdin')
    const made = await cliWithStdin(['key', 'new', '-d', data, '--kdf-cost', '10', '--json', '--passphrase-stdin'], 'from stdin\nthe rest is not read\n', { OPENLEDGER_PASSPHRASE: undefined })
    assert.equal(made.code, 0, made.stderr)
    const shown = await runCli(['key', 'show', '-d', data, '--json'], { OPENLEDGER_PASSPHRASE: 'from stdin' })
    assert.equal(shown.code, 0, shown.stderr)
    assert.equal(JSON.parse(shown.stdout).address, JSON.parse(made.stdout).address)
    // stdin wins over the environment when asked for; an empty stdin is no passphrase (exit 4).
    const viaStdin = await cliWithStdin(['key', 'show', '-d', data, '--json', '--passphrase-stdin'], 'from stdin', { OPENLEDGER_PASSPHRASE: 'wrong' })
    assert.equal(viaStdin.code, 0, viaStdin.stderr)
    const empty = await cliWithStdin(['key', 'show', '-d', data, '--passphrase-stdin'], '', { OPENLEDGER_PASSPHRASE: 'from stdin' })
    assert.equal(empty.code, 4, empty.stderr)
  })

  it('a keystore open to group or others is refused at the command line, with chmod 600 to run', async () => {
    const data = join(dir, 'loose')
    const env = { OPENLEDGER_PASSPHRASE: 'loose' }
    assert.equal((await runCli(['key', 'new', '-d', data, '--kdf-cost', '10'], env)).code, 0)
    await chmod(join(data, 'keystore.json'), 0o644)
    const r = await runCli(['key', 'show', '-d', data], env)
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^error: keystore at .* is open to group or others \(mode 0644\)/m)
    assert.ok(r.stderr.includes(`chmod 600 ${join(data, 'keystore.json')}`), r.stderr)
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'a message, not a stack')
  })
})
