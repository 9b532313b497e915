// Attribution jobs' compute side: the receipt (a Merkle root over every example's
// scores) and the result file, and the tolerance a verifier's recomputation is held
// to, measured here again on the shipped spam-base: the same scores recomputed with the
// same and another thread count, and in a verifier's batches, are bit-identical; with
// ORT's plain kernels (another CPU's stand-in) they stay far inside the tolerance, and
// made-up or permuted scores fall far outside it.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { attributeClassifier, attributionCheckpoints, recomputeSample, type AttributionScores } from '../compute/jobs/attribute.ts'
import { decodeAttributionFile, decodeAttributionReceipt, encodeAttributionFile, encodeAttributionReceipt, type AttributionFile } from '../compute/jobs/attribution-files.ts'
import { DEFAULT_CLASSIFIER_ADAPTER_HYPER, trainClassifierAdapter } from '../compute/jobs/train-classifier-adapter.ts'
import { BadJobFileError } from '../compute/errors.ts'
import { decodeModel } from '../compute/models/artifacts.ts'
import { CLASSIFIER_LORA_TARGETS, classifierParamSpecs, type ClassifierConfig } from '../compute/models/classifier/config.ts'
import { classifierData } from '../compute/models/classifier/train-step.ts'
import { loraSpecs } from '../compute/models/lora.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { Rng } from '../compute/random.ts'
import { MemoryCheckpointStore } from '../compute/train/checkpoint-store.ts'
import { ATTRIBUTION_TOLERANCE, attributionReceipt, attributionReceiptHash, checkAttributionReceipt, compareScores, examplesProof, examplesRoot, sampleExamples, verifyExampleProof, type ScoredExample } from '../compute/verify/attribution.ts'
import { BadReceiptError } from '../compute/verify/errors.ts'
import { attributionCredits } from '../peer/attribution/inputs.ts'
import { describeJob } from '../peer/settlement/job-description.ts'
import type { DatanetView } from '../storage/datanet/view.ts'
import { spamAssassinContributors } from '../storage/corpora/spam-assassin.ts'
import { expectThrows } from './helpers/expect-throws.ts'
import { SPAM_BASE } from './helpers/fixtures.ts'

const CID_A = 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG'
const CID_B = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

function examples (n: number, seed = 1): ScoredExample[] {
  const rng = new Rng(seed)
  return Array.from({ length: n }, (_, i) => ({ file: i % 3 === 0 ? CID_A : CID_B, contribution: i % 2 === 0 ? CID_A : CID_B, tracin: rng.normal() * 1e-3, datainf: rng.normal(), loss: rng.uniform() }))
}

describe('attribution jobs: receipt, result file, tolerance', function () {
  this.timeout(300_000)

  it('the Merkle root fixes every score and its position; a proof shows one claimed score', () => {
    const ex = examples(37)
    const root = examplesRoot(ex)
    for (const i of [0, 1, 17, 35, 36]) assert.ok(verifyExampleProof(root, i, ex[i], examplesProof(ex, i)), `proof of ${i}`)
    assert.equal(verifyExampleProof(root, 5, { ...ex[5], tracin: ex[5].tracin * 1.0000001 }, examplesProof(ex, 5)), false)
    assert.equal(verifyExampleProof(root, 6, ex[5], examplesProof(ex, 5)), false, 'bound to its position')
    const swapped = [...ex]
    ;[swapped[3], swapped[4]] = [swapped[4], swapped[3]]
    assert.notEqual(examplesRoot(swapped), root, 'a permutation changes the root')
    assert.equal(examplesRoot([{ ...ex[0], tracin: -0 }]), examplesRoot([{ ...ex[0], tracin: 0 }]), '-0 is 0, as in JSON')
    assert.equal(examplesRoot([ex[0]]), examplesRoot([ex[0]]))
  })

  it('the receipt is refused for another job, root, count or validation loss; the sample depends on the beacon', () => {
    const ex = examples(50)
    const checkpoints = [{ step: 50, hash: 'a'.repeat(64) }, { step: 100, hash: 'b'.repeat(64) }]
    const view = { job: 'j1', adapter: CID_A, checkpoints, examples: ex, validationLoss: 0.25 }
    const r = attributionReceipt(view)
    checkAttributionReceipt(r, view)
    expectThrows(() => checkAttributionReceipt({ ...r, job: 'j2' }, view), BadReceiptError)
    expectThrows(() => checkAttributionReceipt({ ...r, root: examplesRoot(examples(50, 2)) }, view), BadReceiptError)
    expectThrows(() => checkAttributionReceipt(r, { ...view, examples: ex.slice(1) }), BadReceiptError)
    expectThrows(() => checkAttributionReceipt(r, { ...view, validationLoss: 0.26 }), BadReceiptError)
    expectThrows(() => checkAttributionReceipt(r, { ...view, checkpoints: checkpoints.slice(1) }), BadReceiptError)
    const bytes = encodeAttributionReceipt(r)
    assert.deepEqual(decodeAttributionReceipt(bytes), r)
    expectThrows(() => decodeAttributionReceipt(new TextEncoder().encode(JSON.stringify(JSON.parse(Buffer.from(bytes).toString('utf8')), null, 1))), BadReceiptError)
    const a = sampleExamples(r, { verifier: '0x00000000000000000000000000000000000000aa', k: 8, beacon: '0x01' })
    assert.deepEqual(a, sampleExamples(r, { verifier: '0x00000000000000000000000000000000000000aa', k: 8, beacon: '0x01' }))
    assert.notDeepEqual(a, sampleExamples(r, { verifier: '0x00000000000000000000000000000000000000aa', k: 8, beacon: '0x02' }))
    assert.equal(new Set(a).size, 8)
    assert.notEqual(attributionReceiptHash(r), attributionReceiptHash({ ...r, validationLoss: 0.3 }))
  })

  it('the result file round-trips canonically and refuses other encodings, non-finite scores and dangling file indices', () => {
    const ex = examples(20)
    const summary = attributionCredits({ examples: ex, validationLoss: 0.5, kind: 'classifier', contributorOf: new Map([[CID_A, '0x00000000000000000000000000000000000000aa'], [CID_B, '0x00000000000000000000000000000000000000bb']]), order: new Map([[CID_A, 0], [CID_B, 1]]), near: new Map() })
    const file: AttributionFile = { job: 'j', adapter: CID_A, datanet: CID_B, version: CID_A, base: CID_B, cycle: null, method: 'm', checkpoints: [{ step: 50, hash: 'c'.repeat(64) }], validationLoss: 0.5, examples: ex, summary }
    const bytes = encodeAttributionFile(file)
    const back = decodeAttributionFile(bytes)
    assert.deepEqual(back.examples, ex)
    assert.deepEqual(JSON.parse(JSON.stringify(back.summary)), JSON.parse(JSON.stringify(summary)))
    const v = JSON.parse(Buffer.from(bytes).toString('utf8'))
    assert.equal(v.files.length, 4, 'each (file, contribution) pair once')
    expectThrows(() => decodeAttributionFile(new TextEncoder().encode(JSON.stringify(v, null, 2))), BadJobFileError)
    v.examples[3][0] = 99
    expectThrows(() => decodeAttributionFile(new TextEncoder().encode(JSON.stringify(v))), BadJobFileError)
    expectThrows(() => encodeAttributionFile({ ...file, examples: [{ ...ex[0], tracin: Number.NaN }] }), BadJobFileError)
  })

  it('recomputed scores: bit-identical on the same kernels (threads, batches), inside the tolerance on other kernels, made-up ones far outside', async () => {
    const base = decodeModel(new Uint8Array(await readFile(SPAM_BASE)))
    const cfg = base.meta.config as ClassifierConfig
    const mails = spamAssassinContributors({ limit: 1500, maxContributors: 8 }).flatMap(c => c.items)
    const label = (m: { label: string }): number => m.label === 'spam' ? 1 : 0
    const train = { texts: mails.filter((_, i) => i % 5 !== 0).map(m => m.text), labels: mails.filter((_, i) => i % 5 !== 0).map(label) }
    const validation = { texts: mails.filter((_, i) => i % 5 === 0).map(m => m.text), labels: mails.filter((_, i) => i % 5 === 0).map(label) }
    const lora = { rank: 8, alpha: 16, targets: [...CLASSIFIER_LORA_TARGETS] }
    const hyper = { ...DEFAULT_CLASSIFIER_ADAPTER_HYPER, steps: 100, batch: 32 }
    const specs = loraSpecs(classifierParamSpecs(cfg), lora, new Set(['emb']))
    const store = new MemoryCheckpointStore()
    await trainClassifierAdapter({ base, baseCid: 'spam-base', train, heldOut: validation, lora, hyper, threads: 2, store })
    const job = async (threads: number, optimize?: boolean) => ({ base, lora, initial: initParams(specs, hyper.seed), checkpoints: await attributionCheckpoints(store, specs, hyper, 50), train: classifierData(train, cfg), validation: classifierData(validation, cfg), groups: train.texts.map((_, i) => String(i % 7)), threads, optimize })
    const full = await attributeClassifier(await job(2))
    const n = full.tracin.length
    const rms = Math.sqrt(full.tracin.reduce((s, x) => s + x * x, 0) / n)
    const same = (a: AttributionScores, b: AttributionScores): void => {
      assert.deepEqual(Array.from(a.tracin), Array.from(b.tracin))
      assert.deepEqual(Array.from(a.finalLoss), Array.from(b.finalLoss))
      assert.equal(a.validationLoss, b.validationLoss)
    }
    same(full, await attributeClassifier(await job(2)))
    same(full, await attributeClassifier(await job(1)))
    const sample = Array.from({ length: 40 }, (_, i) => (i * 7919) % n)
    const claimed = Array.from({ length: n }, (_, k): ScoredExample => ({ file: CID_A, contribution: CID_B, tracin: full.tracin[k], datainf: full.datainf[k], loss: full.finalLoss[k] }))
    for (const threads of [1, 2]) {
      const r = await recomputeSample(await job(threads), sample)
      assert.deepEqual(Array.from(r.tracin), sample.map(k => full.tracin[k]), `${threads} thread(s), a verifier's batches`)
      assert.deepEqual(Array.from(r.finalLoss), sample.map(k => full.finalLoss[k]))
      assert.equal(r.validationLoss, full.validationLoss)
    }
    // Other kernels: the spread is measured, reported, and must sit well inside the tolerance.
    const plain = await recomputeSample(await job(2, false), sample)
    let drift = 0
    let lossDrift = 0
    sample.forEach((k, i) => {
      drift = Math.max(drift, Math.abs(plain.tracin[i] - full.tracin[k]) / rms)
      lossDrift = Math.max(lossDrift, Math.abs(plain.finalLoss[i] - full.finalLoss[k]) / Math.max(Math.abs(full.finalLoss[k]), 1e-12))
    })
    console.log(`      ${n} mails, TracIn RMS ${rms.toExponential(2)}: plain kernels moved TracIn by ${drift.toExponential(2)} x RMS, losses by ${lossDrift.toExponential(2)} relative (tolerance ${ATTRIBUTION_TOLERANCE.absolute} x RMS, ${ATTRIBUTION_TOLERANCE.relative} relative)`)
    assert.ok(drift < ATTRIBUTION_TOLERANCE.absolute / 10, `drift ${drift} is within a tenth of the tolerance`)
    const honest = compareScores({ sample, claimed, claimedValidationLoss: full.validationLoss, recomputed: plain })
    assert.deepEqual(honest.mismatches, [])
    assert.equal(honest.validationLossOk, true)

    // Lies: permuted scores, made-up ones, and one score nudged by 1e-4 of its size.
    const rng = new Rng(7)
    const permuted = rng.shuffle(claimed.map(c => c.tracin))
    const lies = [
      claimed.map((c, k) => ({ ...c, tracin: permuted[k] })),
      claimed.map(c => ({ ...c, tracin: rng.normal() * rms })),
      claimed.map((c, k) => k === sample[3] ? { ...c, tracin: c.tracin * (1 + 1e-4) + rms * 1e-4 } : c)
    ]
    const caught = lies.map(l => compareScores({ sample, claimed: l, claimedValidationLoss: full.validationLoss, recomputed: plain }).mismatches.length)
    assert.ok(caught[0] >= sample.length - 2, `permuted: ${caught[0]} of ${sample.length} sampled scores off`)
    assert.equal(caught[1], sample.length)
    assert.equal(caught[2], 1)
    assert.equal(compareScores({ sample, claimed, claimedValidationLoss: full.validationLoss * 1.01, recomputed: plain }).validationLossOk, false)
    assert.equal(compareScores({ sample, claimed: claimed.map((c, k) => k === sample[0] ? { ...c, loss: c.loss * 2 } : c), claimedValidationLoss: full.validationLoss, recomputed: plain }).mismatches.length, 1)
  })
})

describe('an aggregator describes a released attribution job', () => {
  const A = '0x00000000000000000000000000000000000000aa'
  const B = '0x00000000000000000000000000000000000000bb'
  const C = '0x00000000000000000000000000000000000000cc'
  const view: DatanetView = {
    id: 'dn1', name: 'spam', description: '', license: 'CC0-1.0', creator: A, createdAt: 0, heads: [], entries: 0,
    contributions: [{ cid: 'c0', contributor: C, ts: 0, clock: 0, license: 'CC0-1.0', files: [], bytes: 0, credits: [{ cycle: 'cy0', model: 'm', version: 'v', weight: 1, method: 'tracin' }] }],
    contributors: [],
    cycles: [{ cid: 'cy0', adapter: 'QmOld', reporter: A, model: 'm', version: 'v', credits: 1 }, { cid: 'cy1', adapter: 'QmMeasured', reporter: A, model: 'm', version: 'v', credits: 0 }],
    totals: { files: 0, uniqueFiles: 0, bytes: 0, uniqueBytes: 0 }
  }
  const announce: any = { job: '0x' + '1'.repeat(64), kind: 'attribute', spec: { datanet: 'dn1', version: 'v', base: 'QmBase', adapter: 'QmMeasured', params: { trainJob: '0x' + '2'.repeat(64) } } }

  it('pays the contributors by the weights the job itself measured, under the measured adapter\'s cycle', async () => {
    const lines = [{ contributor: B, cycle: 'whatever', weight: 0.75 }, { contributor: A, cycle: 'whatever', weight: 0.25 }]
    const facts = await describeJob('j', { job: async () => ({ announce }), views: async () => [view], attribution: async () => ({ lines, datanet: 'dn1' }) })
    assert.equal(facts?.kind, 'attribute')
    assert.deepEqual(facts?.contributorWeights, [{ contributor: A, weight: 0.25 }, { contributor: B, weight: 0.75 }])
    assert.equal(facts?.credit?.basis, 'cycle')
    assert.deepEqual(facts?.credit?.cycles, ['cy1'])
  })

  it('without a verified result of its own on this peer, the datanet\'s credit map', async () => {
    const facts = await describeJob('j', { job: async () => ({ announce }), views: async () => [view], attribution: async () => undefined })
    assert.equal(facts?.kind, 'attribute')
    assert.equal(facts?.credit?.basis, 'credit-map')
    assert.deepEqual(facts?.contributorWeights, [{ contributor: C, weight: 1 }])
  })
})

// Issue 20, robustness `gatePadding`: junk padded with easy copies of good data. Before,
// the fit gate read the mean loss over every example, the unpaid near-duplicate copies
// included, so the copies pulled the junk under the bar and its noise was paid.
describe('attribution credits: the fit gate is not padded with unpaid copies', function () {
  const JUNK_FILE = 'bafkreidivzimqfqtoqxkrpge6bjyhlvxqs3rhe73owtmdulaxr5do5in7u'
  const COPY_FILE = 'bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4'
  const GOOD_FILE = CID_B
  const base = (copies: number) => {
    const ex: Array<{ file: string, contribution: string, tracin: number, datainf: number, loss: number }> = []
    for (let i = 0; i < 50; i++) ex.push({ file: GOOD_FILE, contribution: CID_B, tracin: 0.02, datainf: 0, loss: 0.1 })
    for (let i = 0; i < 5; i++) ex.push({ file: JUNK_FILE, contribution: CID_A, tracin: 0.01, datainf: 0, loss: 3 })
    for (let i = 0; i < copies; i++) ex.push({ file: COPY_FILE, contribution: CID_A, tracin: 0.02, datainf: 0, loss: 0.05 })
    return attributionCredits({ examples: ex, validationLoss: 0.5, kind: 'classifier', contributorOf: new Map([[CID_A, '0x00000000000000000000000000000000000000aa'], [CID_B, '0x00000000000000000000000000000000000000bb']]), order: new Map([[GOOD_FILE, 0], [JUNK_FILE, 1], [COPY_FILE, 2]]), near: new Map([[COPY_FILE, { file: GOOD_FILE, similarity: 0.95 }]]) })
  }

  it('junk padded with 10, 50 or 500 easy near-duplicate copies earns at most 0.001 of the pool', () => {
    for (const copies of [0, 10, 50, 500]) {
      const s = base(copies)
      const junk = s.contributors.find(c => c.address.endsWith('aa'))!
      assert.ok(junk.weight <= 0.001, `${copies} copies: the junk earned ${junk.weight}`)
      const a = s.contributions.find(c => c.contribution === CID_A)!
      assert.equal(a.unfitFiles, 1, `${copies} copies: the junk passed the gate`)
      assert.equal(a.paidInfluence, 0)
      assert.equal(s.contributors.find(c => c.address.endsWith('bb'))!.weight, 1)
    }
  })
})
