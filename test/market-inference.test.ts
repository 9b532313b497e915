// Inference batches through the market, on a 4-peer devnet with its anvil chain: peer 1
// escrows a batch of State of the Union openings for the shipped sotu-lm; peer 2
// generates honestly; peer 3 (`small`) generates with half the model's layers and
// undercuts; peer 0 verifies by re-generating a sample of the requests on the real
// model. The cheater is caught, slashed on chain and unpaid; with its stake gone the
// honest worker takes the next batch, which is verified, released and paid.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseUnits } from 'ethers'
import { Devnet } from '../peer/devnet/devnet.ts'
import { readSotuAddresses } from '../storage/corpora/sotu.ts'
import { devnetCli } from './helpers/cli.ts'
import { waitFor } from './helpers/plain-node.ts'

const SOTU_LM = fileURLToPath(new URL('../peer/models/built/sotu-lm.safetensors', import.meta.url))

describe('inference batches on the market: sampled re-generation catches a smaller model', function () {
  this.timeout(600_000)
  let dir: string
  let devnet: Devnet
  const cli = devnetCli(() => devnet.peers, 300_000)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-infer-'))
    devnet = new Devnet({ dir: join(dir, 'devnet'), peers: 4, benchSize: 32, chain: true, epochIntervalMs: 1_000, cheats: ['small'] })
    await devnet.start()
  })
  after(async () => {
    await devnet?.stop()
    if (process.env.KEEP == null) await rm(dir, { recursive: true, force: true })
  })

  it('slashes the smaller-model worker and pays the honest one', async () => {
    for (const p of [0, 1, 2, 3]) await cli(p, ['model', 'add', SOTU_LM])
    await cli(0, ['stake', 'add', '200', '--role', 'verifier'])
    await cli(2, ['stake', 'add', '100', '--role', 'worker'])
    await cli(3, ['stake', 'add', '100', '--role', 'worker'])
    // Real prompts: the first words of 16 addresses.
    const prompts = readSotuAddresses().slice(0, 16).map(a => a.text.replace(/\s+/g, ' ').trim().split(' ').slice(0, 8).join(' '))
    const file = join(dir, 'prompts.json')
    await writeFile(file, JSON.stringify(prompts))
    const submit = async (): Promise<any> => await cli(1, ['job', 'submit', '--kind', 'infer', '--base', 'sotu-lm', '--prompts', file, '--max-tokens', '24', '--amount', '20', '--bid-window', '2500'])
    const ended = async (job: string): Promise<any> => await waitFor('the batch to end', async () => {
      const s = await cli(1, ['job', 'status', job])
      return s.phase === 'released' || s.phase === 'failed' ? s : undefined
    }, 240_000, 1_000)

    const first = await submit()
    assert.equal(first.announce.kind, 'infer')
    assert.equal(first.assign.workers[0].address, devnet.peers[3].address, 'the cheater undercuts')
    const caught = await ended(first.job)
    assert.equal(caught.phase, 'failed')
    const verifier = await waitFor('the slash', async () => {
      const s = await cli(0, ['job', 'status', first.job])
      return s.slash != null ? s : undefined
    }, 60_000, 1_000)
    assert.ok(verifier.evidence.mismatches.length > 0, 'sampled requests re-generate to other tokens')
    assert.ok(verifier.verdicts.at(-1).checked.length >= 1)
    assert.equal(verifier.slash.evidence, verifier.verdicts.at(-1).evidence.hash)
    assert.equal((await cli(3, ['rewards', 'show'])).stake.worker, parseUnits('50', 18).toString())

    const second = await submit()
    assert.equal(second.assign.workers[0].address, devnet.peers[2].address)
    const done = await ended(second.job)
    assert.equal(done.phase, 'released', JSON.stringify(done.verdicts))
    const worker = await cli(2, ['job', 'status', second.job])
    assert.equal(worker.result.receipt.entries, 16)
    const paid = await waitFor('the worker\'s share in an epoch root', async () => {
      const r = await cli(2, ['rewards', 'show'])
      return r.earned !== null ? r : undefined
    }, 90_000, 1_000)
    assert.equal(paid.earned, parseUnits('10', 18).toString())
  })
})
