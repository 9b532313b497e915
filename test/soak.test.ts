// A short soak (bench/soak/run-soak.ts): the flywheel on a 7-peer devnet with its chain
// for three reward epochs, the aggregator SIGKILLed while it seals and posts, every
// peer dropping a little of its inbound gossip and streams, and the hostile peer
// sending garbage throughout. Nothing may be lost (every released fee recorded by the
// aggregator's ledgers, and claimable or claimed on chain, to the wei) and nothing may
// crash, and no peer (all are honest) may be slashed. `npm run bench -- soak` is the long run.
import assert from 'node:assert/strict'
import { soak } from '../bench/soak/run-soak.ts'

describe('soak: three epochs with the aggregator killed, drops and garbage', function () {
  this.timeout(420_000)

  it('loses no earnings and crashes no peer', async () => {
    const log = process.env.SOAK_LOG != null ? (m: string) => process.stderr.write(`soak: ${m}\n`) : () => {}
    const r = await soak({
      epochs: 3,
      jobsPerRound: 2,
      steps: 200,
      dropGossip: 0.02,
      dropStreams: 0.02,
      workerKillRate: 0,
      verifierKillRate: 0,
      aggregatorKills: 0,
      kills: [{ round: 2, role: 'aggregator', atPost: true }],
      garbageIntervalMs: 1_000,
      claimRate: 0.3,
      seed: 7,
      log
    })
    const b = r.books
    assert.equal(r.crashes.length, 0, JSON.stringify(r.crashes))
    assert.deepEqual(r.slashes, [], 'no honest peer slashed')
    for (const l of r.logs) assert.equal(l.fatal, 0, `peer ${l.peer}: ${l.samples.join(' | ')}`)
    assert.equal(r.kills.filter(k => k.role === 'aggregator').length, 1)
    assert.ok(r.epochs >= 3, `epochs on chain: ${r.epochs}`)
    assert.ok(r.jobs.completed >= 3, `jobs released: ${r.jobs.completed}`)
    assert.equal(r.jobs.stuck, 0, 'every escrow released or refunded')
    assert.equal(b.releasedJobs, r.jobs.completed)
    assert.equal(b.missingReceipts + b.phantomReceipts + b.duplicateReceipts + b.receiptMismatches, 0, 'every released job journaled exactly once')
    assert.ok(b.treeMatchesChain && b.proofsFailed === 0 && b.chainFinal)
    assert.equal(b.chainTotal, b.releasedFees, 'the last root pays out every released fee')
    assert.equal(b.lostWei, '0', JSON.stringify(b.accounts))
    assert.equal(b.unrecordedWei, '0', JSON.stringify(b.accounts))
    assert.ok(b.claimEventsMatch && b.solvent)
    assert.deepEqual(r.rewardsShowMismatches, [])
    assert.ok(r.garbage.rejectedAtPeers > 0, 'the garbage reached the peers and was refused')
  })
})
