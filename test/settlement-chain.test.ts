// The chain tooling around the contracts: the compile cache, the anvil launcher
// (ready on its own port, gone after stop(), state kept across restarts with
// statePath), the deployer's wiring and addresses file, the permit variant of opening
// a job, and revert decoding into ContractRevertError.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Signature, Wallet, hexlify, id, randomBytes } from 'ethers'
import { startAnvil } from '../settlement/chain/anvil.ts'
import { SettlementClient, connectProvider, type Addresses } from '../settlement/chain/client.ts'
import { compileContracts } from '../settlement/chain/compile.ts'
import { deploy } from '../settlement/chain/deploy.ts'
import { ContractRevertError } from '../settlement/chain/errors.ts'
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
      const d = await deploy({ rpcUrl: anvil.rpcUrl, deployerKey: anvil.accounts[0].privateKey, treasury: anvil.accounts[1].address, fund: { accounts: [funded], amount: 500n * E18 }, outPath })
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

  it('packs signatures in ascending signer order and refuses a signer twice', function () {
    const sig = (n: number): string => '0x' + n.toString(16).padStart(2, '0').repeat(65)
    const hi = '0xffffffffffffffffffffffffffffffffffffffff'
    const lo = '0x0000000000000000000000000000000000000001'
    assert.equal(packSignatures([{ signer: hi, signature: sig(2) }, { signer: lo, signature: sig(1) }]), '0x' + sig(1).slice(2) + sig(2).slice(2))
    expectThrows(() => packSignatures([{ signer: lo, signature: sig(1) }, { signer: lo, signature: sig(2) }]), InvalidSignatureError)
  })
})
