// The worker adversaries of the market issue on one 8-peer devnet with its anvil chain:
// peer 0 holds the data, aggregates and verifies; peer 3 referees; peer 1 requests; peer 2 works
// honestly; peers 4-7 play `random` (random weights), `base` (the untouched adapter
// behind a made-up chain), `stale` (its own earlier result again) and `copy` (another
// worker's adapter from the datanet's cycle records). One cheater at a time stakes
// beside the honest worker; it undercuts, so it wins jobs until it is caught (a cheat
// with nothing to reuse yet works honestly, as `stale` does on its first job).
// Every cheat must fail verification for its own reason, be slashed on chain, and end
// below the honest worker in the requester's reputation book.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseUnits } from 'ethers'
import { reputation } from '../settlement/policy/index.ts'
import { useMarketDevnet } from './helpers/devnet.ts'
import { MARKET_MAILS, SPAM_BASE } from './helpers/fixtures.ts'

const CHEATS = ['random', 'base', 'stale', 'copy'] as const

describe('market adversaries on a devnet: random, untouched, stale and copied adapters', function () {
  this.timeout(900_000)
  // The cheaters stake one at a time, in the test.
  // Peer 3 referees: every rejection goes to it before anyone is slashed. The cheats are the last four.
  const net = useMarketDevnet({
    name: 'adversaries',
    peers: 8,
    cheats: [...CHEATS],
    import: { corpus: 'spam-assassin', limit: MARKET_MAILS, followers: [0, 2, 3, 4, 5, 6, 7] },
    models: [{ file: SPAM_BASE, peers: [0, 2, 3, 4, 5, 6, 7] }],
    stakes: [[0, 'verifier', 300], [2, 'worker', 100], [3, 'verifier', 200]]
  })
  const { cli } = net

  it('catches each cheat by its own check, slashes it on chain, and ranks it below the honest worker', async () => {
    const { devnet, imported } = net
    assert.deepEqual(devnet.peers.map(p => devnet.cheatOf(p.index) ?? null), [null, null, null, null, ...CHEATS])

    const byAddress = new Map(devnet.peers.map(p => [p.address, p]))
    const caught = new Map<string, any>()
    const paid: string[] = []
    let n = 0
    for (const [i, cheat] of CHEATS.entries()) {
      const peer = devnet.peers[4 + i]
      assert.equal(devnet.cheatOf(peer.index), cheat)
      await cli(peer.index, ['stake', 'add', '100', '--role', 'worker'])
      for (let tries = 0; tries < 3 && !caught.has(cheat); tries++, n++) {
        const submitted = await cli(1, ['job', 'submit', '--datanet', `spam-assassin@${imported.version}`, '--base', 'spam-base', '--amount', '10', '--steps', '100', '--batch', '32', '--bid-window', '2500'])
        assert.equal(submitted.phase, 'assigned', submitted.error)
        const worker = byAddress.get(submitted.assign.workers[0].address)!
        const done = await net.waitForJob(1, submitted.job, `job ${n} to end`, s => s.phase === 'released' || s.phase === 'failed', 240_000, 1_000)
        const by = devnet.cheatOf(worker.index) ?? 'honest'
        if (done.phase === 'released') {
          paid.push(by)
          continue
        }
        assert.equal(by, cheat, `only the cheater's work is rejected: ${JSON.stringify(done.verdicts)}`)
        const referee = await net.waitForJob(3, submitted.job, 'the referee\'s slash on chain', s => s.slash != null, 240_000, 1_000)
        assert.equal(referee.rulings.at(-1).faulty, 'worker')
        assert.equal(referee.slash.evidence, referee.rulings.at(-1).evidence.hash)
        const verifier = await cli(0, ['job', 'status', submitted.job])
        assert.match(verifier.verdicts.at(-1).beacon, /^0x[0-9a-fA-F]{130}$/)
        caught.set(cheat, verifier.evidence)
      }
    }
    assert.deepEqual([...caught.keys()].sort(), [...CHEATS].sort(), `paid: ${paid.join(', ')}`)
    // Each caught by its own check.
    assert.equal(caught.get('random').binding.reason, 'tensor-values', 'random weights are not the last checkpoint')
    assert.ok(caught.get('base').mismatches.length > 0, 'an untouched chain does not replay')
    assert.equal(caught.get('stale').error, 'BadReceiptError')
    assert.match(caught.get('stale').message, /another job/)
    assert.equal(caught.get('copy').error, 'BadReceiptError')
    assert.match(caught.get('copy').message, /another job/)

    for (let i = 4; i <= 7; i++) {
      assert.equal((await cli(i, ['rewards', 'show'])).stake.worker, parseUnits('50', 18).toString(), `peer ${i} slashed 50 OPEN`)
    }
    // Once every cheater is below the minimum stake, the honest worker takes the job and is paid.
    const last = await cli(1, ['job', 'submit', '--datanet', `spam-assassin@${imported.version}`, '--base', 'spam-base', '--amount', '10', '--steps', '100', '--batch', '32', '--bid-window', '2500'])
    assert.equal(last.assign.workers[0].address, devnet.peers[2].address)
    const done = await net.waitForJob(1, last.job, 'the honest job to be released', s => s.phase === 'released' || s.phase === 'failed', 240_000, 1_000)
    assert.equal(done.phase, 'released')
    const after = JSON.parse(await readFile(join(devnet.peers[1].dataDir, 'market', 'reputation.json'), 'utf8'))
    const scoreAfter = (i: number): number => reputation((after[devnet.peers[i].address.toLowerCase()] ?? []).map((o: any) => ({ kind: o.kind, at: o.at })), Date.now()).score
    for (let i = 4; i <= 7; i++) assert.ok(scoreAfter(i) < scoreAfter(2), `cheater ${i} (${scoreAfter(i)}) below the honest worker (${scoreAfter(2)})`)
  })
})
