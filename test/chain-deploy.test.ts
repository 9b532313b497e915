// Settling beyond the devnet: `openledger chain deploy` puts the contracts on any
// JSON-RPC chain (a real anvil here) with the keystore's key, and `node start --chain`
// reads that file, refusing a chain id that does not match the deployment. A real
// deployment gets the l2 profile's parameters unless told otherwise (quorums of several,
// never the devnet's 1), prints what the chain holds, and a combination the registry
// would refuse is a usage error before the passphrase is asked or gas is spent.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseUnits, toQuantity } from 'ethers'
import { startAnvil, type Anvil } from '../settlement/chain/anvil.ts'
import { SettlementClient, connectProvider } from '../settlement/chain/client.ts'
import { L2_PARAMS } from '../settlement/chain/profiles.ts'
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
    // No --profile: the l2 defaults, the flag over them, as the chain holds them.
    assert.equal(deployed.profile, 'l2')
    assert.equal(deployed.params.aggregatorQuorum, L2_PARAMS.aggregatorQuorum)
    assert.equal(deployed.params.verifierQuorum, L2_PARAMS.verifierQuorum)
    assert.equal(deployed.params.challengeWindow, 3600)
    assert.equal(deployed.params.unbondingDelay, L2_PARAMS.unbondingDelay)
    assert.equal(deployed.params.minStake.verifier, L2_PARAMS.minStake.verifier.toString())
    assert.equal(deployed.governance.timelockDelay, 2 * 86_400)
    const registry = await SettlementClient.create(deployed, provider)
    assert.equal(await registry.read<bigint>('registry', 'aggregatorQuorum'), BigInt(L2_PARAMS.aggregatorQuorum))
    assert.equal(await registry.read<bigint>('registry', 'challengeWindow'), 3600n)
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

  it('deploys the devnet profile only when asked, warns off a local chain, and prints the parameters', async () => {
    const out = join(dir, 'devnet-deployment.json')
    const r = await runCli(['chain', 'deploy', '-d', dir, '--rpc-url', anvil.rpcUrl, '--out', out, '--profile', 'devnet'], env)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /warning: the devnet profile .* on chain 4242/)
    assert.match(r.stdout, /parameters \(profile devnet;/)
    assert.match(r.stdout, /^aggregatorQuorum +1$/m)
    assert.match(r.stdout, /^verifierQuorum +1$/m)
    assert.match(r.stdout, /^unbondingDelay +2 d$/m)
    assert.equal(JSON.parse(await readFile(out, 'utf8')).profile, 'devnet')
  })

  it('refuses parameters the registry would refuse before asking for the passphrase or sending anything', async () => {
    const key = JSON.parse(await readFile(join(dir, 'keystore.json'), 'utf8')).address as string
    const provider = connectProvider(anvil.rpcUrl)
    const nonce = await provider.getTransactionCount('0x' + key.replace(/^0x/, ''))
    const noPassphrase = { OPENLEDGER_PASSPHRASE: undefined }
    const short = await runCli(['chain', 'deploy', '-d', dir, '--rpc-url', anvil.rpcUrl, '--out', join(dir, 'y.json'), '--unbonding-delay', String(4 * 86_400)], noPassphrase)
    assert.equal(short.code, 2, short.stderr)
    assert.match(short.stderr, /unbondingDelay 345600 must exceed maxEscrowDuration \+ challengeWindow \(259200 \+ 86400\)/)
    const bad = await runCli(['chain', 'deploy', '-d', dir, '--rpc-url', anvil.rpcUrl, '--out', join(dir, 'y.json'), '--profile', 'staging'], noPassphrase)
    assert.equal(bad.code, 2)
    assert.equal(await provider.getTransactionCount('0x' + key.replace(/^0x/, '')), nonce, 'no transaction sent')
    provider.destroy()
  })
})
