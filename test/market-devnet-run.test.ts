// The market issue's closing run: a 7-peer devnet with its anvil chain, 1 cheating
// worker (lazy: half the steps trained, all claimed) and 20 training jobs submitted four
// at a time. Peer 0 holds the data, aggregates and verifies; peer 5 referees; peer 1
// requests; peers 2-4 work honestly; peer 6 cheats and undercuts. Every honest job must be verified,
// released and paid through the epochs (the workers' claimable totals are exactly their
// shares of the released jobs), the cheater slashed on chain by the referee with its ruling's
// evidence, and its reputation below every honest peer's.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseUnits } from 'ethers'
import { DEVNET_PARAMS } from '../settlement/chain/deploy.ts'
import { reputation } from '../settlement/policy/index.ts'
import { useMarketDevnet } from './helpers/devnet.ts'
import { MARKET_MAILS, SPAM_BASE } from './helpers/fixtures.ts'
import { waitFor } from './helpers/wait.ts'

const JOBS = 20
const FEE = '10'

describe('a market run on a devnet: 6 peers, 1 cheating worker, 20 jobs', function () {
  this.timeout(1_200_000)
  // Peer 5 referees (rejections go to it before anyone is slashed); peer 6, the last, cheats.
  const net = useMarketDevnet({
    name: 'run',
    peers: 7,
    cheaters: 1,
    import: { corpus: 'spam-assassin', limit: MARKET_MAILS, followers: [0, 2, 3, 4, 5, 6] },
    models: [{ file: SPAM_BASE, peers: [0, 2, 3, 4, 5, 6] }],
    stakes: [[0, 'verifier', 300], [2, 'worker', 100], [3, 'worker', 100], [4, 'worker', 100], [5, 'verifier', 200], [6, 'worker', 100]]
  })
  const { cli } = net

  it('pays every honest job through the epochs, slashes the cheater with evidence, and ranks it last', async () => {
    const { devnet, imported } = net

    const submitted: any[] = []
    for (let i = 0; i < JOBS; i += 4) {
      submitted.push(...await Promise.all([0, 1, 2, 3].map(async () => await cli(1, ['job', 'submit', '--datanet', `spam-assassin@${imported.version}`, '--base', 'spam-base', '--amount', FEE, '--steps', '100', '--batch', '32', '--bid-window', '2500']))))
    }
    assert.equal(submitted.length, JOBS)
    for (const s of submitted) assert.equal(s.phase, 'assigned', s.error)
    const ended = await waitFor('every job to end', async (saw) => {
      const all = await Promise.all(submitted.map(async s => await net.jobStatus(1, s.job)))
      saw(all.map(s => s.phase))
      // unassigned: every bidder was tried and none delivered (a job that cannot complete); it fails the honest-job check below.
      return all.every(s => s.phase === 'released' || s.phase === 'failed' || s.phase === 'unassigned') ? all : undefined
    }, 900_000, 3_000)

    const cheater = devnet.peers[6]
    const byAddress = new Map(devnet.peers.map(p => [p.address, p.index]))
    const honestJobs = ended.filter(s => s.assign.workers[0].address !== cheater.address)
    const cheatJobs = ended.filter(s => s.assign.workers[0].address === cheater.address)
    assert.ok(cheatJobs.length >= 1, 'the undercutting cheater won at least one job')
    for (const s of honestJobs) assert.equal(s.phase, 'released', `honest job ${s.job} by peer ${byAddress.get(s.assign.workers[0].address)}: ${JSON.stringify(s.verdicts)}`)
    for (const s of cheatJobs) assert.equal(s.phase, 'failed', `cheat job ${s.job} must not be paid`)

    // On chain: slashed by the referee, with its ruling's evidence hash.
    // Every cheat job failed on evidence; the stake went with the first slashes (a later one finds nothing left to take).
    const verified = await Promise.all(cheatJobs.map(async s => await cli(0, ['job', 'status', s.job])))
    for (const v of verified) assert.match(v.verdicts.at(-1).evidence.hash, /^0x[0-9a-f]{64}$/)
    const ruled = await waitFor('the referee\'s slash of the cheater', async () => {
      const all = await Promise.all(cheatJobs.map(async s => await net.jobStatus(5, s.job).catch(() => undefined)))
      const slashed = all.filter(r => r?.slash != null)
      return slashed.length >= 1 ? slashed : undefined
    }, 240_000, 2_000)
    for (const r of ruled) assert.equal(r.slash.evidence, r.rulings.at(-1).evidence.hash)
    assert.ok(BigInt((await cli(6, ['rewards', 'show'])).stake.worker) < parseUnits('100', 18))

    // Paid through the epochs: each honest worker's claimable total is its share of its released jobs.
    const workerBps = DEVNET_PARAMS.rewardSplit.worker
    const expected = new Map<number, bigint>()
    for (const s of honestJobs) {
      const w = byAddress.get(s.assign.workers[0].address)!
      expected.set(w, (expected.get(w) ?? 0n) + parseUnits(FEE, 18) * BigInt(workerBps) / 10_000n)
    }
    await waitFor('every honest worker\'s earnings in a finalized epoch root', async (saw) => {
      const shown = await Promise.all([...expected.keys()].map(async w => BigInt((await cli(w, ['rewards', 'show'])).earned ?? '0')))
      saw({ expected: [...expected], shown })
      if ([...expected.values()].every((v, i) => shown[i] === v)) return true
      // The next epoch can post only once the last one's challenge window is over.
      await net.warp(61)
      return undefined
    }, 300_000, 3_000)

    const book = JSON.parse(await readFile(join(devnet.peers[1].dataDir, 'market', 'reputation.json'), 'utf8'))
    const score = (i: number): number => reputation((book[devnet.peers[i].address.toLowerCase()] ?? []).map((o: any) => ({ kind: o.kind, at: o.at })), Date.now()).score
    for (const i of [2, 3, 4]) assert.ok(score(6) < score(i), `cheater ${score(6)} below honest peer ${i} (${score(i)})`)
  })
})
