// The root audit (settlement/epoch/audit.ts), attacker first: an aggregator that posts
// a root paying itself, in every way it could dress the bundle up, is found `wrong`;
// an honest epoch built by the real EpochBuilder audits clean. What a co-signer signs
// and what a watcher challenges rest on this.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  auditEpoch, EpochBuilder, type AuditFacts, type ChainRelease, type EpochBundle, type ReceiptJson
} from '../settlement/epoch/index.ts'
import { buildCumulativeTree } from '../settlement/merkle/index.ts'
import { DEFAULT_FEE_SPLIT } from '../settlement/policy/index.ts'

const TREASURY = '0x' + 'ee'.repeat(20)
const ROGUE = '0x' + 'bad0'.repeat(10)
const addr = (n: number): string => '0x' + n.toString(16).padStart(40, '0')
const jobId = (n: number): string => '0x' + n.toString(16).padStart(64, '0')
const SPEC = '0x' + '5e'.repeat(32)

function release (n: number, fee: bigint, block: number): ChainRelease {
  return { jobId: jobId(n), fee, worker: addr(100 + n), verifiers: [addr(200 + n), addr(300 + n)], spec: SPEC, block }
}

function receiptOf (r: ChainRelease, weights?: Array<[string, number]>): ReceiptJson {
  return {
    id: `job:${r.jobId}`, kind: 'train', jobId: r.jobId, fee: r.fee.toString(), worker: r.worker, verifiers: r.verifiers,
    ...(weights !== undefined ? { contributorWeights: weights.map(([contributor, weight]) => ({ contributor, weight })) } : {})
  }
}

describe('root audit: a rogue aggregator\'s root is found wrong, an honest one is not', function () {
  let dir: string
  let builder: EpochBuilder
  const epoch1 = [release(1, 100n * 10n ** 18n, 10), release(2, 7n * 10n ** 18n, 11)]
  const epoch2 = [release(3, 40n * 10n ** 18n, 21), release(4, 1n, 22), release(5, 3n * 10n ** 18n, 25)]
  let honest1: EpochBundle
  let honest2: EpochBundle

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ol-audit-'))
    builder = await EpochBuilder.open({ dir, treasury: TREASURY })
    await builder.acceptMany(epoch1.map(r => receiptOf(r)))
    await builder.seal(undefined, { toBlock: 15 })
    await builder.acceptMany(epoch2.map((r, i) => receiptOf(r, i === 0 ? [[addr(900), 0.75], [addr(901), 0.25]] : undefined)))
    await builder.seal(undefined, { toBlock: 30 })
    honest1 = await builder.bundle(1)
    honest2 = await builder.bundle(2)
  })
  after(async () => {
    await builder.close()
    await rm(dir, { recursive: true, force: true })
  })

  const facts2 = (over: Partial<AuditFacts> = {}): AuditFacts => ({
    firstEpoch: 1,
    previous: { root: honest1.root, total: BigInt(honest1.total), toBlock: 15 },
    releases: epoch2,
    feeSplit: DEFAULT_FEE_SPLIT,
    treasury: TREASURY,
    posted: { root: honest2.root, total: BigInt(honest2.total), toBlock: 30 },
    ...over
  })
  const codes = (r: { wrong: Array<{ code: string }> }): string[] => r.wrong.map(f => f.code).sort()
  const clone = (b: EpochBundle): EpochBundle => JSON.parse(JSON.stringify(b)) as EpochBundle
  it('an honest epoch audits clean, first and later, posted or proposed', async () => {
    const r1 = await auditEpoch(honest1, { firstEpoch: 1, releases: epoch1, feeSplit: DEFAULT_FEE_SPLIT, treasury: TREASURY })
    assert.deepEqual(r1.wrong, [])
    assert.equal(r1.recomputed?.root, honest1.root.toLowerCase())
    const r2 = await auditEpoch(honest2, facts2(), async () => undefined)
    assert.equal(r2.ok, true, JSON.stringify(r2.wrong))
    assert.equal(r2.evidence, '0x' + '00'.repeat(32))
  })

  it('a root paying the aggregator everything funded, with the honest inputs behind it: root-mismatch', async () => {
    const total = BigInt(honest2.total)
    const rogueRoot = buildCumulativeTree([{ account: ROGUE, cumulative: total }]).root
    const b = { ...clone(honest2), root: rogueRoot }
    const r = await auditEpoch(b, facts2({ posted: { root: rogueRoot, total, toBlock: 30 } }), async () => undefined)
    assert.deepEqual(codes(r), ['root-mismatch'])
    assert.notEqual(r.evidence, '0x' + '00'.repeat(32))
  })

  it('the rogue\'s own inputs, consistent with its root, are each found out', async () => {
    const check = async (mutate: (b: EpochBundle) => void, expected: string[], over: Partial<AuditFacts> = {}): Promise<void> => {
      const b = clone(honest2)
      mutate(b)
      // Dress the bundle up: the root and total its own inputs give, as the rogue would post.
      const r0 = await auditEpoch(b, { ...facts2(over), posted: undefined }, async () => undefined)
      if (r0.recomputed !== undefined) { b.root = r0.recomputed.root; b.total = r0.recomputed.total }
      const r = await auditEpoch(b, facts2({ ...over, posted: { root: b.root, total: BigInt(b.total), toBlock: b.toBlock } }), async () => undefined)
      assert.deepEqual(codes(r), expected, JSON.stringify(r.wrong))
    }
    await check(b => { (b.receipts[1] as { worker: string }).worker = ROGUE }, ['receipt-not-as-released'])
    await check(b => { (b.receipts[1] as { fee: string }).fee = (10n ** 24n).toString() }, ['receipt-not-as-released'])
    await check(b => { b.receipts.push({ id: 'job:' + jobId(77), kind: 'train', jobId: jobId(77), fee: '1000', worker: ROGUE, verifiers: [] }) }, ['job-not-released-in-epoch'])
    await check(b => { b.receipts.push(receiptOf(epoch1[0])) }, ['job-not-released-in-epoch']) // a job of epoch 1, paid again
    await check(b => { b.receipts.push({ id: 'bonus', kind: 'attribution-reward', account: ROGUE, amount: '5000' }) }, ['credit-without-event'])
    await check(b => { b.receipts.splice(2, 1) }, ['release-not-paid'])
    await check(b => { b.previous.push([ROGUE, (10n ** 20n).toString()]) }, ['previous-balances'])
    await check(b => { b.treasury = ROGUE }, ['treasury'])
    await check(b => { b.feeSplit = { worker: 0, verifiers: 0, contributors: 0, treasury: 10_000 } }, ['fee-split'])
  })

  it('a bundle that is not the posted root\'s, or is not a bundle, or is over its bounds: wrong, never a throw', async () => {
    const other = { ...clone(honest2), toBlock: 29 }
    assert.deepEqual(codes(await auditEpoch(other, facts2())), ['bundle-not-posted-root'])
    for (const junk of [null, 42, 'x', {}, { format: 'openledger-epoch-bundle-v1' }, { ...clone(honest2), previous: 'x' }, { ...clone(honest2), total: '-1' },
      { ...clone(honest2), receipts: [{ id: 'x', kind: 'train' }] }, { ...clone(honest2), previous: [['nope', '1']] }]) {
      const r = await auditEpoch(junk, facts2())
      assert.equal(r.ok, false)
      assert.ok(r.wrong.length > 0)
    }
  })

  it('contributor weights go through the caller\'s check: a stranger paid is wrong, an unknown datanet only unverified', async () => {
    const seen: Array<{ job: string, spec: string }> = []
    const stranger = await auditEpoch(honest2, facts2(), async (r, _a, spec) => { seen.push({ job: r.jobId, spec }); return { wrong: 'pays a stranger' } })
    assert.deepEqual(codes(stranger), ['contributor-weights'])
    assert.deepEqual(seen, [{ job: jobId(3), spec: SPEC }], 'only the receipt with weights, with its release\'s spec')
    const unknown = await auditEpoch(honest2, facts2(), async () => ({ unverified: 'datanet not followed' }))
    assert.deepEqual(unknown.wrong, [])
    assert.equal(unknown.ok, false, 'unverified: not signed')
    const none = await auditEpoch(honest2, facts2())
    assert.equal(none.unverified.length, 1, 'no check at all is unverified, not right')
  })

  it('the cutoff must come after the previous epoch\'s', async () => {
    const r = await auditEpoch(honest2, facts2({ previous: { root: honest1.root, total: BigInt(honest1.total), toBlock: 30 } }), async () => undefined)
    assert.ok(codes(r).includes('cutoff'))
  })
})
