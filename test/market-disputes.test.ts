// Disputes on a 6-peer devnet with its anvil chain: a rejected training result goes to
// the job's referee (the next-best verifier bid), which bisects between worker and
// verifier over /openledger/dispute/1.0.0, recomputes the one step left, and slashes
// whoever its recomputation refutes. Peer 0 holds the data and verifies; peer 1
// requests; peer 2 works honestly; peer 3 verifies honestly; peer 4 is a verifier that
// accuses honest work (`accuse`: a made-up hash for a segment that replayed); peer 5
// skips steps (`skip`: half of every segment trained, all claimed). First the skipper
// is caught and slashed through the referee; then the accuser, staked higher so it is chosen to verify, is refuted and slashed, with
// the wronged worker as prover, and the honest job is still released.
import assert from 'node:assert/strict'
import { parseUnits } from 'ethers'
import { useMarketDevnet } from './helpers/devnet.ts'
import { MARKET_MAILS, SPAM_BASE } from './helpers/fixtures.ts'

describe('market disputes on a devnet: bisection, a referee, and the loser slashed', function () {
  this.timeout(900_000)
  const net = useMarketDevnet({
    name: 'disputes',
    peers: 6,
    cheats: ['accuse', 'skip'],
    import: { corpus: 'spam-assassin', limit: MARKET_MAILS, followers: [0, 2, 3, 4, 5] },
    models: [{ file: SPAM_BASE, peers: [0, 2, 3, 4, 5] }],
    stakes: [[0, 'verifier', 200], [3, 'verifier', 200], [2, 'worker', 100], [5, 'worker', 100]]
  })
  const { cli } = net

  it('slashes a step-skipping worker through the referee, then refutes and slashes a verifier that accuses honest work', async () => {
    const { devnet, imported } = net
    assert.deepEqual(devnet.peers.map(p => devnet.cheatOf(p.index) ?? null), [null, null, null, null, 'accuse', 'skip'])
    const byAddress = new Map(devnet.peers.map(p => [p.address, p]))
    const submit = async (): Promise<any> => {
      const s = await cli(1, ['job', 'submit', '--datanet', `spam-assassin@${imported.version}`, '--base', 'spam-base', '--amount', '10', '--steps', '100', '--batch', '32', '--bid-window', '2500'])
      assert.equal(s.phase, 'assigned', s.error)
      assert.ok(s.assign.referee !== undefined, 'a referee is assigned from the verifier bids left over')
      return s
    }
    const ended = async (job: string): Promise<any> => await net.waitForJob(1, job, `job ${job} to end`, s => s.phase === 'released' || (s.phase === 'failed' && (s.rulings ?? []).length > 0), 300_000, 1_000)

    // 1. The skipping worker undercuts and wins; the verifier's replay disagrees; the referee bisects and rules against it.
    const lazyJob = await submit()
    assert.equal(lazyJob.assign.workers[0].address, devnet.peers[5].address)
    const lazyDone = await ended(lazyJob.job)
    assert.equal(lazyDone.phase, 'failed')
    const referee1 = byAddress.get(lazyJob.assign.referee.address)!
    const verifier1 = byAddress.get(lazyJob.assign.verifiers[0].address)!
    assert.deepEqual([referee1.index, verifier1.index].sort(), [0, 3])
    const ruled1 = await net.waitForJob(referee1.index, lazyJob.job, 'the referee to slash the skipping worker', s => s.slash != null, 120_000, 1_000)
    const r1 = ruled1.rulings[0]
    assert.equal(r1.faulty, 'worker')
    assert.ok(r1.rounds >= 5, `a 50-step segment takes about six rounds (${r1.rounds})`)
    assert.equal(r1.detail.fault.faulty, 'worker')
    assert.equal(r1.detail.fault.recomputed, r1.detail.fault.challenger, 'the referee recomputed the verifier\'s state')
    assert.equal(r1.detail.claims.length, 2 * r1.rounds, 'both parties signed a claim every round')
    assert.equal(ruled1.slash.evidence, r1.evidence.hash)
    assert.equal((await cli(5, ['rewards', 'show'])).stake.worker, parseUnits('50', 18).toString(), 'the skipping worker lost 50 OPEN')
    const v1 = await cli(verifier1.index, ['job', 'status', lazyJob.job])
    assert.equal(v1.slash, undefined, 'the verifier left the slash to the referee')
    assert.equal(v1.verdicts.at(-1).ok, false)
    assert.equal(v1.verdicts.at(-1).dispute.hash, r1.detail.fault.challenger)

    // 2. The accuser stakes more, so it ranks first as verifier; it rejects honest work with a made-up hash.
    await cli(4, ['stake', 'add', '400', '--role', 'verifier'])
    const balanceBefore = BigInt((await cli(2, ['rewards', 'show'])).balance)
    const honestJob = await submit()
    assert.equal(honestJob.assign.workers[0].address, devnet.peers[2].address)
    assert.equal(honestJob.assign.verifiers[0].address, devnet.peers[4].address, 'the accuser verifies')
    const honestDone = await ended(honestJob.job)
    assert.equal(honestDone.phase, 'released', JSON.stringify({ verdicts: honestDone.verdicts, rulings: honestDone.rulings }))
    assert.equal(honestDone.verdicts.find((d: any) => d.by === devnet.peers[4].address).ok, false, 'the accuser rejected it')
    const r2 = honestDone.rulings[0]
    assert.equal(r2.faulty, 'challenger')
    assert.equal(r2.challenger, devnet.peers[4].address)
    const referee2 = byAddress.get(honestJob.assign.referee.address)!
    const ruled2 = await net.waitForJob(referee2.index, honestJob.job, 'the referee to slash the accuser', s => s.slash != null, 120_000, 1_000)
    assert.equal(ruled2.rulings[0].detail.fault.recomputed, ruled2.rulings[0].detail.fault.worker, 'the recomputation confirms the worker')
    assert.equal((await cli(4, ['rewards', 'show'])).stake.verifier, parseUnits('300', 18).toString(), 'the accuser lost 100 OPEN')
    // The wronged worker is the prover: half the slash (proverShareBps 5000) is its.
    assert.equal(BigInt((await cli(2, ['rewards', 'show'])).balance) - balanceBefore, parseUnits('50', 18))
    const earned = await net.waitForCli(2, ['rewards', 'show'], 'the honest worker\'s pay in an epoch root', r => r.earned !== null, 60_000, 1_000)
    assert.ok(BigInt(earned.earned) > 0n)
  })
})
