// The settlement contracts on a real anvil chain: the happy paths (stake, post a root,
// wait out the challenge window, claim; escrow release and refund; a governance
// proposal changing a registry parameter end to end) and the attacks each contract
// must refuse, each asserting the exact Solidity custom error. Roots are cut at a mined
// block (toBlock), later each epoch; anyone may challenge a pending root for the
// registry's bond, which goes back to the challenger only if the epoch ends on another root. One anvil per file; every
// test starts from the same snapshot (deployed, staked, funded), so tests don't leak
// state into each other.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { StandardMerkleTree } from '@openzeppelin/merkle-tree'
import {
  AbiCoder, Contract, ContractFactory, Wallet, ZeroAddress, concat, encodeBytes32String, getAddress, hexlify, keccak256, recoverAddress,
  TypedDataEncoder, type InterfaceAbi, type JsonRpcProvider, type TypedDataDomain
} from 'ethers'
import { startAnvil, type Anvil } from '../settlement/chain/anvil.ts'
import { ROLE, SettlementClient, type Addresses, type EscrowAssignment } from '../settlement/chain/client.ts'
import { compileContracts } from '../settlement/chain/compile.ts'
import { DEVNET_PARAMS, deploy } from '../settlement/chain/deploy.ts'
import { ContractRevertError } from '../settlement/chain/errors.ts'
import { domain, packSignatures, signAndPack, signMessage, TYPES, type AssignmentMessage, type MessageType, type Messages } from '../settlement/chain/signatures.ts'
import { expectRejects } from './helpers/expect-throws.ts'

const E18 = 10n ** 18n
const WINDOW = 300 // challengeWindow the deploy sets (DEVNET_PARAMS)
const ZERO32 = '0x' + '00'.repeat(32)

function rand32 (): string {
  return hexlify(randomBytes(32))
}

/** Awaits p and asserts it reverted with this custom error (and these args, when given). */
async function expectRevert (p: Promise<unknown>, error: string, args?: Record<string, unknown>): Promise<ContractRevertError> {
  const err = await expectRejects(p, ContractRevertError)
  assert.equal(err.details.error, error, `expected ${error}, got ${String(err.details.error)}: ${err.message}`)
  for (const [k, v] of Object.entries(args ?? {})) {
    const got = err.args[k]
    assert.equal(typeof got === 'string' && typeof v === 'string' ? got.toLowerCase() : got, typeof v === 'string' ? v.toLowerCase() : v, `${error}.${k}`)
  }
  return err
}

/** The OZ StandardMerkleTree leaf for ['address','uint256']. */
function leafOf (account: string, cumulative: bigint): string {
  return keccak256(keccak256(AbiCoder.defaultAbiCoder().encode(['address', 'uint256'], [account, cumulative])))
}

/** OZ's commutative pair hash (sorted pairs). */
function hashPair (a: string, b: string): string {
  return BigInt(a) < BigInt(b) ? keccak256(concat([a, b])) : keccak256(concat([b, a]))
}

describe('settlement contracts on anvil', function () {
  this.timeout(60_000)

  let anvil: Anvil
  let provider: JsonRpcProvider
  let addresses: Addresses
  let wallets: Wallet[]
  let admin: SettlementClient // the deployer, also the treasury
  let aggregators: Wallet[]
  let verifiers: Wallet[]
  let requester: Wallet
  let worker: Wallet
  let outsider: Wallet // funded with OPEN, never staked
  let snapshot: string

  const client = (w: Wallet): SettlementClient => admin.as(w)

  async function rpc (method: string, params: unknown[] = []): Promise<any> {
    return await provider.send(method, params)
  }

  async function warp (seconds: number): Promise<void> {
    await rpc('evm_increaseTime', [seconds])
    await rpc('evm_mine')
  }

  async function now (): Promise<number> {
    const block = await provider.getBlock('latest')
    return block === null ? 0 : block.timestamp
  }

  const dist = (): TypedDataDomain => admin.domain('distributor')

  /** The newest mined block: the latest cutoff a root may name (the block it lands in is later). */
  async function mined (): Promise<number> {
    return await provider.getBlockNumber()
  }

  /** `epoch`'s EpochRoot message, cut at `toBlock`. */
  function rootMessage (epoch: number, root: string, total: bigint, toBlock: number): { epoch: number, root: string, total: bigint, toBlock: number } {
    return { epoch, root, total, toBlock }
  }

  /** The registry's challenge bond, as challengeRoot takes it. */
  async function bondOf (): Promise<bigint> {
    return await admin.read<bigint>('registry', 'challengeBond')
  }

  async function signed<T extends MessageType> (signers: Wallet[], type: T, value: Messages[T], dom?: TypedDataDomain): Promise<string> {
    const d = dom ?? admin.domain(type === 'Slash' ? 'staking' : type === 'Completion' || type === 'Assignment' || type === 'Participation' ? 'escrow' : 'distributor')
    return await signAndPack(signers, type, d, value)
  }

  /** Runs `fn` as the timelock (the registry's owner), as an executed proposal would. */
  async function asTimelock (fn: (timelock: SettlementClient) => Promise<void>): Promise<void> {
    await rpc('anvil_impersonateAccount', [addresses.timelock])
    await rpc('anvil_setBalance', [addresses.timelock, '0x' + (10n ** 18n).toString(16)])
    try {
      await fn(admin.as(await provider.getSigner(addresses.timelock)))
    } finally {
      await rpc('anvil_stopImpersonatingAccount', [addresses.timelock])
    }
  }

  /** Posts `epoch`'s tree of [account, cumulative] cut at the newest mined block (after funding the distributor to cover it). */
  async function postTree (epoch: number, entries: Array<[string, bigint]>): Promise<StandardMerkleTree<[string, bigint]>> {
    const tree = StandardMerkleTree.of(entries, ['address', 'uint256'])
    const total = entries.reduce((s, [, c]) => s + c, 0n)
    const owed = total - await admin.totalFunded()
    if (owed > 0n) await admin.fund(owed)
    const toBlock = await mined()
    const sigs = await signed(aggregators.slice(0, 2), 'EpochRoot', rootMessage(epoch, tree.root, total, toBlock))
    await client(aggregators[0]).postRoot(epoch, tree.root, total, toBlock, sigs)
    return tree
  }

  /** Challenges `epoch`'s pending root as `by` (bond approved by the client); returns the challenge id. */
  async function challenge (by: Wallet, epoch: number, evidence = rand32()): Promise<bigint> {
    const tx = await client(by).challengeRoot(epoch, evidence)
    const ev = tx.events.find(e => e.name === 'RootChallenged')
    assert.ok(ev !== undefined, 'RootChallenged emitted')
    return ev.args.id as bigint
  }

  function proofOf (tree: StandardMerkleTree<[string, bigint]>, account: string): { cumulative: bigint, proof: string[] } {
    for (const [i, [a, c]] of tree.entries()) {
      if (getAddress(a) === getAddress(account)) return { cumulative: c, proof: tree.getProof(i) }
    }
    throw new Error(`no leaf for ${account}`)
  }

  /**
   * What the contract says when these signatures, made over another message, are
   * checked against `digest`: the first recovers to an unrelated address, which holds no stake.
   */
  function foreignSignatureError (digest: string, packed: string): { error: string, args: Record<string, unknown> } {
    const signer = recoverAddress(digest, packed.slice(0, 132))
    return { error: 'SignerNotStaked', args: { signer, stake: 0n } }
  }

  before(async function () {
    const compiled = await compileContracts()
    console.log(`      compile: ${compiled.fromCache ? 'cache hit' : 'compiled'} in ${Math.round(compiled.ms)} ms`)
    anvil = await startAnvil({ accounts: 12 })
    wallets = anvil.accounts.map(a => new Wallet(a.privateKey))
    const deployment = await deploy({
      rpcUrl: anvil.rpcUrl,
      profile: 'devnet',
      deployerKey: anvil.accounts[0].privateKey,
      fund: { accounts: anvil.accounts.slice(1).map(a => a.address), amount: 100_000n * E18 },
      params: { aggregatorQuorum: 2, verifierQuorum: 2 }
    })
    provider = deployment.provider as JsonRpcProvider
    wallets = wallets.map(w => w.connect(provider))
    addresses = deployment.addresses
    admin = await SettlementClient.create(addresses, wallets[0])
    aggregators = wallets.slice(1, 4)
    verifiers = wallets.slice(4, 7)
    requester = wallets[7]
    worker = wallets[8]
    outsider = wallets[9]
    for (const a of aggregators) await client(a).stake(ROLE.aggregator, 1000n * E18)
    for (const v of verifiers) await client(v).stake(ROLE.verifier, 500n * E18)
    await client(worker).stake(ROLE.worker, 200n * E18)
    snapshot = await rpc('evm_snapshot')
  })

  beforeEach(async function () {
    await rpc('evm_revert', [snapshot])
    snapshot = await rpc('evm_snapshot')
  })

  after(async function () {
    await anvil?.stop()
  })

  describe('RewardDistributor', function () {
    it('pays a claim after the window, and only the difference after a new epoch', async function () {
      const [a, b, c] = wallets.slice(9, 12).map(w => w.address)
      const t1 = await postTree(1, [[a, 10n * E18], [b, 20n * E18], [c, 30n * E18]])
      const r1 = await admin.rootOf(1)
      assert.equal(r1.root, t1.root)
      assert.equal(r1.total, 60n * E18)
      assert.ok(r1.toBlock > 0n && r1.toBlock < BigInt(await mined()), 'cut at a block before the post')
      assert.equal(await admin.nextEpoch(), 2n)
      await warp(WINDOW)

      // A relayer (the outsider) submits; the tokens go to the account.
      const before = await admin.balanceOf(b)
      const p1 = proofOf(t1, b)
      const tx = await client(outsider).claim(1, b, p1.cumulative, p1.proof)
      assert.equal(await admin.balanceOf(b) - before, 20n * E18)
      assert.equal(await admin.claimed(b), 20n * E18)
      const ev = tx.events.find(e => e.name === 'Claimed')
      assert.deepEqual(ev?.args.toArray(), [b, 1n, 20n * E18, 20n * E18])

      const t2 = await postTree(2, [[a, 15n * E18], [b, 25n * E18], [c, 30n * E18]])
      await warp(WINDOW)
      const p2 = proofOf(t2, b)
      await client(outsider).claim(2, b, p2.cumulative, p2.proof)
      assert.equal(await admin.balanceOf(b) - before, 25n * E18)
      assert.equal(await admin.claimed(b), 25n * E18)
      // An old epoch's smaller cumulative pays nothing now.
      await expectRevert(client(outsider).claim(1, b, p1.cumulative, p1.proof), 'NothingToClaim', { account: b })
    })

    it('rejects a double claim', async function () {
      const [a, b] = wallets.slice(10, 12).map(w => w.address)
      const t = await postTree(1, [[a, 10n * E18], [b, 20n * E18]])
      await warp(WINDOW)
      const p = proofOf(t, a)
      await client(outsider).claim(1, a, p.cumulative, p.proof)
      await expectRevert(client(outsider).claim(1, a, p.cumulative, p.proof), 'NothingToClaim', { account: a })
    })

    it('rejects a proof for a wrong amount', async function () {
      const [a, b] = wallets.slice(10, 12).map(w => w.address)
      const t = await postTree(1, [[a, 10n * E18], [b, 20n * E18]])
      await warp(WINDOW)
      const p = proofOf(t, a)
      await expectRevert(client(outsider).claim(1, a, p.cumulative + 1n, p.proof), 'InvalidProof')
      // b's amount with a's proof is no better.
      await expectRevert(client(outsider).claim(1, a, 20n * E18, p.proof), 'InvalidProof')
    })

    it('rejects a claim before the challenge window closes, and an unknown epoch', async function () {
      const [a, b] = wallets.slice(10, 12).map(w => w.address)
      const t = await postTree(1, [[a, 10n * E18], [b, 20n * E18]])
      const { finalAt } = await admin.rootOf(1)
      const p = proofOf(t, a)
      await expectRevert(client(outsider).claim(1, a, p.cumulative, p.proof), 'RootNotFinal', { epoch: 1n, finalAt })
      await expectRevert(client(outsider).claim(2, a, p.cumulative, p.proof), 'UnknownEpoch', { epoch: 2n })
      await warp(WINDOW)
      await client(outsider).claim(1, a, p.cumulative, p.proof)
    })

    it('rejects a root signed by too few aggregators', async function () {
      const root = rand32()
      await admin.fund(10n * E18)
      const toBlock = await mined()
      const value = rootMessage(1, root, 10n * E18, toBlock)
      const one = await signed(aggregators.slice(0, 1), 'EpochRoot', value)
      await expectRevert(client(aggregators[0]).postRoot(1, root, 10n * E18, toBlock, one), 'TooFewSignatures', { count: 1n, quorum: 2n })
      await expectRevert(client(aggregators[0]).postRoot(1, root, 10n * E18, toBlock, '0x'), 'TooFewSignatures', { count: 0n, quorum: 2n })
      // The same aggregator twice is not two aggregators.
      const s = await signMessage(aggregators[0], 'EpochRoot', dist(), value)
      await expectRevert(client(aggregators[0]).postRoot(1, root, 10n * E18, toBlock, concat([s.signature, s.signature])), 'SignersNotAscending', { index: 1n })
    })

    it('rejects a root signed by an unstaked signer', async function () {
      const root = rand32()
      await admin.fund(10n * E18)
      // A verifier's stake is not aggregator stake either.
      for (const stranger of [outsider, verifiers[0]]) {
        const toBlock = await mined()
        const sigs = await signed([aggregators[0], stranger], 'EpochRoot', rootMessage(1, root, 10n * E18, toBlock))
        await expectRevert(client(aggregators[0]).postRoot(1, root, 10n * E18, toBlock, sigs), 'SignerNotStaked', { signer: stranger.address, role: 2n, stake: 0n })
      }
    })

    it('rejects a root replayed for another epoch, or its signatures under another cutoff', async function () {
      const [a, b] = wallets.slice(10, 12).map(w => w.address)
      const entries: Array<[string, bigint]> = [[a, 10n * E18], [b, 20n * E18]]
      const tree = StandardMerkleTree.of(entries, ['address', 'uint256'])
      await admin.fund(30n * E18)
      const cut1 = await mined()
      const sigs = await signed(aggregators.slice(0, 2), 'EpochRoot', rootMessage(1, tree.root, 30n * E18, cut1))
      await client(aggregators[0]).postRoot(1, tree.root, 30n * E18, cut1, sigs)
      await warp(WINDOW)
      // The same call again: epoch 1 is done.
      await expectRevert(client(outsider).postRoot(1, tree.root, 30n * E18, cut1, sigs), 'WrongEpoch', { expected: 2n, got: 1n })
      // Epoch 1's signatures presented as epoch 2's (with a valid later cutoff): they sign another message.
      const cut2 = await mined()
      const digest = await admin.read<string>('distributor', 'epochRootDigest', [2, tree.root, 30n * E18, cut2])
      const want = foreignSignatureError(digest, sigs)
      await expectRevert(client(outsider).postRoot(2, tree.root, 30n * E18, cut2, sigs), want.error, want.args)
      // Epoch 2's own signatures moved to another cutoff (paying other releases): they sign another message too.
      assert.ok(cut2 - 1 > cut1)
      const sigs2 = await signed(aggregators.slice(0, 2), 'EpochRoot', rootMessage(2, tree.root, 30n * E18, cut2))
      const moved = await admin.read<string>('distributor', 'epochRootDigest', [2, tree.root, 30n * E18, cut2 - 1])
      const wantMoved = foreignSignatureError(moved, sigs2)
      await expectRevert(client(outsider).postRoot(2, tree.root, 30n * E18, cut2 - 1, sigs2), wantMoved.error, wantMoved.args)
      await client(outsider).postRoot(2, tree.root, 30n * E18, cut2, sigs2)
      assert.equal(await admin.read<bigint>('distributor', 'cutoffOf', [2]), BigInt(cut2))
    })

    it('rejects a root signed for another chain id or another contract', async function () {
      const root = rand32()
      await admin.fund(10n * E18)
      const toBlock = await mined()
      const value = rootMessage(1, root, 10n * E18, toBlock)
      const digest = await admin.read<string>('distributor', 'epochRootDigest', [1, root, 10n * E18, toBlock])
      assert.equal(digest, TypedDataEncoder.hash(dist(), { EpochRoot: [...TYPES.EpochRoot] }, value))
      for (const dom of [domain('distributor', 1, addresses.distributor), domain('distributor', addresses.chainId, addresses.escrow)]) {
        const sigs = await signed(aggregators.slice(0, 2), 'EpochRoot', value, dom)
        const want = foreignSignatureError(digest, sigs)
        await expectRevert(client(aggregators[0]).postRoot(1, root, 10n * E18, toBlock, sigs), want.error, want.args)
      }
    })

    it('rejects a root the distributor cannot pay, and a zero root', async function () {
      const root = rand32()
      await admin.fund(5n * E18)
      await admin.transfer(addresses.distributor, 5n * E18) // a plain transfer doesn't count
      const total = 5n * E18 + 1n
      const toBlock = await mined()
      const sigs = await signed(aggregators.slice(0, 2), 'EpochRoot', rootMessage(1, root, total, toBlock))
      await expectRevert(client(aggregators[0]).postRoot(1, root, total, toBlock, sigs), 'RootNotFunded', { total, totalFunded: 5n * E18 })
      await expectRevert(client(aggregators[0]).postRoot(1, ZERO32, total, toBlock, sigs), 'ZeroRoot')
    })

    it('refuses a cutoff not yet mined, and one not after the previous epoch\'s', async function () {
      const total = 10n * E18
      await admin.fund(total)
      const r1 = rand32()
      const head = await mined()
      // The block the post would land in, or any later one: releases not yet on chain can't be paid for.
      for (const toBlock of [head + 1, head + 1_000]) {
        const sigs = await signed(aggregators.slice(0, 2), 'EpochRoot', rootMessage(1, r1, total, toBlock))
        const err = await expectRevert(client(aggregators[0]).postRoot(1, r1, total, toBlock, sigs), 'CutoffNotMined', { toBlock: BigInt(toBlock) })
        assert.ok((err.args.blockNumber as bigint) <= BigInt(toBlock))
      }
      const sigs1 = await signed(aggregators.slice(0, 2), 'EpochRoot', rootMessage(1, r1, total, head))
      const tx1 = await client(aggregators[0]).postRoot(1, r1, total, head, sigs1)
      const { finalAt } = await admin.rootOf(1)
      assert.deepEqual(tx1.events.find(e => e.name === 'RootPosted')?.args.toArray(), [1n, r1, total, finalAt, BigInt(head)])
      assert.equal((await admin.rootOf(1)).toBlock, BigInt(head))
      await warp(WINDOW)
      // Epoch 2 cut at epoch 1's block or earlier: it would pay those releases twice (or skip none).
      const r2 = rand32()
      for (const toBlock of [head, head - 1, 0]) {
        const sigs = await signed(aggregators.slice(0, 2), 'EpochRoot', rootMessage(2, r2, total, toBlock))
        await expectRevert(client(aggregators[0]).postRoot(2, r2, total, toBlock, sigs), 'CutoffNotAfterPrevious', { previous: BigInt(head), toBlock: BigInt(toBlock) })
      }
      const sigs2 = await signed(aggregators.slice(0, 2), 'EpochRoot', rootMessage(2, r2, total, head + 1))
      await client(aggregators[0]).postRoot(2, r2, total, head + 1, sigs2)
      assert.equal(await admin.read<bigint>('distributor', 'cutoffOf', [2]), BigInt(head + 1))
    })

    it('a stranger without OPEN cannot challenge (the bond transfer fails, the root stands); a watcher with the bond and no role can', async function () {
      const [a, b] = wallets.slice(10, 12).map(w => w.address)
      const tree = await postTree(1, [[a, 10n * E18], [b, 20n * E18]])
      const bond = await bondOf()
      assert.equal(bond, DEVNET_PARAMS.challengeBond, 'the deploy set the profile\'s bond')
      const stranger = new Wallet(rand32(), provider)
      await rpc('anvil_setBalance', [stranger.address, '0x' + E18.toString(16)]) // gas, no OPEN
      for (const role of Object.values(ROLE)) assert.equal(await admin.stakeOf(stranger.address, role), 0n)
      // No allowance: the distributor may not pull the bond.
      await expectRevert(client(stranger).send('distributor', 'challengeRoot', [1, rand32()]), 'ERC20InsufficientAllowance',
        { spender: addresses.distributor, allowance: 0n, needed: bond })
      // Approved (the client approves the bond), but nothing to pull.
      await expectRevert(client(stranger).challengeRoot(1, rand32()), 'ERC20InsufficientBalance', { sender: stranger.address, balance: 0n, needed: bond })
      assert.equal((await admin.rootOf(1)).root, tree.root, 'the root stands')
      assert.equal(await admin.nextEpoch(), 2n)
      assert.equal(await admin.read<bigint>('distributor', 'challengeCount'), 0n)

      // The outsider holds OPEN and no stake in any role: watchers need none.
      for (const role of Object.values(ROLE)) assert.equal(await admin.stakeOf(outsider.address, role), 0n)
      const evidence = rand32()
      await expectRevert(client(outsider).challengeRoot(1, ZERO32), 'EvidenceRequired')
      const tx = await client(outsider).challengeRoot(1, evidence)
      assert.deepEqual(tx.events.find(e => e.name === 'RootChallenged')?.args.toArray(), [1n, tree.root, evidence, outsider.address, 0n, bond])
      assert.equal(await admin.nextEpoch(), 1n)
      assert.deepEqual(await admin.rootOf(1), { root: ZERO32, total: 0n, finalAt: 0n, toBlock: 0n })
      // The cancelled root pays nothing, even after its window.
      await warp(WINDOW)
      const p = proofOf(tree, a)
      await expectRevert(client(outsider).claim(1, a, p.cumulative, p.proof), 'UnknownEpoch', { epoch: 1n })
    })

    it('a challenge costs the challenger exactly the bond, held apart from the reward funds', async function () {
      const [a] = wallets.slice(10, 11).map(w => w.address)
      const tree = await postTree(1, [[a, 10n * E18]])
      const bond = await bondOf()
      const [mine, held, funded] = [await admin.balanceOf(outsider.address), await admin.balanceOf(addresses.distributor), await admin.totalFunded()]
      const id = await challenge(outsider, 1)
      assert.equal(mine - await admin.balanceOf(outsider.address), bond)
      assert.equal(await admin.balanceOf(addresses.distributor) - held, bond)
      assert.equal(await admin.totalFunded(), funded, 'a bond is not funding')
      assert.deepEqual((await admin.read<{ toArray: () => unknown[] }>('distributor', 'challenges', [id])).toArray(), [outsider.address, 1n, tree.root, bond])
      assert.equal(await admin.read<bigint>('distributor', 'challengeCount'), 1n)
    })

    it('a griefer who cancels an honest root that is re-posted unchanged loses every bond to the treasury, each settled once', async function () {
      const [a, b] = wallets.slice(10, 12).map(w => w.address)
      const entries: Array<[string, bigint]> = [[a, 10n * E18], [b, 20n * E18]]
      const tree = await postTree(1, entries)
      const bond = await bondOf()
      const griefer = client(outsider)
      const start = await griefer.balanceOf(outsider.address)
      const ids: bigint[] = []
      for (let round = 0; round < 2; round++) {
        ids.push(await challenge(outsider, 1))
        await postTree(1, entries) // the aggregators stand by the same root
      }
      assert.equal(start - await griefer.balanceOf(outsider.address), 2n * bond)
      assert.equal((await admin.rootOf(1)).root, tree.root)
      await warp(WINDOW)
      const treasury = await admin.balanceOf(addresses.treasury)
      for (const id of ids) {
        const tx = await client(requester).settleChallenge(id) // anyone may settle
        assert.deepEqual(tx.events.find(e => e.name === 'ChallengeSettled')?.args.toArray(), [id, 1n, false, addresses.treasury, bond])
      }
      assert.equal(await admin.balanceOf(addresses.treasury) - treasury, 2n * bond)
      assert.equal(await griefer.balanceOf(outsider.address), start - 2n * bond, 'nothing back')
      for (const id of ids) {
        await expectRevert(griefer.settleChallenge(id), 'UnknownChallenge', { id })
        assert.deepEqual((await admin.read<{ toArray: () => unknown[] }>('distributor', 'challenges', [id])).toArray(), [ZeroAddress, 0n, ZERO32, 0n])
      }
      // The honest root pays as posted.
      const p = proofOf(tree, b)
      await client(outsider).claim(1, b, p.cumulative, p.proof)
      assert.equal(await admin.claimed(b), 20n * E18)
    })

    it('a challenge that replaced the root gets its bond back once the new root is final', async function () {
      const [a, b] = wallets.slice(10, 12).map(w => w.address)
      await postTree(1, [[a, 29n * E18], [b, 1n * E18]])
      const bond = await bondOf()
      const start = await admin.balanceOf(outsider.address)
      const id = await challenge(outsider, 1)
      const good = await postTree(1, [[a, 10n * E18], [b, 20n * E18]])
      const { finalAt } = await admin.rootOf(1)
      await warp(WINDOW)
      // Once final, the root can't be challenged any more.
      await expectRevert(client(outsider).challengeRoot(1, rand32()), 'RootAlreadyFinal', { epoch: 1n, finalAt })
      const treasury = await admin.balanceOf(addresses.treasury)
      const tx = await client(requester).settleChallenge(id)
      assert.deepEqual(tx.events.find(e => e.name === 'ChallengeSettled')?.args.toArray(), [id, 1n, true, outsider.address, bond])
      assert.equal(await admin.balanceOf(outsider.address), start, 'the bond is back')
      assert.equal(await admin.balanceOf(addresses.treasury), treasury)
      await expectRevert(client(outsider).settleChallenge(id), 'UnknownChallenge', { id })
      const q = proofOf(good, b)
      await client(outsider).claim(1, b, q.cumulative, q.proof)
      assert.equal(await admin.claimed(b), 20n * E18)
    })

    it('a bond stays put until its epoch has a final root, and an unknown id settles nothing', async function () {
      const [a, b] = wallets.slice(10, 12).map(w => w.address)
      const entries: Array<[string, bigint]> = [[a, 10n * E18], [b, 20n * E18]]
      await postTree(1, entries)
      await expectRevert(client(outsider).settleChallenge(0), 'UnknownChallenge', { id: 0n })
      const id = await challenge(outsider, 1)
      await expectRevert(client(outsider).settleChallenge(id + 1n), 'UnknownChallenge', { id: id + 1n })
      // Nothing posted since the challenge: no root to judge it by, now or after the window.
      await expectRevert(client(outsider).settleChallenge(id), 'UnknownEpoch', { epoch: 1n })
      await warp(WINDOW)
      await expectRevert(client(outsider).settleChallenge(id), 'UnknownEpoch', { epoch: 1n })
      // Re-posted but still pending: it could yet be challenged and replaced.
      await postTree(1, entries)
      const { finalAt } = await admin.rootOf(1)
      await expectRevert(client(outsider).settleChallenge(id), 'RootNotFinal', { epoch: 1n, finalAt })
      await warp(WINDOW)
      await client(outsider).settleChallenge(id)
    })

    it('a challenge of an older or unposted epoch is refused', async function () {
      const [a] = wallets.slice(10, 11).map(w => w.address)
      await expectRevert(client(outsider).challengeRoot(1, rand32()), 'NotLatestEpoch', { latest: 0n, got: 1n })
      await postTree(1, [[a, 1n * E18]])
      await warp(WINDOW)
      await postTree(2, [[a, 2n * E18]])
      await expectRevert(client(outsider).challengeRoot(1, rand32()), 'NotLatestEpoch', { latest: 2n, got: 1n })
      await expectRevert(client(outsider).challengeRoot(3, rand32()), 'NotLatestEpoch', { latest: 2n, got: 3n })
      await expectRevert(client(outsider).challengeRoot(0, rand32()), 'NotLatestEpoch', { latest: 2n, got: 0n })
    })

    it('a bond never backs a root: after a challenge, a total over totalFunded is refused though the balance covers it', async function () {
      const [a] = wallets.slice(10, 11).map(w => w.address)
      await postTree(1, [[a, 10n * E18]])
      const bond = await bondOf()
      await challenge(outsider, 1)
      const funded = await admin.totalFunded()
      assert.equal(await admin.balanceOf(addresses.distributor), funded + bond)
      // An aggregator quorum signs a root that would pay the bond out as rewards.
      const root = rand32()
      const total = funded + bond
      const toBlock = await mined()
      const sigs = await signed(aggregators.slice(0, 2), 'EpochRoot', rootMessage(1, root, total, toBlock))
      await expectRevert(client(aggregators[0]).postRoot(1, root, total, toBlock, sigs), 'RootNotFunded', { total, totalFunded: funded })
      assert.equal(await admin.nextEpoch(), 1n)
    })

    it('refuses a new root while the previous one is still pending', async function () {
      const [a] = wallets.slice(10, 11).map(w => w.address)
      await postTree(1, [[a, 1n * E18]])
      const { finalAt } = await admin.rootOf(1)
      const root = rand32()
      const toBlock = await mined()
      const sigs = await signed(aggregators.slice(0, 2), 'EpochRoot', rootMessage(2, root, 1n * E18, toBlock))
      await expectRevert(client(aggregators[0]).postRoot(2, root, 1n * E18, toBlock, sigs), 'PreviousRootNotFinal', { epoch: 1n, finalAt })
    })

    it('claimMultiple pays several accounts with one multiproof and skips those already paid', async function () {
      const people = wallets.slice(1, 12).map(w => w.address)
      const entries = people.map((a, i): [string, bigint] => [a, BigInt(i + 1) * E18])
      const tree = await postTree(1, entries)
      await warp(WINDOW)
      const picked = [people[2], people[5], people[6], people[9]]
      const single = proofOf(tree, people[5])
      await client(outsider).claim(1, people[5], single.cumulative, single.proof)

      const multi = tree.getMultiProof(picked.map(a => entries.findIndex(([x]) => x === a)))
      const accounts = multi.leaves.map(([a]) => a)
      const cumulatives = multi.leaves.map(([, c]) => c)
      const before = await Promise.all(accounts.map(async a => await admin.balanceOf(a)))
      const tx = await client(outsider).claimMultiple(1, accounts, cumulatives, multi.proof, multi.proofFlags)
      const after = await Promise.all(accounts.map(async a => await admin.balanceOf(a)))
      for (const [i, a] of accounts.entries()) {
        assert.equal(after[i] - before[i], a === people[5] ? 0n : cumulatives[i], a)
        assert.equal(await admin.claimed(a), cumulatives[i])
      }
      assert.equal(tx.events.filter(e => e.name === 'Claimed').length, 3)
      // Tampered amount: the multiproof no longer reaches the root.
      const bumped = cumulatives.map((c, i) => i === 0 ? c + 1n : c)
      await expectRevert(client(outsider).claimMultiple(1, accounts, bumped, multi.proof, multi.proofFlags), 'InvalidProof')
      await expectRevert(client(outsider).claimMultiple(1, accounts, cumulatives.slice(1), multi.proof, multi.proofFlags), 'LengthMismatch')
    })

    it('a returning claimant pays <= 60,000 gas at tree depth 17', async function () {
      // 100k recipients make a depth-17 tree; a leaf plus 17 random siblings defines such a root.
      const account = wallets[11].address
      const handmade = (cumulative: bigint): { root: string, proof: string[] } => {
        const proof = Array.from({ length: 17 }, rand32)
        let node = leafOf(account, cumulative)
        for (const sibling of proof) node = hashPair(node, sibling)
        return { root: node, proof }
      }
      const post = async (epoch: number, root: string, total: bigint): Promise<bigint> => {
        const owed = total - await admin.totalFunded()
        if (owed > 0n) await admin.fund(owed)
        const toBlock = await mined()
        const sigs = await signed(aggregators.slice(0, 2), 'EpochRoot', rootMessage(epoch, root, total, toBlock))
        return (await client(aggregators[0]).postRoot(epoch, root, total, toBlock, sigs)).gasUsed
      }
      const first = handmade(1234n * E18)
      const postGas = await post(1, first.root, 100_000n * E18)
      await warp(WINDOW)
      const firstGas = (await client(outsider).claim(1, account, 1234n * E18, first.proof)).gasUsed
      const second = handmade(2345n * E18)
      await post(2, second.root, 200_000n * E18)
      await warp(WINDOW)
      // Final but not yet finalized: the claim reads the epoch record too.
      const slowGas = await client(outsider).c.distributor.getFunction('claim').estimateGas(2, account, 2345n * E18, second.proof)
      const finalizeGas = (await client(outsider).finalize(2)).gasUsed
      const tx = await client(outsider).claim(2, account, 2345n * E18, second.proof)
      assert.equal(await admin.claimed(account), 2345n * E18)
      console.log(`      gas: postRoot (2 aggregators) ${postGas}, finalize ${finalizeGas}, first claim ${firstGas}, ` +
        `returning claim ${tx.gasUsed} (depth 17; ${slowGas} estimated before finalize)`)
      assert.ok(tx.gasUsed <= 60_000n, `returning claim used ${tx.gasUsed} gas`)
    })
  })

  describe('Staking', function () {
    it('stakes, unbonds, and withdraws only after the delay', async function () {
      const w = client(worker)
      assert.equal(await w.stakeOf(worker.address, ROLE.worker), 200n * E18)
      await expectRevert(w.requestUnbond(ROLE.worker, 201n * E18), 'InsufficientStake', { requested: 201n * E18 })
      await w.requestUnbond(ROLE.worker, 150n * E18)
      assert.equal(await w.stakeOf(worker.address, ROLE.worker), 50n * E18)
      const { amount, unlockAt } = await w.unbondingOf(worker.address, ROLE.worker)
      assert.equal(amount, 150n * E18)
      await expectRevert(w.withdraw(ROLE.worker), 'StillUnbonding', { unlockAt })
      await warp(Number(unlockAt) - await now())
      const before = await w.balanceOf(worker.address)
      await w.withdraw(ROLE.worker)
      assert.equal(await w.balanceOf(worker.address) - before, 150n * E18)
      await expectRevert(w.withdraw(ROLE.worker), 'NothingUnbonding')
      await expectRevert(w.stake(7 as 0, 1n), 'UnknownRole', { role: 7n })
    })

    /**
     * A job the worker took: opened by the requester, assigned (verifiers v0 and v1, referee
     * v2; overridable), the worker's Participation over its result. Returns what slash() takes.
     */
    async function takenJob (over: Partial<AssignmentMessage> = {}, participant: Wallet = worker, by: Wallet = requester): Promise<{ jobId: string, resultHash: string, a: EscrowAssignment, aSig: string, participation: string }> {
      const jobId = rand32()
      const resultHash = rand32()
      await client(by).openJob(jobId, 10n * E18, await now() + 3600)
      const full = { jobId, worker: worker.address, verifiers: [verifiers[0].address, verifiers[1].address], referee: verifiers[2].address, spec: rand32(), ...over }
      const aSig = (await signMessage(by, 'Assignment', admin.domain('escrow'), full)).signature
      const participation = (await signMessage(participant, 'Participation', admin.domain('escrow'), { jobId, resultHash })).signature
      return { jobId, resultHash, a: { worker: full.worker, verifiers: full.verifiers, referee: full.referee, spec: full.spec }, aSig, participation }
    }

    it('slashes the assigned worker on its job, signed by the referee: the prover gets its share, the treasury the rest, unbonding stake included', async function () {
      const prover = outsider.address
      await client(worker).requestUnbond(ROLE.worker, 180n * E18) // trying to leave doesn't help
      const j = await takenJob()
      const c = { jobId: j.jobId, peer: worker.address, role: ROLE.worker, amount: 50n * E18, evidence: rand32(), prover, resultHash: j.resultHash }
      const sigs = await signed([verifiers[0], verifiers[2]], 'Slash', c)
      const proverBefore = await admin.balanceOf(prover)
      const treasuryBefore = await admin.balanceOf(addresses.treasury)
      const tx = await client(outsider).slash(c, j.a, j.aSig, j.participation, sigs)
      assert.equal(await admin.balanceOf(prover) - proverBefore, 25n * E18)
      assert.equal(await admin.balanceOf(addresses.treasury) - treasuryBefore, 25n * E18)
      assert.equal(await admin.stakeOf(worker.address, ROLE.worker), 0n)
      assert.equal((await admin.unbondingOf(worker.address, ROLE.worker)).amount, 150n * E18)
      const ev = tx.events.find(e => e.name === 'Slashed')
      assert.deepEqual(ev?.args.toArray(), [worker.address, BigInt(ROLE.worker), c.evidence, 50n * E18, prover, 25n * E18, 25n * E18, j.jobId])
      // An assigned verifier that took part can be slashed the same way (a false accusation, say).
      const v = await takenJob({}, verifiers[1])
      const cv = { jobId: v.jobId, peer: verifiers[1].address, role: ROLE.verifier, amount: 10n * E18, evidence: rand32(), prover: worker.address, resultHash: v.resultHash }
      await client(outsider).slash(cv, v.a, v.aSig, v.participation, await signed([verifiers[0], verifiers[2]], 'Slash', cv))
      assert.equal(await admin.stakeOf(verifiers[1].address, ROLE.verifier), 490n * E18)
    })

    it('a staked stranger slashes nobody: its own job, a forged assignment, a peer not named or that never took part, unassigned signers, no referee', async function () {
      const [stranger, stranger2] = [wallets[10], wallets[11]]
      for (const w of [stranger, stranger2]) await client(w).stake(ROLE.verifier, 500n * E18)
      const s = client(stranger)
      const caseOf = (j: { jobId: string, resultHash: string }, over: Record<string, unknown> = {}) => ({ jobId: j.jobId, peer: worker.address, role: ROLE.worker, amount: 10n * E18, evidence: rand32(), prover: stranger.address, resultHash: j.resultHash, ...over })
      const strangers = [stranger, stranger2]

      // The stranger opens its own job, names the honest worker and itself as verifiers and referee: the worker never took it.
      const own = await takenJob({ verifiers: [stranger2.address], referee: stranger.address }, stranger, stranger)
      const c1 = caseOf(own)
      await expectRevert(s.slash(c1, own.a, own.aSig, own.participation, await signed(strangers, 'Slash', c1)), 'NoParticipation', { jobId: own.jobId, peer: worker.address })
      // A real job the worker took, with an assignment the stranger signed itself naming itself referee.
      const real = await takenJob()
      const forged = { ...real.a, referee: stranger.address }
      const forgedSig = (await signMessage(stranger, 'Assignment', admin.domain('escrow'), { jobId: real.jobId, ...forged })).signature
      const c2 = caseOf(real)
      await expectRevert(s.slash(c2, forged, forgedSig, real.participation, await signed(strangers, 'Slash', c2)), 'AssignmentNotByRequester', { jobId: real.jobId })
      // The real assignment, signed by strangers: they are not assigned.
      await expectRevert(s.slash(c2, real.a, real.aSig, real.participation, await signed(strangers, 'Slash', c2)), 'SignerNotAssigned', { jobId: real.jobId })
      // Assigned verifiers without the referee: a rejection goes to the referee before any slash.
      await expectRevert(s.slash(c2, real.a, real.aSig, real.participation, await signed(verifiers.slice(0, 2), 'Slash', c2)), 'RefereeMustSign', { jobId: real.jobId, referee: verifiers[2].address })
      // A peer the assignment does not name, in either role.
      const c3 = caseOf(real, { peer: outsider.address })
      await expectRevert(s.slash(c3, real.a, real.aSig, real.participation, await signed([verifiers[0], verifiers[2]], 'Slash', c3)), 'NotAssignedToJob', { peer: outsider.address })
      const c4 = caseOf(real, { peer: verifiers[0].address, role: ROLE.verifier })
      await expectRevert(s.slash(c4, real.a, real.aSig, real.participation, await signed([verifiers[1], verifiers[2]], 'Slash', c4)), 'NoParticipation', { peer: verifiers[0].address })
      // The slashed peer signing against itself does not count (the worker is staked as a verifier too).
      await client(worker).stake(ROLE.verifier, 500n * E18)
      const c5 = caseOf(real)
      await expectRevert(s.slash(c5, real.a, real.aSig, real.participation, await signed([worker, verifiers[2]], 'Slash', c5)), 'SlashedPeerSigned', { peer: worker.address })
      // A job without a referee slashes nobody; nor an aggregator through a job.
      const bare = await takenJob({ referee: ZeroAddress })
      const c6 = caseOf(bare)
      await expectRevert(s.slash(c6, bare.a, bare.aSig, bare.participation, await signed(verifiers.slice(0, 2), 'Slash', c6)), 'NoReferee', { jobId: bare.jobId })
      await expectRevert(s.slash(caseOf(real, { role: ROLE.aggregator }), real.a, real.aSig, real.participation, '0x'), 'RoleNotSlashableByJob')
      // A job that does not exist.
      const ghost = { ...real, jobId: rand32() }
      const c7 = caseOf(ghost)
      await expectRevert(s.slash(c7, real.a, real.aSig, real.participation, await signed([verifiers[0], verifiers[2]], 'Slash', c7)), 'JobNotOpen', { jobId: ghost.jobId })
      assert.equal(await admin.stakeOf(worker.address, ROLE.worker), 200n * E18, 'the honest worker kept its stake through every attempt')
      await expectRevert(client(outsider).send('staking', 'setEscrow', [outsider.address]), 'NotDeployer', { caller: outsider.address })
      await expectRevert(admin.send('staking', 'setEscrow', [outsider.address]), 'EscrowAlreadySet', { escrow: addresses.escrow })
    })

    it('refuses to slash without evidence: zero hash, reused evidence, too few signers, wrong role, another amount, over the limit', async function () {
      const j = await takenJob()
      const s = client(outsider)
      const signers = [verifiers[0], verifiers[2]]
      const zero = { jobId: j.jobId, peer: worker.address, role: ROLE.worker, amount: 10n * E18, evidence: ZERO32, prover: outsider.address, resultHash: j.resultHash }
      await expectRevert(s.slash(zero, j.a, j.aSig, j.participation, await signed(signers, 'Slash', zero)), 'EvidenceRequired')

      const c = { ...zero, evidence: rand32() }
      const sigs = await signed(signers, 'Slash', c)
      await s.slash(c, j.a, j.aSig, j.participation, sigs)
      await expectRevert(s.slash(c, j.a, j.aSig, j.participation, sigs), 'EvidenceAlreadyUsed', { evidence: c.evidence })

      const fresh = { ...zero, evidence: rand32() }
      await expectRevert(s.slash(fresh, j.a, j.aSig, j.participation, await signed([verifiers[2]], 'Slash', fresh)), 'TooFewSignatures', { count: 1n, quorum: 2n })
      // Aggregators are not verifiers.
      await expectRevert(s.slash(fresh, j.a, j.aSig, j.participation, await signed([aggregators[0], verifiers[2]], 'Slash', fresh)), 'SignerNotStaked', { signer: aggregators[0].address })
      // The signed amount is the amount: signatures for 10 don't slash 40.
      const forty = { ...fresh, amount: 40n * E18 }
      const digest = await admin.read<string>('staking', 'slashDigest', [forty])
      const two = await signed(signers, 'Slash', fresh)
      const want = foreignSignatureError(digest, two)
      await expectRevert(s.slash(forty, j.a, j.aSig, j.participation, two), want.error, want.args)
      // And no more than the registry's slash amount for the role.
      const big = { ...fresh, amount: 51n * E18 }
      await expectRevert(s.slash(big, j.a, j.aSig, j.participation, await signed(signers, 'Slash', big)), 'SlashTooLarge', { max: 50n * E18 })
    })

    it('an unbonding verifier no longer counts as a signer, and an empty position has nothing to slash', async function () {
      await client(verifiers[0]).requestUnbond(ROLE.verifier, 500n * E18)
      const j = await takenJob()
      const c = { jobId: j.jobId, peer: worker.address, role: ROLE.worker, amount: 10n * E18, evidence: rand32(), prover: outsider.address, resultHash: j.resultHash }
      await expectRevert(client(outsider).slash(c, j.a, j.aSig, j.participation, await signed([verifiers[0], verifiers[2]], 'Slash', c)),
        'SignerNotStaked', { signer: verifiers[0].address, stake: 0n })
      // The outsider took a job as its worker but holds no worker stake.
      const n = await takenJob({ worker: outsider.address }, outsider)
      const cn = { ...c, jobId: n.jobId, peer: outsider.address, resultHash: n.resultHash }
      await expectRevert(client(outsider).slash(cn, n.a, n.aSig, n.participation, await signed([verifiers[1], verifiers[2]], 'Slash', cn)), 'NothingToSlash', { peer: outsider.address })
    })
  })

  describe('JobEscrow', function () {
    /** The requester's signed assignment of `jobId`: worker, verifiers v0 and v1, referee v2 (overridable). */
    async function assigned (jobId: string, over: Partial<AssignmentMessage> = {}, by: Wallet = requester, esc?: string): Promise<{ a: EscrowAssignment, sig: string }> {
      const a = { jobId, worker: worker.address, verifiers: [verifiers[0].address, verifiers[1].address], referee: verifiers[2].address, spec: keccak256('0x01'), ...over }
      const sig = (await signMessage(by, 'Assignment', esc === undefined ? admin.domain('escrow') : domain('escrow', addresses.chainId, esc), a)).signature
      return { a: { worker: a.worker, verifiers: a.verifiers, referee: a.referee, spec: a.spec }, sig }
    }

    it('a staked stranger, never assigned, releases nothing: not with its own assignment, its own signatures, or the worker\'s', async function () {
      const [stranger, stranger2] = [wallets[10], wallets[11]]
      for (const s of [stranger, stranger2]) await client(s).stake(ROLE.verifier, 500n * E18)
      await client(worker).stake(ROLE.verifier, 500n * E18) // a worker that is also a staked verifier
      const jobId = rand32()
      const resultHash = rand32()
      await client(requester).openJob(jobId, 40n * E18, await now() + 3600)
      const real = await assigned(jobId)
      const strangers = [stranger, stranger2]

      // The reported attack: the stranger names itself the worker and signs the completion; it cannot sign as the requester.
      const forged = await assigned(jobId, { worker: stranger.address, verifiers: [stranger2.address], referee: ZeroAddress }, stranger)
      const own = await signed(strangers, 'Completion', { jobId, worker: stranger.address, resultHash })
      await expectRevert(client(stranger).releaseJob(jobId, forged.a, forged.sig, resultHash, own), 'AssignmentNotByRequester', { jobId, signer: stranger.address })
      // The requester's real assignment with the worker swapped for the stranger: the signature no longer matches.
      await expectRevert(client(stranger).releaseJob(jobId, { ...real.a, worker: stranger.address }, real.sig, resultHash, own), 'AssignmentNotByRequester', { jobId })
      // The real assignment, the strangers' own completions for the real worker: they were not assigned.
      const byStrangers = await signed(strangers, 'Completion', { jobId, worker: worker.address, resultHash })
      const sorted = strangers.map(w => w.address).sort((x, y) => BigInt(x) < BigInt(y) ? -1 : 1)
      await expectRevert(client(stranger).releaseJob(jobId, real.a, real.sig, resultHash, byStrangers), 'SignerNotAssigned', { jobId, signer: sorted[0] })
      // One assigned verifier and one stranger: the stranger does not count.
      const mixed = await signed([verifiers[0], stranger], 'Completion', { jobId, worker: worker.address, resultHash })
      await expectRevert(client(stranger).releaseJob(jobId, real.a, real.sig, resultHash, mixed), 'SignerNotAssigned', { jobId, signer: stranger.address })
      // The worker signing its own completion, with one assigned verifier.
      const self = await signed([verifiers[0], worker], 'Completion', { jobId, worker: worker.address, resultHash })
      await expectRevert(client(worker).releaseJob(jobId, real.a, real.sig, resultHash, self), 'WorkerSignedOwnCompletion', { jobId, worker: worker.address })
      // Below the quorum, and signatures over another worker: refused as before.
      const one = await signed(verifiers.slice(0, 1), 'Completion', { jobId, worker: worker.address, resultHash })
      await expectRevert(client(outsider).releaseJob(jobId, real.a, real.sig, resultHash, one), 'TooFewSignatures')
      assert.equal((await admin.jobOf(jobId)).status, 1, 'still open after every attack')

      // The assigned verifiers release it, whoever submits; the event names the spec.
      const sigs = await signed(verifiers.slice(0, 2), 'Completion', { jobId, worker: worker.address, resultHash })
      const before = await admin.balanceOf(addresses.distributor)
      const tx = await client(outsider).releaseJob(jobId, real.a, real.sig, resultHash, sigs)
      assert.equal(await admin.balanceOf(addresses.distributor) - before, 40n * E18)
      const released = tx.events.find(e => e.name === 'JobReleased')?.args.toArray(true)
      const signers = verifiers.slice(0, 2).map(v => v.address).sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1))
      assert.deepEqual(released, [jobId, worker.address, resultHash, 40n * E18, signers, real.a.spec])
      await expectRevert(client(outsider).releaseJob(jobId, real.a, real.sig, resultHash, sigs), 'JobNotOpen', { jobId, status: 2n })
      await expectRevert(client(requester).refundJob(jobId), 'JobNotOpen', { status: 2n })
    })

    it('the referee counts toward the quorum, and an earlier assignment stays payable after a replacement', async function () {
      const jobId = rand32()
      const resultHash = rand32()
      await client(requester).openJob(jobId, 40n * E18, await now() + 3600)
      const first = await assigned(jobId)
      // The requester replaces the worker (it went silent, say): both assignments are its own.
      await assigned(jobId, { worker: outsider.address })
      const sigs = await signed([verifiers[0], verifiers[2]], 'Completion', { jobId, worker: worker.address, resultHash })
      const tx = await client(worker).releaseJob(jobId, first.a, first.sig, resultHash, sigs)
      assert.equal(tx.events.find(e => e.name === 'JobReleased')?.args.worker, worker.address)
    })

    it('refuses an assignment that names the worker as its own verifier or referee, no verifier, or too many', async function () {
      const jobId = rand32()
      await client(requester).openJob(jobId, 40n * E18, await now() + 3600)
      const seventeen = [verifiers[0].address, verifiers[1].address, ...Array.from({ length: 15 }, (_, i) => getAddress('0x' + (i + 1).toString(16).padStart(40, '0')))]
      for (const over of [{ verifiers: [worker.address, verifiers[0].address] }, { referee: worker.address }, { verifiers: [] }, { verifiers: seventeen }]) {
        const bad = await assigned(jobId, over)
        const sigs = await signed(verifiers.slice(0, 2), 'Completion', { jobId, worker: worker.address, resultHash: ZERO32 })
        await expectRevert(client(outsider).releaseJob(jobId, bad.a, bad.sig, ZERO32, sigs), 'AssignmentMalformed', { jobId })
      }
    })

    it('refuses an escrow that would outlast the registry\'s longest escrow (and so the unbonding delay): DeadlineTooFar', async function () {
      const longest = Number(await admin.read<bigint>('registry', 'maxEscrowDuration'))
      const jobId = rand32()
      // A deadline past now + maxEscrowDuration: a verifier could unbond and leave before the job ends.
      const far = await now() + longest + 1_000
      const err = await expectRevert(client(requester).openJob(jobId, 40n * E18, far), 'DeadlineTooFar', { deadline: BigInt(far) })
      assert.ok((err.args.latest as bigint) < BigInt(far))
      assert.equal((await admin.jobOf(jobId)).status, 0, 'nothing escrowed')
      // Just inside the bound is taken.
      await client(requester).openJob(jobId, 40n * E18, await now() + longest - 60)
      assert.equal((await admin.jobOf(jobId)).status, 1)
    })

    it('refunds after the deadline, not before, and not twice', async function () {
      const jobId = rand32()
      const deadline = await now() + 600
      await client(requester).openJob(jobId, 40n * E18, deadline)
      await expectRevert(client(requester).refundJob(jobId), 'JobNotExpired', { jobId, deadline: BigInt(deadline) })
      await warp(601)
      const resultHash = rand32()
      const sigs = await signed(verifiers.slice(0, 2), 'Completion', { jobId, worker: worker.address, resultHash })
      const { a, sig } = await assigned(jobId)
      await expectRevert(client(outsider).releaseJob(jobId, a, sig, resultHash, sigs), 'JobExpired', { jobId })
      const before = await admin.balanceOf(requester.address)
      await client(outsider).refundJob(jobId) // anyone may trigger it; the money goes to the requester
      assert.equal(await admin.balanceOf(requester.address) - before, 40n * E18)
      await expectRevert(client(requester).refundJob(jobId), 'JobNotOpen', { status: 3n })
    })

    it('a token that re-enters the escrow during release is stopped by the reentrancy guard', async function () {
      const { contracts } = await compileContracts()
      const art = (name: string): [InterfaceAbi, string] => [contracts[name].abi as InterfaceAbi, contracts[name].bytecode]
      const evilToken = await new ContractFactory(...art('ReentrantToken'), requester).deploy(requester.address, 1000n * E18)
      await evilToken.waitForDeployment()
      const evilDistributor = await new ContractFactory(...art('RewardDistributor'), requester).deploy(
        await evilToken.getAddress(), addresses.staking, addresses.registry)
      await evilDistributor.waitForDeployment()
      const escrow = await new ContractFactory(...art('JobEscrow'), requester).deploy(
        await evilToken.getAddress(), addresses.staking, addresses.registry, await evilDistributor.getAddress())
      await escrow.waitForDeployment()
      const escrowAddr = await escrow.getAddress()
      const token = evilToken as Contract
      const esc = escrow as Contract
      await (await token.getFunction('approve').send(escrowAddr, 100n * E18)).wait()
      const deadline = await now() + 3600
      const [job1, job2] = [rand32(), rand32()]
      await (await esc.getFunction('open').send(job1, 10n * E18, deadline)).wait()
      await (await esc.getFunction('open').send(job2, 10n * E18, deadline)).wait()
      // While job1's payout moves tokens, the token asks for job2's refund (a second payout in one call).
      await (await token.getFunction('arm').send(escrowAddr, esc.interface.encodeFunctionData('refund', [job2]))).wait()
      const resultHash = rand32()
      const sigs = await signed(verifiers.slice(0, 2), 'Completion', { jobId: job1, worker: worker.address, resultHash }, domain('escrow', addresses.chainId, escrowAddr))
      const { a, sig } = await assigned(job1, {}, requester, escrowAddr)
      await expectRevert(admin.as(outsider).send(esc.connect(outsider) as Contract, 'release', [job1, a, sig, resultHash, sigs]), 'ReentrancyGuardReentrantCall')
      const [, , , status] = await esc.getFunction('jobOf').staticCall(job1) as [string, bigint, bigint, bigint]
      assert.equal(status, 1n, 'job1 still open: the whole release rolled back')
    })
  })

  describe('Governance', function () {
    it('a proposal pays its fee, passes, waits out the timelock and changes a registry parameter', async function () {
      const voter = client(outsider)
      await voter.lockForVotes(50_000n * E18)
      await warp(1) // votes count from the next second
      const proposal = admin.registryProposal('setChallengeWindow', [7200], 'Challenge window: two hours')

      // No allowance for the fee: refused with the fee error.
      await expectRevert(voter.send('governor', 'propose', [proposal.targets, proposal.values, proposal.calldatas, proposal.description]),
        'ProposalFeeNotPaid', { proposer: outsider.address, fee: 10n * E18, allowance: 0n })

      const treasuryBefore = await admin.balanceOf(addresses.treasury)
      const { proposalId, tx } = await voter.propose(proposal)
      assert.equal(await admin.balanceOf(addresses.treasury) - treasuryBefore, 10n * E18)
      assert.ok(tx.events.some(e => e.name === 'ProposalFeePaid'))
      assert.equal(await voter.proposalState(proposalId), 'Pending')
      await warp(61)
      await voter.castVote(proposalId, 1)
      await warp(601)
      assert.equal(await voter.proposalState(proposalId), 'Succeeded')
      await voter.queue(proposal)
      assert.equal(await voter.proposalState(proposalId), 'Queued')

      // Executing before the timelock delay: the timelock refuses.
      await expectRevert(voter.execute(proposal), 'TimelockUnexpectedOperationState')
      await warp(301)
      const exec = await voter.execute(proposal)
      assert.ok(exec.events.some(e => e.name === 'ChallengeWindowSet'))
      assert.equal(await admin.read<bigint>('registry', 'challengeWindow'), 7200n)
      assert.equal(await voter.proposalState(proposalId), 'Executed')
    })

    it('the registry obeys only the timelock, within bounds', async function () {
      await expectRevert(admin.send('registry', 'setChallengeWindow', [7200]), 'OwnableUnauthorizedAccount', { account: addresses.treasury })
      // Impersonate the timelock to check the bounds themselves.
      await rpc('anvil_impersonateAccount', [addresses.timelock])
      await rpc('anvil_setBalance', [addresses.timelock, '0x' + (10n ** 18n).toString(16)])
      const timelock = admin.as(await provider.getSigner(addresses.timelock))
      try {
        await expectRevert(timelock.send('registry', 'setChallengeWindow', [1]), 'ParameterOutOfRange', { value: 1n, min: 60n })
        await expectRevert(timelock.send('registry', 'setAggregatorQuorum', [0]), 'ParameterOutOfRange', { value: 0n, min: 1n })
        await expectRevert(timelock.send('registry', 'setMinStake', [ROLE.aggregator, 0]), 'ParameterOutOfRange', { value: 0n })
        await expectRevert(timelock.send('registry', 'setRewardSplit', [5000, 2000, 2500, 400]), 'RewardSplitNotWhole', { sum: 9900n })
        await timelock.send('registry', 'setRewardSplit', [6000, 1000, 2500, 500])
        assert.deepEqual((await admin.read<{ toArray: () => unknown[] }>('registry', 'rewardSplit')).toArray(), [6000n, 1000n, 2500n, 500n])
      } finally {
        await rpc('anvil_stopImpersonatingAccount', [addresses.timelock])
      }
    })

    it('the challenge bond: only the owner sets it, never under 1 OPEN, and the next challenge costs the new bond', async function () {
      const minimum = await admin.read<bigint>('registry', 'MIN_CHALLENGE_BOND')
      const maxAmount = await admin.read<bigint>('registry', 'MAX_AMOUNT')
      assert.equal(minimum, E18)
      // Not the deployer (it handed the registry over), not a stranger.
      await expectRevert(admin.send('registry', 'setChallengeBond', [minimum]), 'OwnableUnauthorizedAccount', { account: addresses.treasury })
      await expectRevert(client(outsider).send('registry', 'setChallengeBond', [minimum]), 'OwnableUnauthorizedAccount', { account: outsider.address })
      await asTimelock(async (timelock) => {
        // A free (or near-free) challenge would let one account cancel every root.
        for (const value of [0n, 1n, minimum - 1n]) {
          await expectRevert(timelock.send('registry', 'setChallengeBond', [value]), 'ParameterOutOfRange', { name: encodeBytes32String('challengeBond'), value, min: minimum, max: maxAmount })
        }
        await expectRevert(timelock.send('registry', 'setChallengeBond', [maxAmount + 1n]), 'ParameterOutOfRange', { value: maxAmount + 1n, max: maxAmount })
        const tx = await timelock.send('registry', 'setChallengeBond', [25n * E18])
        assert.deepEqual(tx.events.find(e => e.name === 'ChallengeBondSet')?.args.toArray(), [DEVNET_PARAMS.challengeBond, 25n * E18])
      })
      assert.equal(await admin.read<bigint>('registry', 'challengeBond'), 25n * E18)
      await postTree(1, [[wallets[10].address, 1n * E18]])
      const before = await admin.balanceOf(outsider.address)
      const id = await challenge(outsider, 1)
      assert.equal(before - await admin.balanceOf(outsider.address), 25n * E18)
      assert.equal((await admin.read<{ toArray: () => unknown[] }>('distributor', 'challenges', [id])).toArray()[3], 25n * E18)
    })

    it('a passed proposal cannot shorten the unbonding delay to the longest escrow plus the challenge window: execution reverts', async function () {
      const [longest, window, delay] = await Promise.all(['maxEscrowDuration', 'challengeWindow', 'unbondingDelay'].map(async p => await admin.read<bigint>('registry', p)))
      const voter = client(outsider)
      await voter.lockForVotes(50_000n * E18)
      await warp(1)
      // The attack: stakers vote themselves a delay short enough to leave before their last job's slash can land.
      const proposal = admin.registryProposal('setUnbondingDelay', [longest + window], 'Unbonding: faster exits')
      const { proposalId } = await voter.propose(proposal)
      await warp(61)
      await voter.castVote(proposalId, 1)
      await warp(601)
      await voter.queue(proposal)
      await warp(301)
      await expectRevert(voter.execute(proposal), 'UnbondingTooShort', { unbondingDelay: longest + window, maxEscrowDuration: longest, challengeWindow: window })
      assert.equal(await admin.read<bigint>('registry', 'unbondingDelay'), delay)
      assert.equal(await voter.proposalState(proposalId), 'Queued', 'not executed')
    })

    it('the owner cannot break unbondingDelay > maxEscrowDuration + challengeWindow from any side', async function () {
      await asTimelock(async (timelock) => {
        const [longest, window, delay] = await Promise.all(['maxEscrowDuration', 'challengeWindow', 'unbondingDelay'].map(async p => await admin.read<bigint>('registry', p)))
        const tooShort = 'UnbondingTooShort'
        await expectRevert(timelock.send('registry', 'setUnbondingDelay', [longest + window]), tooShort, { unbondingDelay: longest + window, maxEscrowDuration: longest, challengeWindow: window })
        await expectRevert(timelock.send('registry', 'setChallengeWindow', [delay - longest]), tooShort, { unbondingDelay: delay, maxEscrowDuration: longest, challengeWindow: delay - longest })
        await expectRevert(timelock.send('registry', 'setMaxEscrowDuration', [delay - window]), tooShort, { unbondingDelay: delay, maxEscrowDuration: delay - window, challengeWindow: window })
        // One second more than escrow + window is allowed; then neither may grow.
        await timelock.send('registry', 'setUnbondingDelay', [longest + window + 1n])
        await expectRevert(timelock.send('registry', 'setChallengeWindow', [window + 1n]), tooShort)
        await expectRevert(timelock.send('registry', 'setMaxEscrowDuration', [longest + 1n]), tooShort)
        // Lengthening the delay first is the way to lengthen the others.
        await timelock.send('registry', 'setUnbondingDelay', [delay + 3600n])
        await timelock.send('registry', 'setMaxEscrowDuration', [longest + 3600n])
        assert.equal(await admin.read<bigint>('registry', 'maxEscrowDuration'), longest + 3600n)
        await expectRevert(timelock.send('registry', 'setMaxEscrowDuration', [59]), 'ParameterOutOfRange', { value: 59n, min: 60n })
      })
    })

    it('a minimum stake under its role\'s floor is refused: a Sybil quorum must cost something', async function () {
      const floors = { worker: 100n * E18, verifier: 200n * E18, aggregator: 500n * E18 }
      await asTimelock(async (timelock) => {
        for (const [name, role] of Object.entries(ROLE) as Array<[keyof typeof ROLE, number]>) {
          const floor = floors[name]
          assert.equal(await admin.read<bigint>('registry', 'minStakeFloor', [role]), floor, `${name} floor`)
          for (const value of [1n, floor - 1n]) {
            await expectRevert(timelock.send('registry', 'setMinStake', [role, value]), 'ParameterOutOfRange', { name: encodeBytes32String('minStake'), value, min: floor })
          }
          await timelock.send('registry', 'setMinStake', [role, floor])
          assert.equal(await admin.read<bigint>('registry', 'minStake', [role]), floor)
        }
      })
    })

    it('gOPEN moves only by wrapping and unwrapping', async function () {
      const voter = client(outsider)
      await voter.lockForVotes(10n * E18)
      await expectRevert(voter.send('gopen', 'transfer', [requester.address, 1n]), 'GOpenNonTransferable', { from: outsider.address, to: requester.address })
      assert.equal(await voter.read<bigint>('gopen', 'getVotes', [outsider.address]), 10n * E18)
      await voter.send('gopen', 'withdrawTo', [outsider.address, 10n * E18])
      assert.equal(await voter.read<bigint>('gopen', 'getVotes', [outsider.address]), 0n)
      assert.equal(await voter.read<string>('gopen', 'CLOCK_MODE'), 'mode=timestamp')
    })
  })
})
