// The README's main command: `openledger flywheel --json` (what `npm start` runs) on a
// fresh devnet, as a separate process. It must exit 0 with every stage completed, and
// what its report says was paid must be what the chain says: each address's claimed()
// and balance on the distributor and token, the roots' totals, the escrow's events.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Interface, type LogDescription } from 'ethers'
import { connectProvider, SettlementClient, type Addresses } from '../settlement/chain/client.ts'
import { readJsonIfExists } from '../storage/atomic-file.ts'
import type { FlywheelReport } from '../peer/devnet/flywheel-report.ts'
import { spawnCli } from './helpers/cli.ts'
import { waitFor } from './helpers/wait.ts'

const STAGES = ['network', 'datanets', 'replication', 'market', 'training', 'attribution', 'answers', 'inference and retraining', 'settlement', 'claims', 'report']

describe('openledger flywheel: the whole flywheel on a devnet, end to end', function () {
  this.timeout(600_000)
  let dir: string
  let report: FlywheelReport
  let code: number | null
  let stderr = ''
  let wallMs = 0

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-flywheel-'))
    const started = Date.now()
    // --keep-running: the chain stays up, so the report can be checked against it.
    const child = spawnCli(['flywheel', '--json', '--keep-running', '--dir', join(dir, 'devnet')])
    let stdout = ''
    child.stdout!.on('data', (d) => { stdout += d })
    child.stderr!.on('data', (d) => { stderr += d; if (process.env.VERBOSE != null) process.stderr.write(d) })
    let gone = false
    const exited = new Promise<number | null>(resolve => child.once('exit', (c) => { gone = true; resolve(c) }))
    try {
      const ready = await waitFor('the flywheel\'s report line, or its exit', (saw) => {
        saw(stderr.trim().split('\n').at(-1))
        return stdout.includes('\n') ? true : gone ? 'exited' : undefined
      }, 600_000, 250) === true
      wallMs = Date.now() - started
      if (ready) report = JSON.parse(stdout.split('\n')[0])
      assert.ok(ready, `the flywheel exited before its report:\n${stderr.slice(-4000)}`)
      await checkAgainstChain(join(dir, 'devnet'), report)
    } finally {
      // Ctrl-C stops everything cleanly, and after the report that is a normal end.
      child.kill('SIGINT')
      code = await exited
    }
  })
  after(async () => {
    if (process.env.KEEP == null) await rm(dir, { recursive: true, force: true })
  })

  it('completes every stage, in minutes, and exits 0 on Ctrl-C afterwards', () => {
    assert.equal(code, 0, stderr.slice(-4000))
    assert.deepEqual(report.stages.map(s => s.name), STAGES)
    for (const s of report.stages) assert.ok(s.ok, `${s.name}: ${s.summary}`)
    for (const c of report.checks) assert.ok(c.ok, `${c.what}: expected ${c.expected}, got ${c.actual}`)
    assert.ok(report.ok)
    // About 2 minutes on 2 cores: a figure, not a bound (a busy machine must not fail a test; the
    // describe's timeout stops a hung stage). npm run bench -- soak --flywheel measures it.
    console.log(`      the flywheel took ${(wallMs / 1000).toFixed(0)} s to its report`)
    // Progress was shown stage by stage, with timings.
    for (const s of STAGES) assert.match(stderr, new RegExp(`✓ ${s} \\(\\d+\\.\\d s`))
  })

  it('reports who contributed what, what attribution measured and what each job paid', () => {
    assert.deepEqual(report.datanets.map(d => d.name), ['spam-assassin', 'sotu'])
    for (const d of report.datanets) {
      assert.ok(d.contributors.length >= 5, `${d.name}: ${d.contributors.length} contributors`)
      assert.ok(d.shards > 0 && d.replication.minHolders >= d.replication.target)
    }
    assert.deepEqual(report.jobs.map(j => [j.kind, j.phase]), [['train', 'released'], ['train', 'released'], ['infer', 'released'], ['train', 'released']])
    for (const j of report.jobs) {
      assert.match(j.escrowTx ?? '', /^0x[0-9a-f]{64}$/)
      assert.match(j.releaseTx ?? '', /^0x[0-9a-f]{64}$/)
      assert.ok(j.verifiers.some(v => v.approved && v.paid))
    }
    // The first cycle on a datanet has no attribution yet; the inference batch on the sotu
    // adapter and the second spam-assassin cycle pay contributors by what it measured.
    assert.equal(report.jobs[2].contributorsCredited, report.attribution[1].contributors.filter(c => c.weight > 0).length)
    assert.equal(report.jobs[3].contributorsCredited, report.attribution[0].contributors.filter(c => c.weight > 0).length)
    for (const a of report.attribution) {
      assert.ok(Math.abs(a.contributors.reduce((t, c) => t + c.weight, 0) - 1) < 1e-9)
      assert.ok(a.contributors.some(c => c.influence > 0))
    }
    assert.ok(report.answers.length >= 1)
    for (const a of report.answers) assert.ok(Math.abs(a.baseShare + a.otherShare + a.shares.reduce((t, x) => t + x.share, 0) - 1) < 1e-6)
    assert.ok(report.epochs.length >= 1)
    for (const e of report.epochs) assert.match(e.tx, /^0x[0-9a-f]{64}$/)
    for (const role of ['worker', 'verifier', 'contributor', 'treasury'] as const) assert.ok(report.payouts.some(p => p.role === role && BigInt(p.earned) > 0n), `${role}s paid`)
    const byRole = BigInt(report.totals.workers) + BigInt(report.totals.verifiers) + BigInt(report.totals.contributors) + BigInt(report.totals.treasury) + BigInt(report.totals.other)
    assert.equal(byRole, BigInt(report.totals.fees))
  })
})

/** What the report says was paid, read again from the chain while it is still up. */
async function checkAgainstChain (devnetDir: string, report: FlywheelReport): Promise<void> {
  const chain = await readJsonIfExists<{ rpcUrl: string, addresses: Addresses }>(join(devnetDir, 'chain.json'))
  assert.ok(chain != null)
  const provider = connectProvider(chain.rpcUrl, chain.addresses.chainId)
  try {
    const client = await SettlementClient.create(chain.addresses, provider)
    // A fresh devnet: everything earned, claimed and released happened in this run.
    const latest = Number(await client.nextEpoch()) - 1
    const root = await client.rootOf(latest)
    assert.equal(root.total.toString(), report.totals.rootTotal)
    assert.equal(root.total.toString(), report.totals.fees)
    assert.equal(report.epochs.at(-1)?.epoch, latest)
    assert.equal(report.epochs.at(-1)?.root, root.root)
    const claimedIface = new Interface(['event Claimed(address indexed account, uint64 epoch, uint256 amount, uint256 cumulative)'])
    let paid = 0n
    for (const p of report.payouts) {
      const claimed = await client.claimed(p.address)
      assert.equal(p.claimedOnChain, claimed.toString(), `${p.label}: claimed() on chain`)
      assert.equal(p.claimed, claimed.toString(), `${p.label}: paid in this run = claimed on chain`)
      assert.equal(p.earned, claimed.toString(), `${p.label}: earned = claimed, nothing left claimable`)
      if (p.role !== 'treasury') assert.ok(claimed > 0n, `${p.label} was paid`)
      // The claim transaction moved exactly that to the address.
      if (p.claimTx === undefined) { assert.equal(p.claimed, '0'); continue }
      const receipt = await provider.getTransactionReceipt(p.claimTx)
      const logs: LogDescription[] = []
      for (const l of receipt!.logs) {
        const parsed = l.address.toLowerCase() === chain.addresses.distributor.toLowerCase() ? claimedIface.parseLog(l) : null
        if (parsed != null) logs.push(parsed)
      }
      assert.equal(logs.length, 1)
      assert.equal((logs[0].args.account as string).toLowerCase(), p.address.toLowerCase())
      assert.equal((logs[0].args.amount as bigint).toString(), p.claimed)
      if (p.role === 'contributor') assert.equal((await client.balanceOf(p.address)).toString(), p.claimed, `${p.label} holds what it claimed`)
      paid += claimed
    }
    assert.equal(paid, root.total, 'everything the root owes was claimed by the addresses the report lists')
    // The report's fees are the escrow's releases.
    const escrow = client.c.escrow
    const releases = await escrow.queryFilter(escrow.filters.JobReleased())
    assert.equal(releases.length, report.jobs.length)
    for (const j of report.jobs) {
      const log = releases.find(l => l.transactionHash === j.releaseTx)
      assert.ok(log != null, `${j.label}: its release tx`)
      assert.equal((escrow.interface.parseLog(log)!.args.amount as bigint).toString(), j.fee)
    }
  } finally {
    provider.destroy()
  }
}
