// Which contributors a paid job's fee credits: the policy (settlement/policy/job-credit.ts)
// and the aggregator's glue that finds the job's datanet and cycle (peer/settlement/job-description.ts).
import assert from 'node:assert/strict'
import { InvalidPolicyInputError, jobCredit, splitFee } from '../settlement/policy/index.ts'
import { describeJob } from '../peer/settlement/job-description.ts'
import type { DatanetView } from '../storage/datanet/view.ts'

const A = '0xAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
const B = '0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'
const C = '0xcccccccccccccccccccccccccccccccccccccccc'

describe('job credit policy', () => {
  const lines = [
    { contributor: A, cycle: 'c1', weight: 0.75 },
    { contributor: B, cycle: 'c1', weight: 0.25 },
    { contributor: B, cycle: 'c2', weight: 0.5 },
    { contributor: C, cycle: 'c2', weight: 0.5 },
    { contributor: C, cycle: 'c1', weight: 0 }
  ]

  it('pays by the attribution of the cycle the job used', () => {
    const r = jobCredit({ lines, cycle: 'c2' })
    assert.equal(r.basis, 'cycle')
    assert.deepEqual(r.cycles, ['c2'])
    assert.deepEqual(r.weights, [{ contributor: B.toLowerCase(), weight: 0.5 }, { contributor: C, weight: 0.5 }])
  })

  it('falls back to the whole credit map, each cycle once, when the job\'s cycle is not attributed', () => {
    const r = jobCredit({ lines, cycle: 'c3' })
    assert.equal(r.basis, 'credit-map')
    assert.deepEqual(r.cycles, ['c1', 'c2'])
    assert.deepEqual(r.weights, [{ contributor: A.toLowerCase(), weight: 0.75 }, { contributor: B.toLowerCase(), weight: 0.75 }, { contributor: C, weight: 0.5 }])
    assert.deepEqual(jobCredit({ lines }).weights, r.weights)
  })

  it('credits nobody on a datanet never attributed: the fee split sends that part to the treasury', () => {
    const r = jobCredit({ lines: [{ contributor: A, cycle: 'c1', weight: 0 }] })
    assert.equal(r.basis, 'none')
    assert.deepEqual(r.weights, [])
    const split = splitFee({ fee: 1000n, worker: '0x' + '1'.repeat(40), verifiers: [], contributorWeights: r.weights })
    assert.equal(split.redirected.contributors, 250n)
  })

  it('refuses weights that are not finite and >= 0', () => {
    assert.throws(() => jobCredit({ lines: [{ contributor: A, cycle: 'c1', weight: -1 }] }), InvalidPolicyInputError)
    assert.throws(() => jobCredit({ lines: [{ contributor: A, cycle: 'c1', weight: Number.NaN }] }), InvalidPolicyInputError)
    assert.throws(() => jobCredit({ lines: [{ contributor: '', cycle: 'c1', weight: 1 }] }), InvalidPolicyInputError)
  })
})

describe('an aggregator describes a released job', () => {
  const view = (id: string, name: string, cycles: Array<{ cid: string, adapter: string }>, credits: Array<{ contributor: string, cycle: string, weight: number }>): DatanetView => ({
    id, name, description: '', license: 'CC0-1.0', creator: A, createdAt: 0, heads: [], entries: 0,
    contributions: credits.map((c, i) => ({ cid: `${id}-contribution-${i}`, contributor: c.contributor, ts: 0, clock: 0, license: 'CC0-1.0', files: [], bytes: 0, credits: [{ cycle: c.cycle, model: 'm', version: 'v', weight: c.weight, method: 'tracin' }] })),
    contributors: [],
    cycles: cycles.map(c => ({ ...c, reporter: A, model: 'm', version: 'v', credits: 0 })),
    totals: { files: 0, uniqueFiles: 0, bytes: 0, uniqueBytes: 0 }
  })
  const views = [
    view('dn1', 'sotu', [{ cid: 'cy1', adapter: 'QmAdapter1' }, { cid: 'cy2', adapter: 'QmAdapter2' }], [{ contributor: A, cycle: 'cy1', weight: 1 }, { contributor: B, cycle: 'cy2', weight: 1 }]),
    view('dn2', 'spam', [], [])
  ]
  const announce = (kind: 'train' | 'infer', spec: Record<string, unknown>): any => ({ job: '0x' + '0'.repeat(64), kind, spec })

  it('an inference batch pays the contributors of the adapter it ran', async () => {
    const facts = await describeJob('j', { job: async () => ({ announce: announce('infer', { base: 'QmBase', adapter: 'QmAdapter2', params: {} }) }), views: async () => views })
    assert.equal(facts?.kind, 'infer')
    assert.deepEqual(facts?.contributorWeights, [{ contributor: B, weight: 1 }])
    assert.equal(facts?.credit?.basis, 'cycle')
  })

  it('a training job pays by its datanet\'s credit map until its own cycle is attributed', async () => {
    const facts = await describeJob('j', { job: async () => ({ announce: announce('train', { params: { datanet: 'dn1@v', base: 'm' } }), result: { result: 'QmNotYetAttributed' } as any }), views: async () => views })
    assert.equal(facts?.kind, 'train')
    assert.equal(facts?.credit?.basis, 'credit-map')
    assert.deepEqual(facts?.contributorWeights, [{ contributor: A.toLowerCase(), weight: 1 }, { contributor: B, weight: 1 }])
    const own = await describeJob('j', { job: async () => ({ announce: announce('train', { params: { datanet: 'sotu', base: 'm' } }), result: { result: 'QmAdapter1' } as any }), views: async () => views })
    assert.deepEqual(own?.contributorWeights, [{ contributor: A.toLowerCase(), weight: 1 }])
  })

  it('follows the datanet version a job it settles names before reading the credit map (a peer follows only what it chose)', async () => {
    const followed: string[] = []
    const seen: DatanetView[] = []
    const facts = await describeJob('j', {
      job: async () => ({ announce: announce('train', { params: { datanet: 'dn1@v', base: 'm' } }), result: { result: 'QmNotYetAttributed' } as any }),
      follow: async (ref) => { followed.push(ref); seen.push(...views) },
      views: async () => seen
    })
    assert.deepEqual(followed, ['dn1@v'])
    assert.equal(facts?.credit?.basis, 'credit-map')
    // A name without a version is not followed (nothing pins what it means); a failing follow credits by what is there.
    const unversioned: string[] = []
    await describeJob('j', { job: async () => ({ announce: announce('train', { params: { datanet: 'sotu', base: 'm' } }) }), follow: async (ref) => { unversioned.push(ref) }, views: async () => views })
    assert.deepEqual(unversioned, [])
    const failing = await describeJob('j', { job: async () => ({ announce: announce('train', { params: { datanet: 'dn1@v', base: 'm' } }) }), follow: async () => { throw new Error('offline') }, views: async () => views })
    assert.equal(failing?.kind, 'train')
  })

  it('a job it never saw, or on a base alone, credits nobody', async () => {
    assert.equal(await describeJob('j', { job: async () => undefined, views: async () => views }), undefined)
    const base = await describeJob('j', { job: async () => ({ announce: announce('infer', { base: 'QmBase', params: {} }) }), views: async () => views })
    assert.deepEqual(base, { kind: 'infer' })
    const never = await describeJob('j', { job: async () => ({ announce: announce('train', { params: { datanet: 'spam', base: 'm' } }) }), views: async () => views })
    assert.deepEqual(never?.contributorWeights, [])
  })
})
