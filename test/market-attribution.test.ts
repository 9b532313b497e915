// Attribution jobs through the market, on a 5-peer devnet with its anvil chain: peer 0
// holds the SpamAssassin datanet, aggregates and verifies; peer 1 requests; peer 2
// trains a spam-base adapter in a market training job, which is verified and released;
// then peer 1 escrows an attribution of that adapter. Peer 4 (`scores`) undercuts and
// delivers made-up scores: the verifier's sample (seeded by its own beacon) recomputes
// to other values, it is slashed on chain and unpaid. Peer 3 then takes the job,
// fetches the adapter's checkpoints from the trainer over /openledger/verify (checked
// against the adapter's chain), scores every mail; the verifier fetches them from peer 3
// and recomputes its sample; the escrow is released, the requester records the verified
// attribution in the datanet's credit map, and the next epoch pays the worker, the
// verifier and the datanet's contributors by the weights the job measured.
import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { parseUnits } from 'ethers'
import { splitPool } from '../settlement/policy/index.ts'
import { useMarketDevnet } from './helpers/devnet.ts'
import { SPAM_BASE } from './helpers/fixtures.ts'
import { waitFor } from './helpers/wait.ts'

describe('attribution jobs on the market: sampled recomputation catches made-up scores', function () {
  this.timeout(600_000)
  const started = Date.now()
  const stage = (name: string): void => { console.log(`      ${name}: ${((Date.now() - started) / 1000).toFixed(0)} s`) }
  const net = useMarketDevnet({
    name: 'attribution-jobs',
    peers: 5,
    cheats: ['scores'],
    // No forced errors here (test/market-forced-errors covers them for attributions): the payments below are exact.
    forcedErrorRate: 0,
    import: { corpus: 'spam-assassin', limit: 600, followers: [0, 2, 3, 4] },
    models: [{ file: SPAM_BASE, peers: [0, 2, 3, 4] }],
    stakes: [[0, 'verifier', 300], [2, 'worker', 100]]
  })
  const { cli } = net
  before(() => { stage('devnet up, datanet followed, stakes in') })

  it('slashes the made-up scores, verifies, releases and pays the honest attribution', async () => {
    const { devnet, imported } = net
    assert.equal(devnet.cheatOf(4), 'scores')
    const ended = async (job: string): Promise<any> => await net.waitForJob(1, job, 'the job to end', s => s.phase === 'released' || s.phase === 'failed', 240_000, 1_000)
    // What the verifier found, for a failure message.
    const found = async (job: string): Promise<string> => JSON.stringify((await cli(0, ['job', 'status', job])).evidence ?? null).slice(0, 1000)

    // The adapter: a market training job, verified and released.
    const training = await cli(1, ['job', 'submit', '--datanet', `spam-assassin@${imported.version}`, '--base', 'spam-base', '--amount', '10', '--steps', '100', '--batch', '32', '--bid-window', '2500'])
    assert.equal(training.assign.workers[0].address, devnet.peers[2].address)
    const trained = await ended(training.job)
    assert.equal(trained.phase, 'released', await found(training.job))
    const adapter = trained.result.result
    stage('training job released')
    // Epoch 1 holds the training job; its window must close before epoch 2 can be posted.
    await net.waitForCli(2, ['rewards', 'show'], 'the training job in an epoch root', r => r.earned === parseUnits('5', 18).toString(), 90_000, 1_000)
    await net.warp(61)

    // The trainer steps back (its own checkpoints would spare the fetch); two attribution workers stake.
    await cli(2, ['stake', 'unbond', '100', '--role', 'worker'])
    // ...and referees: every rejection goes to it before anyone is slashed.
    await cli(2, ['stake', 'add', '200', '--role', 'verifier'])
    await cli(3, ['stake', 'add', '100', '--role', 'worker'])
    await cli(4, ['stake', 'add', '100', '--role', 'worker'])

    const first = await cli(1, ['job', 'submit', '--kind', 'attribute', '--adapter', adapter, '--amount', '20', '--bid-window', '2500'])
    assert.equal(first.announce.kind, 'attribute')
    assert.equal(first.announce.spec.adapter, adapter)
    assert.equal(first.announce.spec.params.trainJob, training.job)
    assert.equal(first.announce.spec.params.trainer, devnet.peers[2].peerId)
    assert.equal(first.assign.workers[0].address, devnet.peers[4].address, 'the cheater undercuts')
    const caught = await ended(first.job)
    assert.equal(caught.phase, 'failed')
    assert.equal(first.assign.referee.address, devnet.peers[2].address)
    const referee = await net.waitForJob(2, first.job, 'the referee\'s slash', s => s.slash != null, 240_000, 1_000)
    assert.equal(referee.rulings.at(-1).faulty, 'worker')
    const verifier = await cli(0, ['job', 'status', first.job])
    const v = verifier.verdicts.at(-1)
    assert.equal(v.ok, false)
    assert.ok(v.checked.length >= 16, `${v.checked.length} examples recomputed: ${JSON.stringify(verifier.evidence).slice(0, 1000)}`)
    assert.ok(verifier.evidence.scores.length >= v.checked.length - 1, `${verifier.evidence.scores.length} of ${v.checked.length} sampled scores do not recompute`)
    assert.ok(verifier.evidence.scores[0].proof.length > 0, 'the claimed score comes with its Merkle proof')
    assert.equal(referee.slash.evidence, referee.rulings.at(-1).evidence.hash)
    assert.equal((await cli(4, ['rewards', 'show'])).stake.worker, parseUnits('50', 18).toString())
    stage('made-up scores caught and slashed')

    const second = await cli(1, ['job', 'submit', '--kind', 'attribute', '--train-job', training.job, '--amount', '20', '--bid-window', '2500'])
    assert.equal(second.assign.workers[0].address, devnet.peers[3].address)
    const done = await ended(second.job)
    assert.equal(done.phase, 'released', await found(second.job))
    stage('honest attribution released')
    const worker = await cli(3, ['job', 'status', second.job])
    const examples = worker.result.receipt.entries
    assert.ok(examples > 100, `${examples} mails scored`)
    // The worker read the checkpoints TracIn needs from the trainer and keeps them for its verifiers.
    assert.deepEqual((await readdir(join(devnet.peers[3].dataDir, 'market', `${second.job}.ckpt`))).sort(), ['ckpt-100.safetensors', 'ckpt-50.safetensors'])
    const checked = await cli(0, ['job', 'status', second.job])
    assert.equal(checked.verdicts.at(-1).ok, true)
    assert.ok(checked.verdicts.at(-1).checked.length >= 16)

    // The requester's record of the verified attribution, in the credit map every peer sees.
    const shown = await waitFor('the attribution in the credit map', async (saw) => {
      const d = await cli(0, ['datanet', 'show', 'spam-assassin'])
      const cycle = d.cycles.find((c: any) => c.adapter === adapter)
      saw(cycle ?? 'no cycle of the adapter yet')
      return cycle?.attributedBy === devnet.peers[1].address ? { d, cycle } : undefined
    }, 60_000, 1_000)
    const weights = new Map<string, number>()
    for (const c of shown.d.contributions) for (const x of c.credits) if (x.cycle === shown.cycle.cid && x.weight > 0) weights.set(c.contributor.toLowerCase(), (weights.get(c.contributor.toLowerCase()) ?? 0) + x.weight)
    assert.ok(weights.size >= 2, `${weights.size} contributors paid`)

    // The epoch: worker 50 %, the verifier 20 % (plus its 2 OPEN for the training job), contributors 25 % by the job's own weights.
    const paid = await net.waitForCli(3, ['rewards', 'show'], 'the attribution worker\'s share in an epoch root', r => r.earned !== null, 120_000, 1_000)
    assert.equal(paid.earned, parseUnits('10', 18).toString())
    assert.equal((await cli(0, ['rewards', 'show'])).earned, parseUnits('6', 18).toString())
    assert.equal((await cli(4, ['rewards', 'show'])).earned, null, 'the cheater earned nothing')
    const due = new Map(splitPool(parseUnits('5', 18), [...weights].map(([contributor, weight]) => ({ contributor, weight }))).map(x => [x.contributor, x.amount]))
    const top = [...weights].sort((a, b) => b[1] - a[1]).slice(0, 2)
    for (const [address] of top) assert.equal((await cli(1, ['rewards', 'show', address])).earned, due.get(address)!.toString(), `contributor ${address}`)
    stage('paid in epoch 2')
  })
})
