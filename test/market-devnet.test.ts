// A training job through the market on a 4-peer devnet with its anvil chain: peer 1
// escrows 100 OPEN and broadcasts the job; peer 2 (worker stake, holds spam-base) and
// peer 3 (verifier stake) bid; the shared policy assigns them; peer 2 trains, peer 3
// replays sampled segments of its checkpoint chain and signs the completion; the escrow
// pays the rewards pool, and peer 0's epoch credits the worker its share.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { NonceManager, Wallet, parseUnits } from 'ethers'
import { connectProvider, SettlementClient } from '../settlement/chain/client.ts'
import { Devnet } from '../peer/devnet/devnet.ts'
import { devnetCli } from './helpers/cli.ts'
import { waitFor } from './helpers/plain-node.ts'

const SPAM_BASE = fileURLToPath(new URL('../peer/models/built/spam-base.safetensors', import.meta.url))

type DevnetCli = ReturnType<typeof devnetCli>

/**
 * The market's cast on a 4-peer devnet: peer 0 imports SpamAssassin (and aggregates),
 * the worker and the verifier add spam-base and stake for their roles, and peer 1
 * submits a 100 OPEN training job. Returns the submission (after assignment).
 */
async function submitJob (cli: DevnetCli, who: { worker: number, verifier: number }): Promise<any> {
  const imported = await cli(0, ['datanet', 'import', 'spam-assassin', '--limit', '600'])
  for (const p of [who.worker, who.verifier]) {
    await waitFor(`peer ${p} to follow the datanet`, async () => (await cli(p, ['datanet', 'list'])).datanets.some((d: any) => d.id === imported.datanet), 60_000, 500)
    await cli(p, ['model', 'add', SPAM_BASE])
  }
  await cli(who.worker, ['stake', 'add', '100', '--role', 'worker'])
  await cli(who.verifier, ['stake', 'add', '200', '--role', 'verifier'])
  return await cli(1, ['job', 'submit', '--datanet', `spam-assassin@${imported.version}`, '--base', 'spam-base', '--amount', '100', '--steps', '100', '--batch', '32', '--bid-window', '3000'])
}

describe('the task market on a devnet: escrow -> bids -> training -> verification -> release -> epoch', function () {
  this.timeout(400_000)
  let dir: string
  let devnet: Devnet
  const cli = devnetCli(() => devnet.peers, 300_000)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-market-'))
    devnet = new Devnet({ dir: join(dir, 'devnet'), peers: 4, benchSize: 32, chain: true, epochIntervalMs: 1_000 })
    await devnet.start()
  })
  after(async () => {
    await devnet?.stop()
    if (process.env.KEEP == null) await rm(dir, { recursive: true, force: true })
  })

  it('pays an honest worker for a verified training job', async () => {
    const submitted = await submitJob(cli, { worker: 2, verifier: 3 })
    assert.equal(submitted.phase, 'assigned', submitted.error)
    assert.equal(submitted.assign.workers[0].address, devnet.peers[2].address)
    assert.equal(submitted.assign.verifiers[0].address, devnet.peers[3].address)

    const done = await waitFor('the job to be verified and released', async () => {
      const s = await cli(1, ['job', 'status', submitted.job])
      return s.phase === 'released' || s.phase === 'failed' ? s : undefined
    }, 240_000, 1_000)
    assert.equal(done.phase, 'released', JSON.stringify(done.verdicts))
    assert.equal(done.verdicts[0].ok, true)
    assert.ok(done.verdicts[0].checked.length >= 1)
    const worker = await cli(2, ['job', 'status', submitted.job])
    assert.equal(worker.role, 'worker')
    assert.equal(worker.result.receipt.entries, 2)
    const book = JSON.parse(await readFile(join(devnet.peers[1].dataDir, 'market', 'reputation.json'), 'utf8'))
    assert.deepEqual(book[devnet.peers[2].address.toLowerCase()].map((o: any) => o.kind), ['verified'])

    const earned = await waitFor('the worker\'s share in an epoch root', async () => {
      const r = await cli(2, ['rewards', 'show'])
      return r.earned !== null ? r : undefined
    }, 60_000, 1_000)
    assert.equal(earned.earned, parseUnits('50', 18).toString())
  })
  it('a worker killed with -9 while training resumes after a restart, and is paid once', async () => {
    const datanet = (await cli(1, ['job', 'list'])).map((j: any) => j.job)[0]
    const first = await cli(1, ['job', 'status', datanet])
    const submitted = await cli(1, ['job', 'submit', '--datanet', first.announce.spec.params.datanet, '--base', 'spam-base', '--amount', '10', '--steps', '1500', '--batch', '32', '--bid-window', '2000'])
    assert.equal(submitted.assign.workers[0].address, devnet.peers[2].address)
    await waitFor('the worker to be training', async () => (await cli(2, ['job', 'status', submitted.job])).phase === 'training', 60_000, 200)
    await new Promise(resolve => setTimeout(resolve, 1_500))
    await devnet.kill(devnet.peers[2])
    await devnet.startPeer(devnet.peers[2])
    const done = await waitFor('the resumed job to be released', async () => {
      const s = await cli(1, ['job', 'status', submitted.job])
      return s.phase === 'released' || s.phase === 'failed' ? s : undefined
    }, 300_000, 1_000)
    assert.equal(done.phase, 'released', JSON.stringify(done.verdicts))
    const worker = await cli(2, ['job', 'status', submitted.job])
    assert.equal(worker.result.receipt.entries, 30)
    // Epoch 1's window must close before epoch 2 can be posted.
    const provider = connectProvider(devnet.chain!.anvil.rpcUrl, devnet.chain!.anvil.chainId)
    await provider.send('evm_increaseTime', [61])
    await provider.send('evm_mine', [])
    provider.destroy()
    const earned = await waitFor('the second job in an epoch', async () => {
      const r = await cli(2, ['rewards', 'show'])
      return r.earned === parseUnits('55', 18).toString() ? r : undefined
    }, 60_000, 1_000)
    assert.equal(earned.earned, parseUnits('55', 18).toString(), '50 + 5: each job paid once')
  })
  it('a requester that vanishes after assigning cannot withhold payment: the worker releases the escrow itself', async () => {
    const first = await cli(1, ['job', 'status', (await cli(1, ['job', 'list'])).at(-1).job])
    const submitted = await cli(1, ['job', 'submit', '--datanet', first.announce.spec.params.datanet, '--base', 'spam-base', '--amount', '20', '--steps', '100', '--batch', '32', '--bid-window', '2000'])
    await devnet.kill(devnet.peers[1])
    const worker = await waitFor('the worker to release its verified job', async () => {
      const s = await cli(2, ['job', 'status', submitted.job])
      return s.phase === 'released' ? s : undefined
    }, 120_000, 1_000)
    assert.equal(worker.release.by, devnet.peers[2].address)
    await devnet.startPeer(devnet.peers[1])
  })
})

describe('the task market on a devnet with a cheating worker', function () {
  this.timeout(400_000)
  let dir: string
  let devnet: Devnet
  const cli = devnetCli(() => devnet.peers, 300_000)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-cheat-'))
    // Peer 3 is the cheater: it trains half the steps and claims all of them.
    devnet = new Devnet({ dir: join(dir, 'devnet'), peers: 4, benchSize: 32, chain: true, epochIntervalMs: 1_000, cheaters: 1 })
    await devnet.start()
  })
  after(async () => {
    await devnet?.stop()
    if (process.env.KEEP == null) await rm(dir, { recursive: true, force: true })
  })

  it('catches a worker that skips steps: no payment, its stake slashed on chain with evidence, the fee refunded to the requester after the deadline', async () => {
    const submitted = await submitJob(cli, { worker: 3, verifier: 2 })
    assert.equal(submitted.assign.workers[0].address, devnet.peers[3].address)

    const verified = await waitFor('the verifier\'s verdict and slash', async () => {
      const s = await cli(2, ['job', 'status', submitted.job])
      return s.slash != null ? s : undefined
    }, 240_000, 1_000)
    assert.equal(verified.verdicts[0].ok, false)
    assert.match(verified.verdicts[0].evidence.hash, /^0x[0-9a-f]{64}$/)
    assert.equal(verified.slash.evidence, verified.verdicts[0].evidence.hash)
    const requester = await waitFor('the requester to see the fault', async () => {
      const s = await cli(1, ['job', 'status', submitted.job])
      return s.phase === 'failed' ? s : undefined
    }, 30_000, 500)
    assert.equal(requester.release, undefined, 'nothing released for a faulty result')
    // The requester remembers: the cheater's next bid starts from a failed record.
    const book = JSON.parse(await readFile(join(devnet.peers[1].dataDir, 'market', 'reputation.json'), 'utf8'))
    assert.deepEqual(book[devnet.peers[3].address.toLowerCase()].map((o: any) => o.kind), ['failed'])

    // On chain: the cheater lost 50 OPEN of worker stake, the verifier got its prover share.
    const cheater = await cli(3, ['rewards', 'show'])
    assert.equal(cheater.stake.worker, parseUnits('50', 18).toString())
    const chain = devnet.chain!
    const provider = connectProvider(chain.anvil.rpcUrl, chain.anvil.chainId)
    const client = await SettlementClient.create(chain.addresses, new NonceManager(new Wallet(chain.anvil.accounts[0].privateKey, provider)))
    assert.equal((await client.jobOf(submitted.job)).status, 1, 'still in escrow')
    await provider.send('evm_increaseTime', [3_601])
    await provider.send('evm_mine', [])
    // A job that cannot complete is refunded: the requester takes its fee back once the deadline passed.
    const refunded = await waitFor('the requester to take its fee back', async () => {
      const s = await cli(1, ['job', 'status', submitted.job])
      return s.phase === 'refunded' ? s : undefined
    }, 60_000, 1_000)
    assert.match(refunded.refund.tx, /^0x[0-9a-f]{64}$/)
    assert.equal((await client.jobOf(submitted.job)).status, 3, 'refunded to the requester')
    provider.destroy()
  })
})

describe('the task market on a devnet with a worker that goes silent', function () {
  this.timeout(400_000)
  let dir: string
  let devnet: Devnet
  const cli = devnetCli(() => devnet.peers, 300_000)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-silent-'))
    devnet = new Devnet({ dir: join(dir, 'devnet'), peers: 5, benchSize: 32, chain: true, epochIntervalMs: 1_000 })
    await devnet.start()
  })
  after(async () => {
    await devnet?.stop()
    if (process.env.KEEP == null) await rm(dir, { recursive: true, force: true })
  })

  it('replaces a worker killed mid-job with the next-best bidder, which resumes from the checkpoints the verifier held, and pays the one that delivered', async () => {
    const imported = await cli(0, ['datanet', 'import', 'spam-assassin', '--limit', '600'])
    for (const p of [2, 3, 4]) {
      await waitFor(`peer ${p} to follow the datanet`, async () => (await cli(p, ['datanet', 'list'])).datanets.some((d: any) => d.id === imported.datanet), 60_000, 500)
      await cli(p, ['model', 'add', SPAM_BASE])
    }
    await cli(2, ['stake', 'add', '100', '--role', 'worker'])
    await cli(3, ['stake', 'add', '100', '--role', 'worker'])
    await cli(4, ['stake', 'add', '200', '--role', 'verifier'])
    const submitted = await cli(1, ['job', 'submit', '--datanet', `spam-assassin@${imported.version}`, '--base', 'spam-base', '--amount', '100', '--steps', '1500', '--batch', '32', '--bid-window', '3000'])
    const first = devnet.peers.find(p => p.address === submitted.assign.workers[0].address)!
    const other = devnet.peers.find(p => p.index !== first.index && (p.index === 2 || p.index === 3))!
    await waitFor('the first worker to be training', async () => (await cli(first.index, ['job', 'status', submitted.job])).phase === 'training', 60_000, 200)
    // The verifier holds the checkpoints the worker announces: wait for a few, then kill the worker.
    const held = await waitFor('the verifier to hold a checkpoint', async () => {
      const s = await cli(4, ['job', 'status', submitted.job])
      return (s.held ?? 0) >= 100 ? s.held : undefined
    }, 120_000, 250)
    await devnet.kill(first)

    const done = await waitFor('the job to be reassigned, verified and released', async () => {
      const s = await cli(1, ['job', 'status', submitted.job])
      return s.phase === 'released' || s.phase === 'failed' ? s : undefined
    }, 300_000, 1_000)
    assert.equal(done.phase, 'released', JSON.stringify(done.verdicts))
    assert.deepEqual(done.silent, [first.peerId])
    assert.equal(done.assign.workers[0].address, other.address)
    // The replacement resumed from the last checkpoint it could confirm, not from step 0.
    const replacement = await cli(other.index, ['job', 'status', submitted.job])
    assert.ok(replacement.resumedFrom >= 100 && replacement.resumedFrom <= held + 50, `resumed from ${replacement.resumedFrom} (verifier held ${held})`)
    const book = JSON.parse(await readFile(join(devnet.peers[1].dataDir, 'market', 'reputation.json'), 'utf8'))
    assert.deepEqual(book[first.address.toLowerCase()].map((o: any) => o.kind), ['timeout'])
    assert.deepEqual(book[other.address.toLowerCase()].map((o: any) => o.kind), ['verified'])
    const earned = await waitFor('the replacement\'s share in an epoch root', async () => {
      const r = await cli(other.index, ['rewards', 'show'])
      return r.earned !== null ? r : undefined
    }, 60_000, 1_000)
    assert.equal(earned.earned, parseUnits('50', 18).toString())
  })
})
