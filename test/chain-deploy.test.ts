// Settling beyond the devnet: `openledger chain deploy` puts the contracts on any
// JSON-RPC chain (a real anvil here) with the keystore's key, and `node start --chain`
// reads that file, refusing a chain id that does not match the deployment.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseUnits, toQuantity } from 'ethers'
import { startAnvil, type Anvil } from '../settlement/chain/anvil.ts'
import { connectProvider } from '../settlement/chain/client.ts'
import { loadChainConfig } from '../peer/settlement/chain-config.ts'
import { runCli } from './helpers/cli.ts'

describe('openledger chain deploy on a JSON-RPC chain', function () {
  this.timeout(120_000)
  let dir: string
  let anvil: Anvil
  const env = { OPENLEDGER_PASSPHRASE: 'deploy test' }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-deploy-'))
    anvil = await startAnvil({ chainId: 4242, hardfork: 'cancun' })
  })
  after(async () => {
    await anvil?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('deploys with the keystore key as treasury, writes the file peers start from, and refuses a wrong chain id', async () => {
    const key = JSON.parse((await runCli(['key', 'new', '-d', dir, '--kdf-cost', '10', '--json'], env)).stdout)
    const provider = connectProvider(anvil.rpcUrl)
    await provider.send('anvil_setBalance', [key.address, toQuantity(parseUnits('10', 18))])
    const wrong = await runCli(['chain', 'deploy', '-d', dir, '--rpc-url', anvil.rpcUrl, '--chain-id', '1', '--out', join(dir, 'x.json')], env)
    assert.equal(wrong.code, 2)
    assert.match(wrong.stderr, /chain 4242, not 1/)

    const out = join(dir, 'deployment.json')
    const r = await runCli(['chain', 'deploy', '-d', dir, '--rpc-url', anvil.rpcUrl, '--out', out, '--json', '--challenge-window', '3600'], env)
    assert.equal(r.code, 0, r.stderr)
    const deployed = JSON.parse(r.stdout.trim().split('\n').at(-1)!)
    assert.equal(deployed.chainId, 4242)
    assert.equal(deployed.treasury, key.address)
    for (const k of ['open', 'gopen', 'governor', 'timelock', 'registry', 'staking', 'escrow', 'distributor']) {
      assert.notEqual(await provider.getCode(deployed[k]), '0x', `${k} has code`)
    }
    const config = await loadChainConfig(out)
    assert.equal(config.rpcUrl, anvil.rpcUrl)
    assert.deepEqual(config.addresses, JSON.parse(await readFile(out, 'utf8')).addresses)
    await assert.rejects(loadChainConfig(out, { chainId: 10 }), (err: Error) => err.name === 'UsageError' && /does not match/.test(err.message))
    await assert.rejects(loadChainConfig(join(dir, 'missing.json')), (err: Error) => err.name === 'UsageError')
    provider.destroy()
  })
})
