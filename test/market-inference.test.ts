// Inference batches through the market, on a 5-peer devnet with its anvil chain: peer 1
// escrows a batch of State of the Union openings for the shipped sotu-lm; peer 2
// generates honestly; peer 4 (`small`) generates with half the model's layers and
// undercuts; peer 0 verifies by re-generating a sample of the requests on the real
// model, and peer 3 referees. The cheater is caught, confirmed by the referee (which
// re-generates the verifier's sample), slashed on chain and unpaid; with its stake gone
// the honest worker takes the next batch, which is verified, released and paid.
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseUnits } from 'ethers'
import { readSotuAddresses } from '../storage/corpora/sotu.ts'
import { useMarketDevnet } from './helpers/devnet.ts'
import { SOTU_LM } from './helpers/fixtures.ts'

describe('inference batches on the market: sampled re-generation catches a smaller model', function () {
  this.timeout(600_000)
  const net = useMarketDevnet({
    name: 'infer',
    peers: 5,
    cheats: ['small'],
    models: [{ file: SOTU_LM, peers: [0, 1, 2, 3, 4] }],
    // Peer 3 referees: it re-generates the verifier's sample before anyone is slashed. Peer 4, the last, cheats.
    stakes: [[0, 'verifier', 300], [2, 'worker', 100], [3, 'verifier', 200], [4, 'worker', 100]]
  })
  const { cli } = net

  it('slashes the smaller-model worker and pays the honest one', async () => {
    const { devnet, dir } = net
    // Real prompts: the first words of 16 addresses.
    const prompts = readSotuAddresses().slice(0, 16).map(a => a.text.replace(/\s+/g, ' ').trim().split(' ').slice(0, 8).join(' '))
    const file = join(dir, 'prompts.json')
    await writeFile(file, JSON.stringify(prompts))
    const submit = async (): Promise<any> => await cli(1, ['job', 'submit', '--kind', 'infer', '--base', 'sotu-lm', '--prompts', file, '--max-tokens', '24', '--amount', '20', '--bid-window', '2500'])
    const ended = async (job: string): Promise<any> => await net.waitForJob(1, job, 'the batch to end', s => s.phase === 'released' || s.phase === 'failed', 240_000, 1_000)

    const first = await submit()
    assert.equal(first.announce.kind, 'infer')
    assert.equal(first.assign.workers[0].address, devnet.peers[4].address, 'the cheater undercuts')
    const caught = await ended(first.job)
    assert.equal(caught.phase, 'failed')
    assert.equal(first.assign.referee.address, devnet.peers[3].address)
    const referee = await net.waitForJob(3, first.job, 'the referee\'s slash', s => s.slash != null, 240_000, 1_000)
    assert.equal(referee.rulings.at(-1).faulty, 'worker', 'the referee re-generated the verifier\'s sample and found the same')
    assert.equal(referee.slash.evidence, referee.rulings.at(-1).evidence.hash)
    const verifier = await cli(0, ['job', 'status', first.job])
    assert.ok(verifier.evidence.mismatches.length > 0, 'sampled requests re-generate to other tokens')
    assert.ok(verifier.verdicts.at(-1).checked.length >= 1)
    assert.equal((await cli(4, ['rewards', 'show'])).stake.worker, parseUnits('50', 18).toString())

    const second = await submit()
    assert.equal(second.assign.workers[0].address, devnet.peers[2].address)
    const done = await ended(second.job)
    assert.equal(done.phase, 'released', JSON.stringify(done.verdicts))
    const worker = await cli(2, ['job', 'status', second.job])
    assert.equal(worker.result.receipt.entries, 16)
    const paid = await net.waitForCli(2, ['rewards', 'show'], 'the worker\'s share in an epoch root', r => r.earned !== null, 90_000, 1_000)
    assert.equal(paid.earned, parseUnits('10', 18).toString())
  })
})
