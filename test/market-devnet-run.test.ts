// The market issue's closing run: a 6-peer devnet with its anvil chain, 1 cheating
// worker (lazy: half the steps trained, all claimed) and 20 training jobs submitted four
// at a time. Peer 0 holds the data, aggregates and verifies; peer 1 requests; peers 2-4
// work honestly; peer 5 cheats and undercuts. Every honest job must be verified,
// released and paid through the epochs (the workers' claimable totals are exactly their
// shares of the released jobs), the cheater slashed on chain with the verifier's
// evidence, and its reputation below every honest peer's.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseUnits } from 'ethers'
import { Devnet } from '../peer/devnet/devnet.ts'
import { connectProvider } from '../settlement/chain/client.ts'
import { DEVNET_PARAMS } from '../settlement/chain/deploy.ts'
import { reputation } from '../settlement/policy/index.ts'
import { devnetCli } from './helpers/cli.ts'
import { waitFor } from './helpers/plain-node.ts'

const SPAM_BASE = fileURLToPath(new URL('../peer/models/built/spam-base.safetensors', import.meta.url))
const JOBS = 20
const FEE = '10'

describe('a market run on a devnet: 6 peers, 1 cheating worker, 20 jobs', function () {
  this.timeout(1_200_000)
  let dir: string
  let devnet: Devnet
  const cli = devnetCli(() => devnet.peers, 300_000)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-run-'))
    devnet = new Devnet({ dir: join(dir, 'devnet'), peers: 6, benchSize: 32, chain: true, epochIntervalMs: 1_000, cheaters: 1 })
    await devnet.start()
  })
  after(async () => {
    await devnet?.stop()
    if (process.env.KEEP == null) await rm(dir, { recursive: true, force: true })
  })

  it('pays every honest job through the epochs, slashes the cheater with evidence, and ranks it last', async () => {
    const imported = await cli(0, ['datanet', 'import', 'spam-assassin', '--limit', '600'])
    for (const p of [0, 2, 3, 4, 5]) {
      await waitFor(`peer ${p} to follow the datanet`, async () => (await cli(p, ['datanet', 'list'])).datanets.some((d: any) => d.id === imported.datanet), 60_000, 500)
      await cli(p, ['model', 'add', SPAM_BASE])
    }
    await cli(0, ['stake', 'add', '200', '--role', 'verifier'])
    for (const p of [2, 3, 4, 5]) await cli(p, ['stake', 'add', '100', '--role', 'worker'])

    const submitted: any[] = []
    for (let i = 0; i < JOBS; i += 4) {
      submitted.push(...await Promise.all([0, 1, 2, 3].map(async () => await cli(1, ['job', 'submit', '--datanet', `spam-assassin@${imported.version}`, '--base', 'spam-base', '--amount', FEE, '--steps', '100', '--batch', '32', '--bid-window', '2500']))))
    }
    assert.equal(submitted.length, JOBS)
    for (const s of submitted) assert.equal(s.phase, 'assigned', s.error)
    const ended = await waitFor('every job to end', async () => {
      const all = await Promise.all(submitted.map(async s => await cli(1, ['job', 'status', s.job])))
      // unassigned: every bidder was tried and none delivered (a job that cannot complete); it fails the honest-job check below.
      return all.every(s => s.phase === 'released' || s.phase === 'failed' || s.phase === 'unassigned') ? all : undefined
    }, 900_000, 3_000)

    const cheater = devnet.peers[5]
    const byAddress = new Map(devnet.peers.map(p => [p.address, p.index]))
    const honestJobs = ended.filter(s => s.assign.workers[0].address !== cheater.address)
    const cheatJobs = ended.filter(s => s.assign.workers[0].address === cheater.address)
    assert.ok(cheatJobs.length >= 1, 'the undercutting cheater won at least one job')
    for (const s of honestJobs) assert.equal(s.phase, 'released', `honest job ${s.job} by peer ${byAddress.get(s.assign.workers[0].address)}: ${JSON.stringify(s.verdicts)}`)
    for (const s of cheatJobs) assert.equal(s.phase, 'failed', `cheat job ${s.job} must not be paid`)

    // On chain: slashed, with the verifier's evidence hash.
    // Every cheat job failed on evidence; the stake went with the first slashes (a later one finds nothing left to take).
    const verified = await Promise.all(cheatJobs.map(async s => await cli(0, ['job', 'status', s.job])))
    for (const v of verified) assert.match(v.verdicts.at(-1).evidence.hash, /^0x[0-9a-f]{64}$/)
    const slashed = verified.filter(v => v.slash != null)
    assert.ok(slashed.length >= 1, 'slashed on chain')
    for (const v of slashed) assert.equal(v.slash.evidence, v.verdicts.at(-1).evidence.hash)
    assert.ok(BigInt((await cli(5, ['rewards', 'show'])).stake.worker) < parseUnits('100', 18))

    // Paid through the epochs: each honest worker's claimable total is its share of its released jobs.
    const workerBps = DEVNET_PARAMS.rewardSplit.worker
    const expected = new Map<number, bigint>()
    for (const s of honestJobs) {
      const w = byAddress.get(s.assign.workers[0].address)!
      expected.set(w, (expected.get(w) ?? 0n) + parseUnits(FEE, 18) * BigInt(workerBps) / 10_000n)
    }
    const provider = connectProvider(devnet.chain!.anvil.rpcUrl, devnet.chain!.anvil.chainId)
    try {
      await waitFor('every honest worker\'s earnings in a finalized epoch root', async () => {
        const shown = await Promise.all([...expected.keys()].map(async w => BigInt((await cli(w, ['rewards', 'show'])).earned ?? '0')))
        if ([...expected.values()].every((v, i) => shown[i] === v)) return true
        // The next epoch can post only once the last one's challenge window is over.
        await provider.send('evm_increaseTime', [61])
        await provider.send('evm_mine', [])
        return undefined
      }, 300_000, 3_000)
    } finally {
      provider.destroy()
    }

    const book = JSON.parse(await readFile(join(devnet.peers[1].dataDir, 'market', 'reputation.json'), 'utf8'))
    const score = (i: number): number => reputation((book[devnet.peers[i].address.toLowerCase()] ?? []).map((o: any) => ({ kind: o.kind, at: o.at })), Date.now()).score
    for (const i of [2, 3, 4]) assert.ok(score(5) < score(i), `cheater ${score(5)} below honest peer ${i} (${score(i)})`)
  })
})
