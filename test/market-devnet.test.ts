// A training job through the market on a 4-peer devnet with its anvil chain: peer 1
// escrows 100 OPEN and broadcasts the job; peer 2 (worker stake, holds spam-base) and
// peer 3 (verifier stake) bid; the shared policy assigns them; peer 2 trains, peer 3
// replays sampled segments of its checkpoint chain and signs the completion; the escrow
// pays the rewards pool, and peer 0's epoch credits the worker its share.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { NonceManager, Wallet, parseUnits } from 'ethers'
import { SettlementClient } from '../settlement/chain/client.ts'
import { useMarketDevnet, type DevnetFixture } from './helpers/devnet.ts'
import { MARKET_MAILS, SPAM_BASE } from './helpers/fixtures.ts'
import { waitFor } from './helpers/wait.ts'

/**
 * The market's cast on a 4-peer devnet: peer 0 imports SpamAssassin (and aggregates),
 * the worker and the verifier add spam-base and stake for their roles (all in the
 * devnet's before() hook).
 */
/** A devnet whose peer 1 requests; `referee`: a fifth peer with less verifier stake than the verifier, so the policy makes it the referee. */
function marketCast (name: string, who: { worker: number, verifier: number, referee?: number }, cheaters = 0): DevnetFixture {
  const checkers = [who.worker, who.verifier, ...(who.referee !== undefined ? [who.referee] : [])]
  return useMarketDevnet({
    name,
    peers: who.referee !== undefined ? 5 : 4,
    cheaters,
    import: { corpus: 'spam-assassin', limit: MARKET_MAILS, followers: checkers },
    models: [{ file: SPAM_BASE, peers: checkers }],
    stakes: [[who.worker, 'worker', 100], [who.verifier, 'verifier', who.referee !== undefined ? 300 : 200], ...(who.referee !== undefined ? [[who.referee, 'verifier', 200] as [number, 'verifier', number]] : [])]
  })
}
/** Peer 1 submits a 100 OPEN training job; returns the submission (after assignment). */
async function submitJob (net: DevnetFixture): Promise<any> {
  return await net.cli(1, ['job', 'submit', '--datanet', `spam-assassin@${net.imported.version}`, '--base', 'spam-base', '--amount', '100', '--steps', '100', '--batch', '32', '--bid-window', '3000'])
}

describe('the task market on a devnet: escrow -> bids -> training -> verification -> release -> epoch', function () {
  this.timeout(400_000)
  const net = marketCast('market', { worker: 2, verifier: 3 })
  const { cli } = net

  it('pays an honest worker for a verified training job', async () => {
    const { devnet } = net
    const submitted = await submitJob(net)
    assert.equal(submitted.phase, 'assigned', submitted.error)
    assert.equal(submitted.assign.workers[0].address, devnet.peers[2].address)
    assert.equal(submitted.assign.verifiers[0].address, devnet.peers[3].address)

    const done = await net.waitForJob(1, submitted.job, 'the job to be verified and released', s => s.phase === 'released' || s.phase === 'failed', 240_000, 1_000)
    assert.equal(done.phase, 'released', JSON.stringify(done.verdicts))
    assert.equal(done.verdicts[0].ok, true)
    assert.ok(done.verdicts[0].checked.length >= 1)
    const worker = await cli(2, ['job', 'status', submitted.job])
    assert.equal(worker.role, 'worker')
    assert.equal(worker.result.receipt.entries, 2)
    const book = JSON.parse(await readFile(join(devnet.peers[1].dataDir, 'market', 'reputation.json'), 'utf8'))
    assert.deepEqual(book[devnet.peers[2].address.toLowerCase()].map((o: any) => o.kind), ['verified'])

    const earned = await net.waitForCli(2, ['rewards', 'show'], 'the worker\'s share in an epoch root', r => r.earned !== null, 60_000, 1_000)
    assert.equal(earned.earned, parseUnits('50', 18).toString())
  })
  it('a worker killed with -9 while training resumes after a restart, and is paid once', async () => {
    const { devnet } = net
    const datanet = (await cli(1, ['job', 'list'])).map((j: any) => j.job)[0]
    const first = await cli(1, ['job', 'status', datanet])
    const submitted = await cli(1, ['job', 'submit', '--datanet', first.announce.spec.params.datanet, '--base', 'spam-base', '--amount', '10', '--steps', '600', '--batch', '32', '--bid-window', '2000'])
    assert.equal(submitted.assign.workers[0].address, devnet.peers[2].address)
    await net.waitForJob(2, submitted.job, 'the worker to be training', s => s.phase === 'training', 60_000, 200)
    await new Promise(resolve => setTimeout(resolve, 1_500))
    await devnet.kill(devnet.peers[2])
    await devnet.startPeer(devnet.peers[2])
    const done = await net.waitForJob(1, submitted.job, 'the resumed job to be released', s => s.phase === 'released' || s.phase === 'failed', 300_000, 1_000)
    assert.equal(done.phase, 'released', JSON.stringify(done.verdicts))
    const worker = await cli(2, ['job', 'status', submitted.job])
    assert.equal(worker.result.receipt.entries, 12)
    // Epoch 1's window must close before epoch 2 can be posted.
    await net.warp(61)
    const earned = await net.waitForCli(2, ['rewards', 'show'], 'the second job in an epoch', r => r.earned === parseUnits('55', 18).toString(), 60_000, 1_000)
    assert.equal(earned.earned, parseUnits('55', 18).toString(), '50 + 5: each job paid once')
  })
  it('a requester that vanishes after assigning cannot withhold payment: the worker releases the escrow itself', async () => {
    const { devnet } = net
    const first = await cli(1, ['job', 'status', (await cli(1, ['job', 'list'])).at(-1).job])
    const submitted = await cli(1, ['job', 'submit', '--datanet', first.announce.spec.params.datanet, '--base', 'spam-base', '--amount', '20', '--steps', '100', '--batch', '32', '--bid-window', '2000'])
    await devnet.kill(devnet.peers[1])
    const worker = await net.waitForJob(2, submitted.job, 'the worker to release its verified job', s => s.phase === 'released', 120_000, 1_000)
    assert.equal(worker.release.by, devnet.peers[2].address)
    await devnet.startPeer(devnet.peers[1])
  })
})

describe('the task market on a devnet with a cheating worker', function () {
  this.timeout(400_000)
  // Peer 4, the last, is the cheater: it trains half the steps and claims all of them. Peer 3 referees.
  const net = marketCast('cheat', { worker: 4, verifier: 2, referee: 3 }, 1)
  const { cli } = net

  it('catches a worker that skips steps: no payment, its stake slashed on chain with evidence, the fee refunded to the requester after the deadline', async () => {
    const { devnet } = net
    const submitted = await submitJob(net)
    assert.equal(submitted.assign.workers[0].address, devnet.peers[4].address)
    assert.equal(submitted.assign.referee.address, devnet.peers[3].address)

    // The verifier rejects with evidence; the referee rules on it and slashes.
    const verified = await net.waitForJob(2, submitted.job, 'the verifier\'s rejection', s => s.verdicts?.some((v: any) => !v.ok), 240_000, 1_000)
    assert.match(verified.verdicts[0].evidence.hash, /^0x[0-9a-f]{64}$/)
    const ruled = await net.waitForJob(3, submitted.job, 'the referee\'s ruling and slash', s => s.slash != null, 240_000, 1_000)
    assert.equal(ruled.rulings[0].faulty, 'worker')
    assert.equal(ruled.slash.evidence, ruled.rulings[0].evidence.hash)
    const requester = await net.waitForJob(1, submitted.job, 'the requester to see the fault', s => s.phase === 'failed', 30_000, 500)
    assert.equal(requester.release, undefined, 'nothing released for a faulty result')
    // The requester remembers: the cheater's next bid starts from a failed record.
    const book = JSON.parse(await readFile(join(devnet.peers[1].dataDir, 'market', 'reputation.json'), 'utf8'))
    assert.deepEqual(book[devnet.peers[4].address.toLowerCase()].map((o: any) => o.kind), ['failed'])

    // On chain: the cheater lost 50 OPEN of worker stake, the verifier got its prover share.
    const cheater = await cli(4, ['rewards', 'show'])
    assert.equal(cheater.stake.worker, parseUnits('50', 18).toString())
    const chain = net.chain
    const provider = net.provider()
    const client = await SettlementClient.create(chain.addresses, new NonceManager(new Wallet(chain.anvil.accounts[0].privateKey, provider)))
    assert.equal((await client.jobOf(submitted.job)).status, 1, 'still in escrow')
    await provider.send('evm_increaseTime', [3_601])
    await provider.send('evm_mine', [])
    // A job that cannot complete is refunded: the requester takes its fee back once the deadline passed.
    const refunded = await net.waitForJob(1, submitted.job, 'the requester to take its fee back', s => s.phase === 'refunded', 60_000, 1_000)
    assert.match(refunded.refund.tx, /^0x[0-9a-f]{64}$/)
    assert.equal((await client.jobOf(submitted.job)).status, 3, 'refunded to the requester')
    provider.destroy()
  })
})

describe('the task market on a devnet with a worker that goes silent', function () {
  // A bound for a loaded machine (the silence deadline scales with the measured ETA), not a target.
  this.timeout(900_000)
  const net = useMarketDevnet({
    name: 'silent',
    peers: 5,
    import: { corpus: 'spam-assassin', limit: MARKET_MAILS, followers: [2, 3, 4] },
    models: [{ file: SPAM_BASE, peers: [2, 3, 4] }],
    stakes: [[2, 'worker', 100], [3, 'worker', 100], [4, 'verifier', 200]]
  })
  const { cli } = net

  it('replaces a worker killed mid-job with the next-best bidder, which resumes from the checkpoints the verifier held, and pays the one that delivered', async () => {
    const { devnet, imported } = net
    const submitted = await cli(1, ['job', 'submit', '--datanet', `spam-assassin@${imported.version}`, '--base', 'spam-base', '--amount', '100', '--steps', '600', '--batch', '32', '--bid-window', '3000'])
    const first = devnet.peers.find(p => p.address === submitted.assign.workers[0].address)!
    const other = devnet.peers.find(p => p.index !== first.index && (p.index === 2 || p.index === 3))!
    await net.waitForJob(first.index, submitted.job, 'the first worker to be training', s => s.phase === 'training', 60_000, 200)
    // The verifier holds the checkpoints the worker announces: wait for a few, then kill the worker.
    const held = await waitFor('the verifier to hold a checkpoint', async (saw) => {
      const s = await net.jobStatus(4, submitted.job)
      saw({ phase: s.phase, held: s.held })
      return (s.held ?? 0) >= 100 ? s.held : undefined
    }, 120_000, 250)
    await devnet.kill(first)

    // The requester calls a worker silent at twice its bid's ETA, which a loaded machine
    // measures longer: wait for that moment, then for the replacement's own work.
    const dueAt = Number((await cli(1, ['job', 'status', submitted.job])).resultDueAt ?? Date.now())
    const done = await net.waitForJob(1, submitted.job, 'the job to be reassigned, verified and released', s => s.phase === 'released' || s.phase === 'failed', Math.max(0, dueAt - Date.now()) + 300_000, 1_000)
    assert.equal(done.phase, 'released', JSON.stringify(done.verdicts))
    assert.deepEqual(done.silent, [first.peerId])
    assert.equal(done.assign.workers[0].address, other.address)
    // The replacement resumed from the last checkpoint it could confirm, not from step 0.
    const replacement = await cli(other.index, ['job', 'status', submitted.job])
    assert.ok(replacement.resumedFrom >= 100 && replacement.resumedFrom <= held + 50, `resumed from ${replacement.resumedFrom} (verifier held ${held})`)
    const book = JSON.parse(await readFile(join(devnet.peers[1].dataDir, 'market', 'reputation.json'), 'utf8'))
    assert.deepEqual(book[first.address.toLowerCase()].map((o: any) => o.kind), ['timeout'])
    assert.deepEqual(book[other.address.toLowerCase()].map((o: any) => o.kind), ['verified'])
    const earned = await net.waitForCli(other.index, ['rewards', 'show'], 'the replacement\'s share in an epoch root', r => r.earned !== null, 60_000, 1_000)
    assert.equal(earned.earned, parseUnits('50', 18).toString())
  })
})
