import assert from 'node:assert/strict'
import { BadTrainingDataError, ShapeMismatchError } from '../compute/errors.ts'
import { pretrainClassifier } from '../compute/jobs/pretrain.ts'
import { DEFAULT_CLASSIFIER_ADAPTER_HYPER, classifierAdapterTask, trainClassifierAdapter } from '../compute/jobs/train-classifier-adapter.ts'
import { checkpointsNeeded, verifyTraining } from '../compute/verify/training.ts'
import { decodeAdapter, encodeAdapter, encodeModel } from '../compute/models/artifacts.ts'
import type { ClassifierConfig } from '../compute/models/classifier/config.ts'
import type { LabelledTexts } from '../compute/models/classifier/train-step.ts'
import { MemoryCheckpointStore } from '../compute/train/checkpoint-store.ts'
import { attributionCheckpoints } from '../compute/jobs/attribute.ts'
import { classifierParamSpecs } from '../compute/models/classifier/config.ts'
import { loraSpecs } from '../compute/models/lora.ts'
import { readSpamAssassinMails, type SpamAssassinMail } from '../storage/corpora/spam-assassin.ts'
import { expectRejects } from './helpers/expect-throws.ts'

const cfg: ClassifierConfig = { buckets: 8192, maxFeatures: 96, maxChars: 4000, embed: 16, hidden: 16, classes: 2 }
const lora = { rank: 4, alpha: 8, targets: ['emb', 'w1', 'w2'] }
const labelled = (mails: SpamAssassinMail[]): LabelledTexts => ({ texts: mails.map(m => m.text), labels: mails.map(m => (m.label === 'spam' ? 1 : 0)) })

describe('ModelFactory jobs: a classifier base, then a LoRA adapter on real SpamAssassin mail', function () {
  this.timeout(120_000)
  const mails = readSpamAssassinMails({ limit: 900 })
  // The base sees only the corpus's first collection; the adapter learns the second
  // (other years, other spam), and is judged on mail of the second it never saw.
  const first = mails.filter(m => m.group.endsWith('-1'))
  const second = mails.filter(m => m.group.endsWith('-2'))
  const trainSet = second.filter((_, i) => i % 3 !== 0)
  const heldOut = second.filter((_, i) => i % 3 === 0)

  it('pretrains a base, trains an adapter that improves held-out accuracy, and writes files that decode', async () => {
    const base = await pretrainClassifier({ name: 'spam-base', source: { corpus: 'spam-assassin', groups: '*-1' }, cfg, labels: ['ham', 'spam'], data: labelled(first), hyper: { ...DEFAULT_CLASSIFIER_ADAPTER_HYPER, steps: 80, lr: 1e-2 }, threads: 2 })
    assert.equal(base.meta.kind, 'classifier')
    const baseBytes = encodeModel(base)
    const baseCid = 'bafy-test-base'
    const store = new MemoryCheckpointStore()
    const result = await trainClassifierAdapter({ base, baseCid, train: labelled(trainSet), heldOut: labelled(heldOut), lora, hyper: { ...DEFAULT_CLASSIFIER_ADAPTER_HYPER, steps: 120 }, threads: 2, store, datanet: { id: 'dn', version: 'v1' } })
    assert.ok(result.after.accuracy > result.before.accuracy, `adapter helps: ${result.before.accuracy} -> ${result.after.accuracy}`)
    assert.ok(result.after.accuracy >= 0.85, `held-out accuracy ${result.after.accuracy}`)
    assert.ok(result.after.loss < result.before.loss)
    assert.deepEqual((await store.steps()).at(-1), 120)
    assert.equal(result.run.chain.length, 3)
    // TracIn at a coarser stride keeps fewer checkpoints, each standing for all its steps.
    const specs = loraSpecs(classifierParamSpecs(cfg), lora, new Set(['emb']))
    const hyper = { ...DEFAULT_CLASSIFIER_ADAPTER_HYPER, steps: 120 }
    const every = await attributionCheckpoints(store, specs, hyper)
    const coarse = await attributionCheckpoints(store, specs, hyper, 100)
    assert.deepEqual(every.map(c => c.step), [50, 100, 120])
    assert.deepEqual(coarse.map(c => c.step), [100, 120])
    assert.ok(Math.abs(coarse[0].lrMass - every[0].lrMass - every[1].lrMass) < 1e-12)
    assert.equal(coarse[1].lrMass, every[2].lrMass)

    const bytes = encodeAdapter(result.adapter, base.meta)
    const back = decodeAdapter(bytes, { cid: baseCid, meta: base.meta })
    assert.equal(back.meta.datanet?.version, 'v1')
    assert.deepEqual((back.meta.provenance as any).checkpoints, result.run.chain)
    assert.ok(bytes.byteLength < baseBytes.byteLength / 2, 'an adapter is much smaller than its base')

    // A verifier rebuilds the job's exact task from its spec, in its own session, and
    // replays the worker's checkpoint chain: it matches, and a tampered chain does not.
    const rebuilt = await classifierAdapterTask({ base, baseCid, train: labelled(trainSet), heldOut: labelled(heldOut), lora, hyper: { ...DEFAULT_CLASSIFIER_ADAPTER_HYPER, steps: 120 }, threads: 2, datanet: { id: 'dn', version: 'v1' } })
    try {
      assert.equal(rebuilt.task.job, result.job)
      const receipt = { job: rebuilt.task.job, chain: result.run.chain }
      const segments = [0, 1, 2]
      const checkpoints = new Map<number, Uint8Array>()
      for (const step of checkpointsNeeded(rebuilt.task, segments)) checkpoints.set(step, await store.load(step))
      const verdict = await verifyTraining({ task: rebuilt.task, receipt, segments, checkpoints })
      assert.ok(verdict.ok, JSON.stringify(verdict.mismatches))
      const forged = { ...receipt, chain: receipt.chain.map((c, i) => i === 2 ? { ...c, hash: 'ff'.repeat(32) } : c) }
      assert.equal((await verifyTraining({ task: rebuilt.task, receipt: forged, segments: [2], checkpoints })).ok, false)
    } finally {
      await rebuilt.release()
    }

    // Training again with the same inputs resumes nothing new and gives the same adapter.
    const again = await trainClassifierAdapter({ base, baseCid, train: labelled(trainSet), heldOut: labelled(heldOut), lora, hyper: { ...DEFAULT_CLASSIFIER_ADAPTER_HYPER, steps: 120 }, threads: 2, store, datanet: { id: 'dn', version: 'v1' } })
    assert.equal(again.run.resumedFrom, 120)
    assert.deepEqual(again.adapter.params.get('w1.lora_b')?.data, result.adapter.params.get('w1.lora_b')?.data)
  })

  it('refuses empty or mislabelled data and a base of the wrong kind', async () => {
    const base = await pretrainClassifier({ name: 'b', source: {}, cfg, labels: ['ham', 'spam'], data: labelled(first.slice(0, 40)), hyper: { ...DEFAULT_CLASSIFIER_ADAPTER_HYPER, steps: 2 }, threads: 1 })
    const job = { base, baseCid: 'c', heldOut: labelled(heldOut.slice(0, 10)), lora, hyper: { ...DEFAULT_CLASSIFIER_ADAPTER_HYPER, steps: 2 }, threads: 1 }
    await expectRejects(trainClassifierAdapter({ ...job, train: { texts: [], labels: [] } }), BadTrainingDataError)
    await expectRejects(trainClassifierAdapter({ ...job, train: { texts: ['a'], labels: [5] } }), BadTrainingDataError)
    await expectRejects(trainClassifierAdapter({ ...job, train: { texts: ['a', 'b'], labels: [1] } }), BadTrainingDataError)
    const lmBase = { ...base, meta: { format: 'openledger/model/1' as const, kind: 'lm' as const, name: 'x', config: { vocab: 8, dModel: 4, layers: 1, heads: 1, ffn: 4, context: 4 }, tokenizer: null } }
    await expectRejects(trainClassifierAdapter({ ...job, base: lmBase, train: labelled(trainSet) }), ShapeMismatchError)
  })
})
