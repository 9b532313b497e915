// Training jobs across devices on a devnet with its chain: peers started with
// `--device webgpu` (Mesa's lavapipe in CI) work, verify and referee beside CPU peers.
// Each receipt names its device class; a verifier on another class replays within the
// pair's measured tolerance, and a dispute it raises is settled by a referee that replays
// the whole segment. A requester asks for a device with `job submit --device`.
//   peer 0 aggregates, peer 1 requests,
//   peer 2 works on webgpu (honest),
//   peer 3 verifies on the CPU (stake 200), peer 4 verifies on webgpu (stake 300: ranked first),
//   peer 5 works on the CPU and skips half of every segment ('skip').
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseUnits } from 'ethers'
import { probeDevices } from '../compute/capacity/device-probe.ts'
import { useMarketDevnet } from './helpers/devnet.ts'
import { MARKET_MAILS, SPAM_BASE } from './helpers/fixtures.ts'

const REQUIRE_WEBGPU = process.env.OPENLEDGER_REQUIRE_WEBGPU === '1'

describe('training jobs across devices on a devnet (webgpu and cpu peers)', function () {
  this.timeout(600_000)
  // Declared before the devnet: without a Vulkan driver the whole file is skipped (CI has lavapipe and requires it).
  before(async function () {
    const [probe] = await probeDevices(['webgpu'], { size: 64, chain: 2, runs: 1, threads: 1 })
    if (!probe.available) {
      if (REQUIRE_WEBGPU) assert.fail(`webgpu is required here but unavailable: ${probe.error}`)
      this.skip()
    }
  })
  const checkers = [2, 3, 4, 5]
  const net = useMarketDevnet({
    name: 'devices',
    peers: 6,
    cheats: ['skip'],
    devices: { 2: 'webgpu', 4: 'webgpu' },
    import: { corpus: 'spam-assassin', limit: MARKET_MAILS, followers: checkers },
    models: [{ file: SPAM_BASE, peers: checkers }],
    stakes: [[2, 'worker', 100], [3, 'verifier', 200], [4, 'verifier', 300], [5, 'worker', 100]]
  })
  const { cli } = net

  const submit = async (device: string, verifiers: number): Promise<any> => await cli(1, ['job', 'submit', '--datanet', `spam-assassin@${net.imported.version}`, '--base', 'spam-base', '--amount', '100', '--steps', '100', '--batch', '32', '--bid-window', '4000', '--device', device, '--verifiers', String(verifiers)])
  const log = async (peer: number): Promise<string> => await readFile(join(net.peers[peer].dataDir, 'node.log'), 'utf8')

  it('a webgpu worker asked for by device is verified by a cpu verifier (across classes) and a webgpu one, and paid', async () => {
    const { peers } = net
    const submitted = await submit('webgpu', 2)
    assert.equal(submitted.phase, 'assigned', submitted.error)
    assert.equal(submitted.assign.workers[0].address, peers[2].address, 'the only webgpu worker')
    assert.deepEqual(submitted.assign.verifiers.map((v: any) => v.address).sort(), [peers[3].address, peers[4].address].sort())
    // Every bid states its device; the cpu workers were refused for this job's need.
    const requester = await cli(1, ['job', 'status', submitted.job])
    const bidOf = (p: number): any => requester.bids.find((b: any) => b.address === peers[p].address)
    assert.equal(bidOf(2).device.device, 'webgpu')
    assert.ok(bidOf(2).device.gflops > 0)
    assert.equal(bidOf(5).device.device, 'cpu')

    const done = await net.waitForJob(1, submitted.job, 'the webgpu job to be verified and released', s => s.phase === 'released' || s.phase === 'failed', 400_000, 1_000)
    assert.equal(done.phase, 'released', JSON.stringify(done.verdicts))
    // Each verifier's own record of its verdict (the requester may learn of the release from the chain before their gossip reaches it).
    for (const p of [3, 4]) {
      const mine = (await net.jobStatus(p, submitted.job)).verdicts?.find((v: any) => v.by.toLowerCase() === peers[p].address.toLowerCase())
      assert.equal(mine?.ok, true, `peer ${p}'s verdict: ${JSON.stringify(mine)}`)
    }
    // The receipt names the worker's device class; the cpu verifier knew to compare within tolerance.
    const worker = await cli(2, ['job', 'status', submitted.job])
    assert.equal(worker.phase, 'released')
    assert.match(await log(3), /replaying across device classes/)
    const earned = await net.waitForCli(2, ['rewards', 'show'], 'the webgpu worker\'s share in an epoch root', r => r.earned !== null, 90_000, 1_000)
    assert.equal(earned.earned, parseUnits('50', 18).toString())
    for (const p of [3, 4]) assert.equal((await cli(p, ['rewards', 'show'])).stake.verifier, parseUnits(p === 3 ? '200' : '300', 18).toString(), `verifier ${p} not slashed`)
  })

  it('a cpu worker that skips steps is caught by a webgpu verifier, ruled against by a referee that replays the segment, and slashed', async () => {
    const { peers } = net
    const submitted = await submit('cpu', 1)
    assert.equal(submitted.phase, 'assigned', submitted.error)
    assert.equal(submitted.assign.workers[0].address, peers[5].address, 'the cheaper cpu worker')
    assert.equal(submitted.assign.verifiers[0].address, peers[4].address, 'the webgpu verifier, ranked first by stake')
    assert.equal(submitted.assign.referee.address, peers[3].address)
    const rejected = await net.waitForJob(4, submitted.job, 'the webgpu verifier\'s rejection', s => s.verdicts?.some((v: any) => !v.ok), 400_000, 1_000)
    const verdict = rejected.verdicts.find((v: any) => !v.ok)
    assert.equal(verdict.dispute.tolerance, true, 'replayed on another class: a dispute the referee settles by replaying the segment')
    const ruled = await net.waitForJob(3, submitted.job, 'the referee\'s ruling and slash', s => s.slash != null, 300_000, 1_000)
    assert.equal(ruled.rulings[0].faulty, 'worker')
    assert.equal(ruled.rulings[0].rounds, 0, 'no bisection: the whole segment replayed')
    const cheater = await cli(5, ['rewards', 'show'])
    assert.equal(cheater.stake.worker, parseUnits('50', 18).toString())
    assert.equal((await cli(4, ['rewards', 'show'])).stake.verifier, parseUnits('300', 18).toString(), 'the honest webgpu verifier is not slashed')
  })

  it('train --device runs one request on another device than the peer\'s (its market work above ran on its own); a device this install lacks is refused with how to get it', async () => {
    const version = `spam-assassin@${net.imported.version}`
    const onCpu = await cli(2, ['train', '--datanet', version, '--base', 'spam-base', '--steps', '20', '--batch', '16', '--device', 'cpu'])
    assert.equal(onCpu.device, 'cpu', 'the webgpu peer trained this request on the cpu')
    const cuda = await cli(2, ['train', '--datanet', version, '--base', 'spam-base', '--steps', '20', '--device', 'cuda'], false)
    assert.equal(cuda.code, 1, cuda.stderr)
    assert.match(cuda.stderr, /device cuda is unavailable/)
    assert.match(cuda.stderr, /onnxruntime-node-install=cuda12/)
    const bad = await cli(2, ['train', '--datanet', version, '--base', 'spam-base', '--device', 'gpu'], false)
    assert.equal(bad.code, 2)
  })
})
