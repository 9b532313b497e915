// Settlement end to end on a 3-peer devnet with its real anvil chain: a requester
// escrows OPEN for a job, a staked verifier peer signs the completion, the escrow pays
// the rewards pool; the aggregator peer turns the release into an epoch, posts its root
// through the quorum; once the window is over the worker and the verifier claim their
// shares from the command line, and a second claim is refused.
import assert from 'node:assert/strict'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { NonceManager, Wallet, hexlify, id, parseUnits, toQuantity } from 'ethers'
import { askCosign } from '../protocols/epoch/epoch.ts'
import { buildCumulativeTree } from '../settlement/merkle/index.ts'
import { createPlainNode } from '../bench/lib/plain-node.ts'
import { loadKeystore } from '../peer/identity/keystore.ts'
import { ROLE, SettlementClient } from '../settlement/chain/client.ts'
import { packSignatures, signMessage } from '../settlement/chain/signatures.ts'
import { useMarketDevnet } from './helpers/devnet.ts'
import { waitFor } from './helpers/wait.ts'
import { signedAssignment } from './helpers/escrow.ts'

const OPEN = (n: string): bigint => parseUnits(n, 18)

describe('settlement on a devnet: escrow -> epoch root -> claim', function () {
  this.timeout(300_000)
  const net = useMarketDevnet({ name: 'settle', peers: 3, cliTimeoutMs: 120_000 })
  const { cli } = net

  it('pays a job from escrow into an epoch root that the worker and the verifier claim', async () => {
    const { devnet, chain } = net
    const [worker, verifier] = [devnet.peers[1], devnet.peers[2]]
    const staked = await cli(2, ['stake', 'add', '200', '--role', 'verifier'])
    assert.equal(staked.staked, OPEN('200').toString())

    // The requester is anvil's first dev account (the devnet's deployer and treasury).
    const provider = net.provider()
    const requesterWallet = new Wallet(chain.anvil.accounts[0].privateKey, provider)
    const requester = await SettlementClient.create(chain.addresses, new NonceManager(requesterWallet))
    const jobId = id('devnet job 1')
    const resultHash = id('the adapter the worker trained')
    const deadline = (await provider.getBlock('latest'))!.timestamp + 3_600
    await requester.openJob(jobId, OPEN('100'), deadline)
    const verifierKey = await loadKeystore(verifier.dataDir, 'openledger-devnet')
    const signed = await signMessage(new Wallet(hexlify(verifierKey.libp2pKey.raw)), 'Completion', requester.domain('escrow'), { jobId, worker: worker.address, resultHash })
    const a = await signedAssignment(requester, requesterWallet, jobId, worker.address!, [signed.signer])
    await requester.releaseJob(jobId, a.assignment, a.signature, resultHash, packSignatures([signed]))

    // Peer 0 aggregates: the release becomes epoch 1, posted with its signature.
    const shown = await net.waitForCli(1, ['rewards', 'show'], 'the worker\'s earnings in a posted root', r => r.epoch !== null, 60_000, 500)
    assert.equal(shown.epoch, 1)
    assert.equal(shown.earned, OPEN('50').toString(), 'the worker\'s 50% of the fee')
    assert.equal(shown.final, false)
    const early = await cli(1, ['rewards', 'claim'], false)
    assert.notEqual(early.code, 0, 'no claim before the challenge window closes')
    assert.match(early.stderr, /RootNotFinal/)

    await provider.send('evm_increaseTime', [61])
    await provider.send('evm_mine', [])
    const before = await requester.balanceOf(worker.address)
    const claim = await waitFor('the root to be final and the claim to go through', async (saw) => {
      const r = await cli(1, ['rewards', 'claim'], false)
      saw(`refused: ${r.stderr}`)
      return r.code === 0 ? JSON.parse(r.stdout.trim().split('\n').at(-1)!) : undefined
    }, 30_000, 1_000)
    assert.equal(claim.amount, OPEN('50').toString())
    assert.equal(await requester.balanceOf(worker.address) - before, OPEN('50'))
    const v = await cli(2, ['rewards', 'claim'])
    assert.equal(v.amount, OPEN('20').toString(), 'the verifier\'s 20%')
    // The rest (contributors' 25% with no attribution, treasury 5%) is the treasury's.
    const t = await cli(0, ['rewards', 'show', chain.addresses.treasury])
    assert.equal(t.earned, OPEN('30').toString())

    const again = await cli(1, ['rewards', 'claim'], false)
    assert.notEqual(again.code, 0)
    assert.match(again.stderr, /nothing to claim/)
    const after = await cli(1, ['rewards', 'show'])
    assert.equal(after.claimed, OPEN('50').toString())
    assert.equal(after.claimable, '0')
    provider.destroy()
  })

  it('an aggregator killed with -9 right after a release comes back, and the epoch is posted once', async () => {
    const { devnet, chain } = net
    const [aggregator, worker, verifier] = devnet.peers
    const provider = net.provider()
    const requesterWallet = new Wallet(chain.anvil.accounts[0].privateKey, provider)
    const requester = await SettlementClient.create(chain.addresses, new NonceManager(requesterWallet))
    const jobId = id('devnet job 2')
    const resultHash = id('a second adapter')
    await requester.openJob(jobId, OPEN('10'), (await provider.getBlock('latest'))!.timestamp + 3_600)
    const verifierKey = await loadKeystore(verifier.dataDir, 'openledger-devnet')
    const signed = await signMessage(new Wallet(hexlify(verifierKey.libp2pKey.raw)), 'Completion', requester.domain('escrow'), { jobId, worker: worker.address, resultHash })
    const a = await signedAssignment(requester, requesterWallet, jobId, worker.address!, [signed.signer])
    await devnet.kill(aggregator)
    await requester.releaseJob(jobId, a.assignment, a.signature, resultHash, packSignatures([signed]))
    await devnet.startPeer(aggregator)
    const shown = await net.waitForCli(1, ['rewards', 'show'], 'epoch 2 to hold the second job', r => r.epoch === 2, 60_000, 500)
    assert.equal(shown.earned, OPEN('55').toString(), '50 from the first job, 5 from this one')
    // Some more rounds: nothing is posted again, no receipt counted twice.
    await new Promise(resolve => setTimeout(resolve, 3_000))
    assert.equal(await requester.nextEpoch(), 3n)
    assert.equal((await requester.rootOf(2)).total, OPEN('110'))
    provider.destroy()
  })

  // Issue 19, finding 2. Before: a root signed by aggregator keys alone was final after
  // the window whatever it paid, and nobody checked it. Two throwaway keys staked as
  // aggregators make the devnet's quorum of 2 by themselves.
  it('a root two sybil aggregator keys sign to pay themselves everything funded is refused by the co-signer, challenged by the watcher before it is final, and pays nothing', async () => {
    const { devnet, chain, warp } = net
    const provider = net.provider()
    const boss = await SettlementClient.create(chain.addresses, new NonceManager(new Wallet(chain.anvil.accounts[0].privateKey, provider)))
    await warp(61) // epoch 2 (the test before) final: the next root may be posted
    const rogues = [Wallet.createRandom(provider), Wallet.createRandom(provider)].sort((a, b) => a.address.toLowerCase() < b.address.toLowerCase() ? -1 : 1)
    for (const r of rogues) {
      await provider.send('anvil_setBalance', [r.address, toQuantity(10n ** 20n)])
      await boss.transfer(r.address, OPEN('600'))
      await (await SettlementClient.create(chain.addresses, new NonceManager(r))).stake(ROLE.aggregator, OPEN('500'))
    }
    const rogue = await SettlementClient.create(chain.addresses, new NonceManager(rogues[0]))
    const epoch = Number(await rogue.nextEpoch())
    const funded = await rogue.totalFunded()
    const root = buildCumulativeTree([{ account: rogues[0].address, cumulative: funded }]).root
    const toBlock = await provider.getBlockNumber()
    const msg = { epoch, root, total: funded, toBlock }
    const sigs = await Promise.all(rogues.map(async r => await signMessage(r, 'EpochRoot', rogue.domain('distributor'), msg)))

    // The honest co-signer will not sign it: its audit of the rogue's bundle finds it wrong.
    const node = await createPlainNode()
    await node.start()
    try {
      await node.dial(multiaddr(devnet.peers[1].addrs[0]))
      const bundle = JSON.stringify({ format: 'openledger-epoch-bundle-v1', epoch, root, total: funded.toString(), toBlock, feeSplit: { worker: 5000, verifiers: 2000, contributors: 2500, treasury: 500 }, treasury: chain.addresses.treasury, previous: [], receipts: [] })
      await assert.rejects(askCosign(node, peerIdFromString(devnet.peers[1].peerId), bundle), (err: Error & { details?: { remoteName?: string, remoteMessage?: string } }) => err.name === 'RemoteError' && err.details?.remoteName === 'CosignRefusedError' && /^wrong: /.test(err.details.remoteMessage ?? ''))
    } finally {
      await node.stop()
    }

    // With its own two keys the contract takes it (the quorum is only signatures)...
    await rogue.postRoot(epoch, root, funded, toBlock, packSignatures(sigs))
    assert.equal((await rogue.rootOf(epoch)).root, root)
    // ...and the watcher (peer 1) challenges it within its window: its total is what was
    // funded, which here is all that was released, so only the bundle could show it
    // wrong, and nobody serves one: challenged once half the 60 s window is over.
    const challenged = await waitFor('the watcher to challenge the rogue root', async () => (await rogue.nextEpoch()) === BigInt(epoch) ? true : undefined, 50_000, 250)
    assert.ok(challenged)
    const events = await rogue.c.distributor.queryFilter(rogue.c.distributor.filters.RootChallenged(epoch))
    assert.equal(events.length, 1)
    const args = rogue.c.distributor.interface.parseLog(events[0])!.args
    assert.equal(args.root, root)
    assert.equal((args.challenger as string).toLowerCase(), devnet.peers[1].address!.toLowerCase(), 'the co-signer, watching')
    assert.equal(args.bond, OPEN('10'), 'the devnet\'s challenge bond')
    // The watcher's API says what it did and why.
    const roots = await (await fetch(new URL('/roots', devnet.peers[1].statusUrl!))).json() as { watched: Array<{ epoch: number, root: string, outcome: string, findings?: { reason?: string } }> }
    const mine = roots.watched.find(w => w.epoch === epoch && w.root === root.toLowerCase())
    assert.equal(mine?.outcome, 'challenged')
    assert.match(mine?.findings?.reason ?? '', /nobody serves the epoch's bundle/)
    // Past the window the rogue's root pays nothing: it is gone.
    await warp(61)
    const proof = buildCumulativeTree([{ account: rogues[0].address, cumulative: funded }]).proof(rogues[0].address)
    await assert.rejects(rogue.claim(epoch, rogues[0].address, funded, proof), /UnknownEpoch/)
    assert.equal(await rogue.balanceOf(rogues[0].address), OPEN('100'), 'nothing taken')
    provider.destroy()
  })

  it('changes a registry parameter through gOPEN governance, and unbonds stake only after the delay', async () => {
    const { warp } = net
    const locked = await cli(1, ['gov', 'lock', '1000'])
    assert.equal(locked.votes, '1000.0')
    await warp(1)
    const proposed = await cli(1, ['gov', 'propose', 'challengeWindow', '120', '--description', 'a longer window for challenges'])
    assert.equal(proposed.state, 'Pending')
    assert.equal(proposed.fee, '10.0')
    await warp(61)
    assert.equal((await cli(1, ['gov', 'vote', proposed.id, 'for'])).state, 'Active')
    const early = await cli(1, ['gov', 'queue', proposed.id], false)
    assert.notEqual(early.code, 0, 'no queueing while the vote runs')
    assert.match(early.stderr, /GovernorUnexpectedProposalState/)
    await warp(601)
    assert.equal((await cli(1, ['gov', 'queue', proposed.id])).state, 'Queued')
    const tooSoon = await cli(1, ['gov', 'execute', proposed.id], false)
    assert.notEqual(tooSoon.code, 0, 'the timelock holds it')
    assert.match(tooSoon.stderr, /TimelockUnexpectedOperationState/)
    await warp(301)
    assert.equal((await cli(1, ['gov', 'execute', proposed.id])).state, 'Executed')
    assert.equal((await cli(2, ['gov', 'parameters'])).challengeWindow, '120')
    const shown = await cli(2, ['gov', 'show', proposed.id])
    assert.equal(shown.votes.for, '1000.0')

    // Stake: unbonding starts a delay; withdrawing before it ends is refused.
    const unbond = await cli(2, ['stake', 'unbond', '50', '--role', 'verifier'])
    assert.equal(unbond.staked, OPEN('150').toString())
    assert.equal(unbond.unbonding.amount, OPEN('50').toString())
    const withdrawEarly = await cli(2, ['stake', 'withdraw', '--role', 'verifier'], false)
    assert.notEqual(withdrawEarly.code, 0)
    await warp(Number((await cli(2, ['gov', 'parameters'])).unbondingDelay) + 1)
    const done = await cli(2, ['stake', 'withdraw', '--role', 'verifier'])
    assert.equal(done.unbonding.amount, '0')
  })
})
