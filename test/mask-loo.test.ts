// Mask-LOO: an adapter run that keeps every batch, order and seed of the full run and
// masks some examples' rows, with the loss still normalised by the full batch. Without
// masked examples it must be the unmasked run bit for bit; masked examples that no
// batch holds yet cannot change anything; once they are drawn, the run differs; and a
// masked step's gradient is the gradient of the kept rows alone, scaled kept/full.
import assert from 'node:assert/strict'
import { DEFAULT_CLASSIFIER_ADAPTER_HYPER, trainClassifierAdapter } from '../compute/jobs/train-classifier-adapter.ts'
import { exampleKeys } from '../compute/jobs/run-training.ts'
import type { Model } from '../compute/models/artifacts.ts'
import { buildClassifierGraph } from '../compute/models/classifier/graphs.ts'
import { classifierParamSpecs, type ClassifierConfig } from '../compute/models/classifier/config.ts'
import { classifierData, classifierStepFn } from '../compute/models/classifier/train-step.ts'
import { lmBatch, windowsOf } from '../compute/models/lm/data.ts'
import { buildLmStepGraph } from '../compute/models/lm/graphs.ts'
import { lmParamSpecs } from '../compute/models/lm/params.ts'
import { lmStepFn } from '../compute/models/lm/train-step.ts'
import { loraSpecs } from '../compute/models/lora.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { StepRunner, type StepResult } from '../compute/models/step-runner.ts'
import { Rng } from '../compute/random.ts'
import { DEFAULT_ADAMW } from '../compute/train/adamw.ts'
import { fingerprint } from '../compute/train/fingerprint.ts'
import { batchIndices, train, type TrainTask } from '../compute/train/trainer.ts'
import { readSpamAssassinMails } from '../storage/corpora/spam-assassin.ts'
import { paraphrase } from '../bench/attribution/paraphrase.ts'
import { estimateSimilarity, sketchSignature } from '../storage/dedupe/minhash.ts'

const cfg: ClassifierConfig = { buckets: 2048, maxFeatures: 64, maxChars: 4000, embed: 8, hidden: 8, classes: 2 }
const lora = { rank: 2, alpha: 4, targets: ['emb', 'w1', 'w2'] }
const BATCH = 16
const EVERY = 4
const STEPS = 24

function close (a: StepResult, b: StepResult, what: string): void {
  assert.ok(Math.abs(a.loss - b.loss) <= 1e-6 + 1e-5 * Math.abs(b.loss), `${what}: loss ${a.loss} vs ${b.loss}`)
  for (const [name, g] of a.grads) {
    const h = (b.grads.get(name) as { data: Float32Array }).data
    for (let i = 0; i < g.data.length; i++) assert.ok(Math.abs(g.data[i] - h[i]) <= 1e-6 + 1e-4 * Math.abs(h[i]), `${what}: ${name}[${i}] ${g.data[i]} vs ${h[i]}`)
  }
}

describe('mask-LOO: masked adapter training with the full batch normaliser', function () {
  this.timeout(60_000)
  const mails = readSpamAssassinMails({ limit: 160 })
  const texts = { texts: mails.map(m => m.text), labels: mails.map(m => (m.label === 'spam' ? 1 : 0)) }
  const data = classifierData(texts, cfg)
  const base = initParams(classifierParamSpecs(cfg), 3)
  const specs = loraSpecs(classifierParamSpecs(cfg), lora, new Set(['emb']))
  const keys = exampleKeys(texts.texts.map((t, i) => `${texts.labels[i]}\u0000${t}`))
  let runner: StepRunner
  before(async () => { runner = await StepRunner.create(buildClassifierGraph({ cfg, batch: BATCH, mode: { kind: 'lora', base, lora }, train: true }), { threads: 1 }) })
  after(async () => { await runner.release() })

  const task = (keep?: Uint8Array): TrainTask => ({
    job: fingerprint({ test: 'mask-loo' }),
    specs,
    init: initParams(specs, 1),
    examples: data.count,
    keys,
    batch: BATCH,
    steps: STEPS,
    seed: 5,
    schedule: { peak: 1e-2, warmup: 2, total: STEPS, kind: 'cosine', floor: 0.1 },
    adamw: { ...DEFAULT_ADAMW },
    checkpointEvery: EVERY,
    step: classifierStepFn(runner, data, BATCH, keep)
  })
  const store = (): { save: (step: number, bytes: Uint8Array) => Promise<void>, steps: () => Promise<number[]>, load: () => Promise<Uint8Array> } => ({ save: async () => {}, steps: async () => [], load: async () => new Uint8Array() })

  it('an all-ones mask is no mask: the same adapter job, bit for bit', async () => {
    const model = { meta: { format: 'openledger/model/1', kind: 'classifier', name: 'tiny', config: cfg, labels: ['ham', 'spam'] }, params: base } as unknown as Model
    const job = { base: model, baseCid: 'tiny', train: { texts: texts.texts.slice(0, 96), labels: texts.labels.slice(0, 96) }, heldOut: { texts: texts.texts.slice(96, 128), labels: texts.labels.slice(96, 128) }, lora, hyper: { ...DEFAULT_CLASSIFIER_ADAPTER_HYPER, steps: 12, batch: BATCH, checkpointEvery: 4 }, threads: 1 }
    const plain = await trainClassifierAdapter(job)
    const ones = await trainClassifierAdapter({ ...job, mask: new Uint8Array(96).fill(1) })
    assert.deepEqual(ones.run.chain, plain.run.chain)
    assert.equal(ones.job, plain.job)
    assert.equal(ones.after.loss, plain.after.loss)
    const masked = await trainClassifierAdapter({ ...job, mask: new Uint8Array(96).fill(1).fill(0, 0, 30) })
    assert.notEqual(masked.job, plain.job, 'a mask that masks something is another job')
    assert.notEqual(masked.after.loss, plain.after.loss)
  })

  it('masked examples change nothing until a batch draws them, then the run differs', async () => {
    const full = await train({ ...task(), store: store() })
    const ones = await train({ ...task(new Uint8Array(data.count).fill(1)), store: store() })
    assert.deepEqual(ones.chain, full.chain)
    // Examples that no batch of the first 8 steps (two checkpoints) holds, but a later one does.
    const early = new Set<number>()
    for (let s = 0; s < 2 * EVERY; s++) for (const i of batchIndices(task(), s)) early.add(i)
    const late = new Set<number>()
    for (let s = 2 * EVERY; s < STEPS; s++) for (const i of batchIndices(task(), s)) if (!early.has(i)) late.add(i)
    assert.ok(late.size > 0)
    const keep = new Uint8Array(data.count).fill(1)
    for (const i of [...late].slice(0, 10)) keep[i] = 0
    const masked = await train({ ...task(keep), store: store() })
    assert.deepEqual(masked.chain.slice(0, 2), full.chain.slice(0, 2))
    assert.notDeepEqual(masked.chain.slice(2), full.chain.slice(2))
    assert.equal(masked.chain.length, full.chain.length)
  })

  it('a masked classifier step is the kept rows\' step scaled kept/full', async () => {
    const params = initParams(specs, 9)
    for (const t of params.values()) for (let i = 0; i < t.data.length; i++) t.data[i] += 0.05 * Math.sin(i + 1)
    const indices = Array.from({ length: BATCH }, (_, i) => (i * 7) % data.count)
    const keep = new Uint8Array(data.count).fill(1)
    const gone = [indices[1], indices[4], indices[5], indices[11]]
    for (const i of gone) keep[i] = 0
    const masked = await classifierStepFn(runner, data, BATCH, keep)(params, indices)
    const kept = indices.filter(i => keep[i] === 1)
    const alone = await classifierStepFn(runner, data, BATCH)(params, kept)
    const s = kept.length / indices.length
    for (const g of alone.grads.values()) for (let i = 0; i < g.data.length; i++) g.data[i] *= s
    close(masked, { ...alone, loss: alone.loss * s }, 'classifier')
    const none = new Uint8Array(data.count).fill(1)
    for (const i of indices) none[i] = 0
    const empty = await classifierStepFn(runner, data, BATCH, none)(params, indices)
    assert.equal(empty.loss, 0)
    for (const g of empty.grads.values()) assert.ok(g.data.every(x => x === 0))
  })

  it('a masked language-model step is the kept windows\' step scaled by kept/full tokens', async () => {
    const lmCfg = { vocab: 40, dModel: 8, layers: 1, heads: 2, ffn: 16, context: 8 }
    const lmLora = { rank: 2, alpha: 4, targets: ['l0.attn.wq', 'l0.attn.wv'] }
    const lmBase = initParams(lmParamSpecs(lmCfg), 4)
    const adapter = initParams(loraSpecs(lmParamSpecs(lmCfg), lmLora), 5)
    const rng = new Rng(6)
    for (const t of adapter.values()) for (let i = 0; i < t.data.length; i++) t.data[i] += 0.3 * rng.normal()
    const docs = [Int32Array.from({ length: 40 }, () => rng.int(38)), Int32Array.from({ length: 9 }, () => rng.int(38))]
    const windows = windowsOf(docs, { seq: 6, eot: 38, pad: 39 })
    const lmRunner = await StepRunner.create(buildLmStepGraph({ cfg: lmCfg, batch: 4, seq: 6, mode: { kind: 'lora', base: lmBase, lora: lmLora }, train: true }), { threads: 1 })
    try {
      const indices = [0, 3, 5, windows.count - 1] // the last window is short
      const keep = new Uint8Array(windows.count).fill(1)
      keep[3] = 0
      const masked = await lmStepFn(lmRunner, windows, 4, keep)(adapter, indices)
      const alone = await lmStepFn(lmRunner, windows, 4)(adapter, [0, 5, windows.count - 1])
      const s = lmBatch(windows, [0, 5, windows.count - 1], 4).count / lmBatch(windows, indices, 4).count
      assert.ok(s < 1)
      for (const g of alone.grads.values()) for (let i = 0; i < g.data.length; i++) g.data[i] *= s
      close(masked, { ...alone, loss: alone.loss * s }, 'lm')
      const same = await lmStepFn(lmRunner, windows, 4, new Uint8Array(windows.count).fill(1))(adapter, indices)
      const plain = await lmStepFn(lmRunner, windows, 4)(adapter, indices)
      assert.equal(same.loss, plain.loss)
      for (const [name, g] of same.grads) assert.deepEqual(g.data, plain.grads.get(name)?.data)
    } finally {
      await lmRunner.release()
    }
  })

  it('a paraphrase keeps the words\' content but falls under the 0.8 near-duplicate bar', () => {
    for (const m of mails.slice(0, 20)) {
      if (m.text.split(/\s+/).length < 60) continue
      const p = paraphrase(m.text, 7)
      assert.notEqual(p, m.text)
      assert.ok(estimateSimilarity(sketchSignature(p), sketchSignature(m.text)) < 0.8, m.name)
      assert.equal(paraphrase(m.text, 7), p, 'deterministic')
    }
  })
})
