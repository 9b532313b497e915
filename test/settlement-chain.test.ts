// The chain tooling around the contracts: the compile cache, the anvil launcher
// (ready on its own port, gone after stop(), state kept across restarts with
// statePath), the deployer's wiring and addresses file, the permit variant of opening
// a job, and revert decoding into ContractRevertError. The deploy profiles: a real L2's
// parameters land on chain as the profile says, a combination the registry would refuse
// is refused before the first transaction, and the linked periods are set in an order
// the registry accepts.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Signature, Wallet, hexlify, id, randomBytes } from 'ethers'
import { startAnvil } from '../settlement/chain/anvil.ts'
import { SettlementClient, connectProvider, type Addresses } from '../settlement/chain/client.ts'
import { compileContracts } from '../settlement/chain/compile.ts'
import { deploy, periodSteps } from '../settlement/chain/deploy.ts'
import { ContractRevertError, DeployError } from '../settlement/chain/errors.ts'
import { DEVNET_PARAMS, L2_GOVERNANCE, L2_PARAMS, REGISTRY_BOUNDS, registryParamProblems } from '../settlement/chain/profiles.ts'
import { InvalidSignatureError } from '../settlement/epoch/errors.ts'
import { packSignatures } from '../settlement/chain/signatures.ts'
import { expectRejects, expectThrows } from './helpers/expect-throws.ts'

const E18 = 10n ** 18n

describe('settlement chain tooling', function () {
  this.timeout(60_000)
  let dir: string

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'openledger-chain-'))
  })

  after(async function () {
    await rm(dir, { recursive: true, force: true })
  })

  it('compiles every contract once and then reads the cache', async function () {
    await compileContracts()
    const again = await compileContracts()
    // How fast the cache reads is a figure, not a bound (a busy machine must not fail a test): npm run bench -- settlement measures it.
    assert.equal(again.fromCache, true)
    for (const name of ['OPEN', 'GOpen', 'OpenGovernor', 'Timelock', 'ParameterRegistry', 'Staking', 'JobEscrow', 'RewardDistributor']) {
      const a = again.contracts[name]
      assert.ok(a !== undefined && a.bytecode.length > 2, name)
      assert.ok(a.deployedSize <= 24_576, `${name} is ${a.deployedSize} bytes, over EIP-170`)
    }
    assert.deepEqual(again.warnings, [])
  })

  it('deploys, wires governance, writes the addresses, and keeps state across an anvil restart', async function () {
    const statePath = join(dir, 'anvil-state.json')
    const outPath = join(dir, 'addresses.json')
    const anvil = await startAnvil({ chainId: 4242, statePath })
    let addresses: Addresses
    try {
      const funded = anvil.accounts[3].address
      const d = await deploy({ rpcUrl: anvil.rpcUrl, profile: 'devnet', deployerKey: anvil.accounts[0].privateKey, treasury: anvil.accounts[1].address, fund: { accounts: [funded], amount: 500n * E18 }, outPath })
      addresses = d.addresses
      assert.deepEqual(JSON.parse(await readFile(outPath, 'utf8')), addresses)
      assert.equal(addresses.chainId, 4242)
      const c = await SettlementClient.create(addresses, new Wallet(anvil.accounts[3].privateKey, d.provider))
      assert.equal(await c.balanceOf(funded), 500n * E18)
      assert.equal(await c.balanceOf(addresses.treasury) + 500n * E18, 1_000_000_000n * E18, 'the rest of the supply went to the treasury')
      assert.equal(await c.read<string>('registry', 'owner'), addresses.timelock)
      assert.equal(await c.read<boolean>('timelock', 'hasRole', [id('PROPOSER_ROLE'), addresses.governor]), true)
      assert.equal(await c.read<boolean>('timelock', 'hasRole', ['0x' + '00'.repeat(32), anvil.accounts[0].address]), false, 'deployer admin renounced')

      // open() with a permit instead of an approve.
      const jobId = hexlify(randomBytes(32))
      const owner = new Wallet(anvil.accounts[3].privateKey, d.provider)
      const permitDeadline = BigInt(Math.floor(Date.now() / 1000) + 3600)
      const nonce = await c.read<bigint>('open', 'nonces', [owner.address])
      const sig = Signature.from(await owner.signTypedData(
        { name: 'OpenLedger', version: '1', chainId: 4242, verifyingContract: addresses.open },
        { Permit: [{ name: 'owner', type: 'address' }, { name: 'spender', type: 'address' }, { name: 'value', type: 'uint256' }, { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' }] },
        { owner: owner.address, spender: addresses.escrow, value: 7n * E18, nonce, deadline: permitDeadline }))
      await c.send('escrow', 'openWithPermit', [jobId, 7n * E18, permitDeadline, permitDeadline, sig.v, sig.r, sig.s])
      assert.equal((await c.jobOf(jobId)).amount, 7n * E18)

      // Reverts come back typed, with the Solidity error's name and arguments.
      const err = await expectRejects(c.transfer(addresses.treasury, 10n ** 30n), ContractRevertError)
      assert.equal(err.details.error, 'ERC20InsufficientBalance')
      assert.equal(err.args.sender, owner.address)
      assert.equal(err.args.needed, 10n ** 30n)
    } finally {
      await anvil.stop()
    }
    // Stopped means gone.
    await assert.rejects(connectProvider(anvil.rpcUrl, 4242).getBlockNumber())

    const again = await startAnvil({ chainId: 4242, statePath })
    try {
      const provider = connectProvider(again.rpcUrl, 4242)
      assert.notEqual(await provider.getCode(addresses.distributor), '0x', 'the state file kept the deployment')
      const c = await SettlementClient.create(addresses, provider)
      assert.equal(await c.nextEpoch(), 1n)
    } finally {
      await again.stop()
    }
  })

  it('deploys the l2 profile as it says (quorums 3 and 2, days-long periods, stakes above the floors) and reads it back from the chain', async function () {
    const anvil = await startAnvil({ chainId: 4343 })
    try {
      const d = await deploy({ rpcUrl: anvil.rpcUrl, profile: 'l2', deployerKey: anvil.accounts[0].privateKey })
      assert.equal(d.profile, 'l2')
      assert.deepEqual(d.params, L2_PARAMS)
      assert.deepEqual(d.governance, L2_GOVERNANCE)
      assert.ok(L2_PARAMS.aggregatorQuorum >= 2 && L2_PARAMS.verifierQuorum >= 2, 'no single signer decides money on a real network')
      const c = await SettlementClient.create(d.addresses, d.provider)
      assert.equal(await c.read<bigint>('registry', 'aggregatorQuorum'), 3n)
      assert.equal(await c.read<bigint>('registry', 'verifierQuorum'), 2n)
      assert.ok(await c.read<bigint>('registry', 'unbondingDelay') > await c.read<bigint>('registry', 'maxEscrowDuration') + await c.read<bigint>('registry', 'challengeWindow'))
      // The TypeScript copy of the registry's bounds (checked before deploying) is the contract's.
      assert.equal(await c.read<bigint>('registry', 'MIN_PERIOD'), BigInt(REGISTRY_BOUNDS.minPeriod))
      assert.equal(await c.read<bigint>('registry', 'MAX_PERIOD'), BigInt(REGISTRY_BOUNDS.maxPeriod))
      assert.equal(await c.read<bigint>('registry', 'MAX_QUORUM'), BigInt(REGISTRY_BOUNDS.maxQuorum))
      assert.equal(await c.read<bigint>('registry', 'MAX_AMOUNT'), REGISTRY_BOUNDS.maxAmount)
      for (const [role, i] of [['worker', 0], ['verifier', 1], ['aggregator', 2]] as const) {
        assert.equal(await c.read<bigint>('registry', 'minStakeFloor', [i]), REGISTRY_BOUNDS.minStakeFloor[role])
        assert.ok(L2_PARAMS.minStake[role] > REGISTRY_BOUNDS.minStakeFloor[role])
      }
    } finally {
      await anvil.stop()
    }
  })

  it('refuses parameters the registry would refuse before sending any transaction', async function () {
    const anvil = await startAnvil({ chainId: 4344 })
    try {
      const key = anvil.accounts[0]
      const bad = [
        { unbondingDelay: L2_PARAMS.maxEscrowDuration + L2_PARAMS.challengeWindow },
        { minStake: { ...L2_PARAMS.minStake, verifier: REGISTRY_BOUNDS.minStakeFloor.verifier - 1n } },
        { aggregatorQuorum: 0 },
        { challengeWindow: Number.NaN }
      ]
      for (const params of bad) {
        const err = await expectRejects(deploy({ rpcUrl: anvil.rpcUrl, profile: 'l2', deployerKey: key.privateKey, params }), DeployError)
        assert.equal(err.details.step, 'parameters')
        assert.ok((err.details.problems as string[]).length >= 1)
      }
      assert.equal(await connectProvider(anvil.rpcUrl).getTransactionCount(key.address), 0, 'nothing was sent')
      assert.deepEqual(registryParamProblems(L2_PARAMS), [])
      assert.deepEqual(registryParamProblems(DEVNET_PARAMS), [])
    } finally {
      await anvil.stop()
    }
  })

  it('orders the linked period setters so unbondingDelay > maxEscrowDuration + challengeWindow holds after each', function () {
    const values = [60, 300, 3_600, 86_400, 3 * 86_400, 7 * 86_400]
    const valid = (p: { unbondingDelay: number, maxEscrowDuration: number, challengeWindow: number }): boolean => p.unbondingDelay > p.maxEscrowDuration + p.challengeWindow
    let checked = 0
    for (const u of values) for (const e of values) for (const w of values) for (const u2 of values) for (const e2 of values) for (const w2 of values) {
      const from = { unbondingDelay: u, maxEscrowDuration: e, challengeWindow: w }
      const to = { unbondingDelay: u2, maxEscrowDuration: e2, challengeWindow: w2 }
      if (!valid(from) || !valid(to)) continue
      const state = { ...from }
      const key = { setUnbondingDelay: 'unbondingDelay', setMaxEscrowDuration: 'maxEscrowDuration', setChallengeWindow: 'challengeWindow' } as const
      for (const [setter, value] of periodSteps(from, to)) {
        state[key[setter]] = value
        assert.ok(valid(state), `${JSON.stringify(from)} -> ${JSON.stringify(to)}: ${setter}(${value}) breaks the bound`)
      }
      assert.deepEqual(state, to)
      checked++
    }
    assert.ok(checked > 1000)
  })

  it('packs signatures in ascending signer order and refuses a signer twice', function () {
    const sig = (n: number): string => '0x' + n.toString(16).padStart(2, '0').repeat(65)
    const hi = '0xffffffffffffffffffffffffffffffffffffffff'
    const lo = '0x0000000000000000000000000000000000000001'
    assert.equal(packSignatures([{ signer: hi, signature: sig(2) }, { signer: lo, signature: sig(1) }]), '0x' + sig(1).slice(2) + sig(2).slice(2))
    expectThrows(() => packSignatures([{ signer: lo, signature: sig(1) }, { signer: lo, signature: sig(2) }]), InvalidSignatureError)
  })
})
