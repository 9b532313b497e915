import assert from 'node:assert/strict'
import { DivergenceError, MalformedArtifactError } from '../compute/errors.ts'
import { buildClassifierGraph } from '../compute/models/classifier/graphs.ts'
import { classifierParamSpecs, type ClassifierConfig } from '../compute/models/classifier/config.ts'
import { classifierData, classifierStepFn } from '../compute/models/classifier/train-step.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { StepRunner } from '../compute/models/step-runner.ts'
import { DEFAULT_ADAMW, adamwStep, initAdamW } from '../compute/train/adamw.ts'
import { checkpointHash, decodeCheckpoint } from '../compute/train/checkpoint.ts'
import { MemoryCheckpointStore } from '../compute/train/checkpoint-store.ts'
import { fingerprint } from '../compute/train/fingerprint.ts'
import { learningRate } from '../compute/train/schedule.ts'
import { batchIndices, replaySegment, train, type TrainTask } from '../compute/train/trainer.ts'
import { readSpamAssassinMails } from '../storage/corpora/spam-assassin.ts'
import { expectRejects } from './helpers/expect-throws.ts'

const cfg: ClassifierConfig = { buckets: 4096, maxFeatures: 64, maxChars: 4000, embed: 16, hidden: 16, classes: 2 }
const BATCH = 32
const THREADS = 2

describe('trainer (AdamW, hash-chained checkpoints) on real SpamAssassin mail', function () {
  this.timeout(120_000)
  const mails = readSpamAssassinMails({ limit: 400 })
  const data = classifierData({ texts: mails.map(m => m.text), labels: mails.map(m => (m.label === 'spam' ? 1 : 0)) }, cfg)
  const specs = classifierParamSpecs(cfg)
  let runner: StepRunner

  before(async () => {
    runner = await StepRunner.create(buildClassifierGraph({ cfg, batch: BATCH, mode: { kind: 'base' }, train: true }), { threads: THREADS })
  })
  after(async () => { await runner.release() })

  function task (over: Partial<TrainTask> = {}): TrainTask {
    const steps = over.steps ?? 30
    return {
      job: fingerprint({ test: 'spam', steps, seed: over.seed ?? 1 }),
      specs,
      init: initParams(specs, 5),
      examples: data.count,
      batch: BATCH,
      steps,
      seed: 1,
      schedule: { peak: 0.01, warmup: 3, total: steps, kind: 'cosine', floor: 0.1 },
      adamw: DEFAULT_ADAMW,
      checkpointEvery: 10,
      step: classifierStepFn(runner, data, BATCH),
      ...over
    }
  }

  it('draws every example once per epoch in a seeded order', () => {
    const t = { seed: 3, examples: 10, batch: 4 }
    const epoch0 = [0, 1, 2].flatMap(s => batchIndices(t, s))
    assert.deepEqual([...epoch0].sort((a, b) => a - b), [...Array(10).keys()])
    assert.equal(batchIndices(t, 2).length, 2, 'the last batch of an epoch is short')
    assert.notDeepEqual(batchIndices(t, 3), batchIndices(t, 0), 'the next epoch is shuffled anew')
    assert.deepEqual(batchIndices(t, 4), batchIndices({ ...t }, 4))
  })

  it('AdamW: the first step moves each weight by about lr against its gradient; decay only where asked', () => {
    const s = [{ name: 'w', shape: [3], init: { kind: 'zeros' as const }, decay: true }, { name: 'b', shape: [1], init: { kind: 'zeros' as const }, decay: false }]
    const params = new Map([['w', { shape: [3], data: Float32Array.of(1, 1, 1) }], ['b', { shape: [1], data: Float32Array.of(1) }]])
    const grads = new Map([['w', { shape: [3], data: Float32Array.of(0.5, -0.5, 0) }], ['b', { shape: [1], data: Float32Array.of(0) }]])
    adamwStep(s, params, grads, initAdamW(s), 0.1, { ...DEFAULT_ADAMW, weightDecay: 0.5, clipNorm: 0 })
    const w = params.get('w')!.data
    assert.ok(Math.abs(w[0] - (0.95 - 0.1)) < 1e-5 && Math.abs(w[1] - (0.95 + 0.1)) < 1e-5 && Math.abs(w[2] - 0.95) < 1e-6)
    assert.equal(params.get('b')!.data[0], 1)
    assert.ok(learningRate({ peak: 1, warmup: 10, total: 100, kind: 'cosine', floor: 0 }, 0) < learningRate({ peak: 1, warmup: 10, total: 100, kind: 'cosine', floor: 0 }, 9))
    assert.ok(learningRate({ peak: 1, warmup: 10, total: 100, kind: 'cosine', floor: 0.1 }, 100) - 0.1 < 1e-9)
  })

  it('learns: the loss falls well below chance (ln 2) on real mail', async () => {
    const result = await train(task({ steps: 60 }))
    const first = result.losses.slice(0, 5).reduce((a, b) => a + b) / 5
    const last = result.losses.slice(-10).reduce((a, b) => a + b) / 10
    assert.ok(first > 0.5, `starts near chance: ${first}`)
    assert.ok(last < 0.35, `ends well below chance: ${last}`)
  })

  it('same data, seed and threads give bit-identical checkpoints; resuming after a stop gives the same chain', async () => {
    const a = new MemoryCheckpointStore()
    const b = new MemoryCheckpointStore()
    const runA = await train(task({ store: a }))
    await train(task({ store: b }))
    assert.deepEqual(await a.steps(), [10, 20, 30])
    for (const step of await a.steps()) assert.deepEqual(await b.load(step), await a.load(step), `checkpoint ${step} differs`)
    assert.deepEqual(runA.chain.map(c => c.hash), await Promise.all((await a.steps()).map(async s => checkpointHash(await a.load(s)))))

    // Stop part way (as a kill would, after checkpoint 10), then run again on the same store.
    const c = new MemoryCheckpointStore()
    const stop = new AbortController()
    await assert.rejects(train(task({ store: c, signal: stop.signal, onStep: p => { if (p.step === 14) stop.abort() } })), { name: 'AbortError' })
    assert.deepEqual(await c.steps(), [10])
    const resumed = await train(task({ store: c }))
    assert.equal(resumed.resumedFrom, 10)
    assert.deepEqual(resumed.chain, runA.chain)
    assert.deepEqual(await c.load(30), await a.load(30))
    const meta = decodeCheckpoint(await a.load(20), specs).meta
    assert.equal(meta.prev, runA.chain[0].hash)
    assert.equal(meta.losses.length, 10)
  })

  it('a verifier replays one segment to the same hash, and a tampered checkpoint does not', async () => {
    const store = new MemoryCheckpointStore()
    const run = await train(task({ store }))
    const replay = await replaySegment(task(), await store.load(10))
    assert.equal(replay.step, 20)
    assert.equal(replay.hash, run.chain[1].hash)
    const fromStart = await replaySegment(task(), null)
    assert.equal(fromStart.hash, run.chain[0].hash)

    // A worker that skipped step 11's update: its checkpoint 20 cannot be reproduced.
    const honest = decodeCheckpoint(await store.load(10), specs)
    honest.params.get('w1')!.data[0] += 1e-3
    const { encodeCheckpoint } = await import('../compute/train/checkpoint.ts')
    const forged = await replaySegment(task(), encodeCheckpoint(honest))
    assert.notEqual(forged.hash, run.chain[1].hash)
  })

  it('refuses to resume another job or a broken chain', async () => {
    const store = new MemoryCheckpointStore()
    await train(task({ store, steps: 20 }))
    await expectRejects(train(task({ store, steps: 20, job: fingerprint('other') })), MalformedArtifactError)
    store.saved.delete(10)
    await expectRejects(train(task({ store, steps: 20 })), MalformedArtifactError)
  })

  it('stops with DivergenceError when the loss runs away, leaving the last checkpoint intact', async () => {
    const store = new MemoryCheckpointStore()
    const err = await expectRejects(train(task({ store, steps: 200, checkpointEvery: 2, schedule: { peak: 50, warmup: 0, total: 200, kind: 'constant', floor: 1 }, adamw: { ...DEFAULT_ADAMW, clipNorm: 0 } })), DivergenceError)
    assert.ok(typeof err.details.step === 'number')
    const steps = await store.steps()
    if (steps.length > 0) decodeCheckpoint(await store.load(steps[steps.length - 1]), specs) // decodes: nothing half-written
  })
})
