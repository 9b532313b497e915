// Lazy verifiers against forced errors, on a 6-peer devnet with its anvil chain where
// every job draws a forced error (rate 1, the same on every peer): peer 2 works
// honestly and plants the fault; peer 3 verifies honestly; peer 5 approves everything;
// peer 4 referees and proves the lazy approvals on chain.
// The honest verifier finds the planted fault, the lazy one approves it; the worker
// reveals, so it is not slashed and the lazy verifier is, on chain, with the reveal as
// evidence; the real result is then verified and the worker paid. The same for an
// inference batch and for an attribution of the trained adapter.
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseUnits } from 'ethers'
import { readSotuAddresses } from '../storage/corpora/sotu.ts'
import { useMarketDevnet } from './helpers/devnet.ts'
import { MARKET_MAILS, SOTU_LM, SPAM_BASE } from './helpers/fixtures.ts'

describe('forced errors on a devnet: a verifier that approves without checking loses its stake', function () {
  this.timeout(600_000)
  const net = useMarketDevnet({
    name: 'forced',
    peers: 6,
    cheats: ['approve'],
    forcedErrorRate: 1,
    import: { corpus: 'spam-assassin', limit: MARKET_MAILS, followers: [2, 3, 4, 5] },
    models: [{ file: SPAM_BASE, peers: [2, 3, 4, 5] }],
    // Peer 4 referees (the least verifier stake): it proves lazy approvals on chain. Peer 5, the last, approves unchecked.
    stakes: [[2, 'worker', 100], [3, 'verifier', 300], [4, 'verifier', 200], [5, 'verifier', 300]]
  })
  const { cli } = net

  it('catches the lazy approval of a planted fault, slashes the approver, spares the worker, and pays the real result', async () => {
    const { devnet, imported } = net
    const submitted = await cli(1, ['job', 'submit', '--datanet', `spam-assassin@${imported.version}`, '--base', 'spam-base', '--amount', '50', '--steps', '100', '--batch', '32', '--verifiers', '2', '--bid-window', '3000'])
    assert.equal(submitted.phase, 'assigned', submitted.error)
    assert.equal(submitted.assign.workers[0].address, devnet.peers[2].address)
    assert.deepEqual(submitted.assign.verifiers.map((v: any) => v.address).sort(), [devnet.peers[3].address, devnet.peers[5].address].sort())
    assert.match(submitted.assign.workers[0].commit, /^0x[0-9a-f]{64}$/, 'the worker committed to its forced-error secret in its bid')
    assert.equal(submitted.assign.referee.address, devnet.peers[4].address)

    const referee = await net.waitForJob(4, submitted.job, 'the referee to slash the lazy verifier', s => (s.lazySlashes ?? []).length > 0, 240_000, 1_000)
    assert.equal(referee.lazySlashes[0].verifier, devnet.peers[5].address)
    const honest = await cli(3, ['job', 'status', submitted.job])
    assert.equal(honest.revealed.length, 1, 'the planted result was revealed')
    assert.equal(referee.slash, undefined, 'the worker who planted the fault is not slashed')

    const done = await net.waitForJob(1, submitted.job, 'the real result to be released', s => s.phase === 'released', 240_000, 1_000)
    assert.notEqual(done.result.resultHash, honest.revealed[0], 'the released result is the real one')
    const onReal = done.verdicts.filter((v: any) => v.resultHash === done.result.resultHash)
    assert.equal(onReal.length, 2, 'both verifiers judged the real result')
    assert.ok(onReal.every((v: any) => v.ok))
    assert.ok(done.verdicts.every((v: any) => v.resultHash !== honest.revealed[0]), 'the forced result\'s verdicts no longer count')

    const lazy = await cli(5, ['rewards', 'show'])
    assert.equal(lazy.stake.verifier, parseUnits('200', 18).toString(), 'lazy verifier: 300 staked, 100 slashed')
    const worker = await cli(2, ['rewards', 'show'])
    assert.equal(worker.stake.worker, parseUnits('100', 18).toString(), 'worker stake intact')
    const paid = await net.waitForCli(2, ['rewards', 'show'], 'the worker\'s share in an epoch root', r => r.earned !== null, 90_000, 1_000)
    assert.equal(paid.earned, parseUnits('25', 18).toString())
  })
  it('plants forced errors in inference batches too: the lazy verifier, staked again, is caught approving corrupted outputs', async () => {
    const { devnet, dir } = net
    for (const p of [1, 2, 3, 4, 5]) await cli(p, ['model', 'add', SOTU_LM])
    // The lazy verifier tops its stake back up after the first slash (above the referee's, so it verifies again).
    await cli(5, ['stake', 'add', '100', '--role', 'verifier'])
    const prompts = readSotuAddresses().slice(0, 8).map(a => a.text.replace(/\s+/g, ' ').trim().split(' ').slice(0, 8).join(' '))
    const file = join(dir, 'prompts.json')
    await writeFile(file, JSON.stringify(prompts))
    const submitted = await cli(1, ['job', 'submit', '--kind', 'infer', '--base', 'sotu-lm', '--prompts', file, '--max-tokens', '16', '--amount', '20', '--verifiers', '2', '--bid-window', '3000'])
    assert.equal(submitted.phase, 'assigned', submitted.error)
    assert.equal(submitted.assign.workers[0].address, devnet.peers[2].address)
    const referee = await net.waitForJob(4, submitted.job, 'the referee to slash the lazy verifier', s => (s.lazySlashes ?? []).length > 0, 240_000, 1_000)
    assert.equal(referee.lazySlashes[0].verifier, devnet.peers[5].address)
    const honest = await cli(3, ['job', 'status', submitted.job])
    assert.equal(honest.revealed.length, 1, 'the planted batch was revealed')
    assert.match(referee.lazySlashes[0].evidence, /^0x[0-9a-f]{64}$/, 'slashed with evidence: the approval of outputs the honest re-generation refuted')
    const done = await net.waitForJob(1, submitted.job, 'the real batch to be released', s => s.phase === 'released', 240_000, 1_000)
    assert.notEqual(done.result.resultHash, honest.revealed[0], 'the released batch is the real one')
    assert.equal((await cli(5, ['rewards', 'show'])).stake.verifier, parseUnits('200', 18).toString(), 'lazy verifier slashed 100 again')
  })
  it('plants forced errors in attributions too: the lazy verifier is caught approving negated scores', async () => {
    const { devnet } = net
    // An attribution of the first test's adapter: its trainer works it (from its own checkpoints), both verifiers recompute or approve.
    const training = (await Promise.all((await cli(1, ['job', 'list'])).map(async (j: any) => await cli(1, ['job', 'status', j.job])))).find((s: any) => s.announce.kind === 'train' && s.phase === 'released')
    await cli(5, ['stake', 'add', '100', '--role', 'verifier'])
    const submitted = await cli(1, ['job', 'submit', '--kind', 'attribute', '--train-job', training.job, '--amount', '20', '--verifiers', '2', '--bid-window', '3000'])
    assert.equal(submitted.phase, 'assigned', submitted.error)
    assert.equal(submitted.assign.workers[0].address, devnet.peers[2].address)
    const referee = await net.waitForJob(4, submitted.job, 'the referee to slash the lazy verifier', s => (s.lazySlashes ?? []).length > 0, 240_000, 1_000)
    assert.equal(referee.lazySlashes[0].verifier, devnet.peers[5].address)
    const honest = await cli(3, ['job', 'status', submitted.job])
    assert.equal(honest.revealed.length, 1, 'the planted result was revealed')
    assert.equal(referee.slash, undefined, 'the worker who planted the fault is not slashed')
    const done = await net.waitForJob(1, submitted.job, 'the real attribution to be released', s => s.phase === 'released', 240_000, 1_000)
    assert.notEqual(done.result.resultHash, honest.revealed[0], 'the released attribution is the real one')
    assert.ok(done.verdicts.filter((v: any) => v.resultHash === done.result.resultHash).every((v: any) => v.ok))
    assert.equal((await cli(5, ['rewards', 'show'])).stake.verifier, parseUnits('200', 18).toString(), 'lazy verifier: topped up to 300, slashed 100')
  })
})
