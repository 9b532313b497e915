import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { buildClassifierGraph } from '../compute/models/classifier/graphs.ts'
import { classifierParamSpecs, type ClassifierConfig } from '../compute/models/classifier/config.ts'
import { classifierData, classifierStepFn } from '../compute/models/classifier/train-step.ts'
import { loraSpecs, type LoraConfig } from '../compute/models/lora.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { StepRunner, type StepResult } from '../compute/models/step-runner.ts'
import { zerosLike, type ParamSet } from '../compute/tensors/param-set.ts'
import { DEFAULT_ADAMW } from '../compute/train/adamw.ts'
import { checkpointHash, decodeCheckpoint, encodeCheckpoint } from '../compute/train/checkpoint.ts'
import { MemoryCheckpointStore } from '../compute/train/checkpoint-store.ts'
import { fingerprint } from '../compute/train/fingerprint.ts'
import { train, type TrainTask } from '../compute/train/trainer.ts'
import { Bisection, bisect, evidenceHash, faultEvidence, initialStateHash, refereeStep, stepHashes } from '../compute/verify/bisect.ts'
import { BadDisputeError, BadReceiptError, CheckpointRefusedError } from '../compute/verify/errors.ts'
import { detectionProbability, receiptHash, sampleSeed, sampleSegments, segmentsForFraction, type TrainingReceipt } from '../compute/verify/sample.ts'
import type { Adapter } from '../compute/models/artifacts.ts'
import { checkAdapterBinding } from '../compute/verify/adapter-binding.ts'
import { adapterMatchesCheckpoint, checkpointsNeeded, segmentsOf, verifyTraining, WEIGHT_TOLERANCE } from '../compute/verify/training.ts'
import { readSpamAssassinMails } from '../storage/corpora/spam-assassin.ts'
import { readSotuAddresses } from '../storage/corpora/sotu.ts'
import { buildLmStepGraph } from '../compute/models/lm/graphs.ts'
import { windowsOf } from '../compute/models/lm/data.ts'
import { lmStepFn } from '../compute/models/lm/train-step.ts'
import { defaultLoraTargets, type LmConfig } from '../compute/models/lm/config.ts'
import { lmParamSpecs } from '../compute/models/lm/params.ts'
import { expectRejects, expectThrows } from './helpers/expect-throws.ts'
import { inheritCheckpoints, MAX_CONFIRM_TRIES } from '../peer/market/handover.ts'
import { FileCheckpointStore } from '../peer/models/checkpoint-files.ts'
import { PartyReplays, playDispute, type DisputeAsk, type PartySegment } from '../peer/market/disputes.ts'
import { fabricatedHash } from '../peer/market/adversaries/behaviour.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const cfg: ClassifierConfig = { buckets: 4096, maxFeatures: 64, maxChars: 4000, embed: 16, hidden: 16, classes: 2 }
const lora = { rank: 4, alpha: 8, targets: ['emb', 'w1', 'w2'] }
const BATCH = 32
const THREADS = 1
const EVERY = 8
const STEPS = 40 // five segments: (0,8] (8,16] (16,24] (24,32] (32,40]
const VERIFIER = '0x00000000000000000000000000000000000000aa'

type StepFn = TrainTask['step']

describe('training verification: sampled segment replay, bisection to one step, referee (LoRA classifier on real mail)', function () {
  this.timeout(180_000)
  const mails = readSpamAssassinMails({ limit: 400 })
  const data = classifierData({ texts: mails.map(m => m.text), labels: mails.map(m => (m.label === 'spam' ? 1 : 0)) }, cfg)
  const base = initParams(classifierParamSpecs(cfg), 3)
  const specs = loraSpecs(classifierParamSpecs(cfg), lora, new Set(['emb']))
  let runner: StepRunner
  let honestStep: StepFn
  let calls = 0
  const honest = new MemoryCheckpointStore()
  let receipt: TrainingReceipt
  let adapter: ParamSet

  before(async () => {
    runner = await StepRunner.create(buildClassifierGraph({ cfg, batch: BATCH, mode: { kind: 'lora', base, lora }, train: true }), { threads: THREADS })
    const inner = classifierStepFn(runner, data, BATCH)
    honestStep = async (params, indices) => {
      calls++
      return await inner(params, indices)
    }
    const run = await train(task({ store: honest }))
    receipt = { job: task().job, chain: run.chain }
    adapter = run.params
  })
  after(async () => { await runner.release() })

  function task (over: Partial<TrainTask> = {}): TrainTask {
    const steps = over.steps ?? STEPS
    return {
      job: fingerprint({ test: 'verify-lora', steps, every: over.checkpointEvery ?? EVERY }),
      specs,
      init: initParams(specs, 1),
      examples: data.count,
      batch: BATCH,
      steps,
      seed: 1,
      schedule: { peak: 5e-3, warmup: 3, total: steps, kind: 'cosine', floor: 0.1 },
      adamw: DEFAULT_ADAMW,
      checkpointEvery: EVERY,
      step: honestStep,
      ...over
    }
  }

  /** A worker saving compute: for the steps `skip` names, no forward or backward, zero gradients and a made-up loss. */
  function skipping (skip: (step: number) => boolean, start: number): StepFn {
    let step = start
    return async (params, indices): Promise<StepResult> => {
      if (!skip(step++)) return await honestStep(params, indices)
      return { loss: 0.5, grads: zerosLike(params), examples: indices.length }
    }
  }

  async function bytesAt (store: MemoryCheckpointStore, steps: number[]): Promise<Map<number, Uint8Array>> {
    return new Map(await Promise.all(steps.map(async s => [s, await store.load(s)] as const)))
  }

  async function verify (store: MemoryCheckpointStore, r: TrainingReceipt, segments: number[], mode: 'exact' | { tolerance: number } = 'exact') {
    return await verifyTraining({ task: task(), receipt: r, segments, checkpoints: await bytesAt(store, checkpointsNeeded(task(), segments, mode)), mode })
  }

  it('samples k of n segments from a seed the worker cannot know before committing: deterministic, distinct, uniform', () => {
    const seed = sampleSeed({ job: receipt.job, receipt: receiptHash(receipt), verifier: VERIFIER, beacon: 'ab'.repeat(32) })
    assert.match(seed, /^[0-9a-f]{64}$/)
    assert.deepEqual(sampleSegments(seed, 20, 3), sampleSegments(seed, 20, 3))
    const s = sampleSegments(seed, 20, 3)
    assert.equal(new Set(s).size, 3)
    assert.ok(s.every(i => i >= 0 && i < 20))
    assert.notEqual(seed, sampleSeed({ job: receipt.job, receipt: receiptHash(receipt), verifier: '0x00000000000000000000000000000000000000ab', beacon: 'ab'.repeat(32) }))
    assert.notEqual(receiptHash(receipt), receiptHash({ ...receipt, chain: receipt.chain.slice(0, -1) }))
    assert.deepEqual(sampleSegments(seed, 5, 5), [0, 1, 2, 3, 4])
    const counts = new Array(10).fill(0)
    for (let i = 0; i < 4000; i++) for (const j of sampleSegments(`seed-${i}`, 10, 2)) counts[j]++
    assert.ok(counts.every(c => Math.abs(c - 800) < 120), `about uniform: ${counts.join(' ')}`)
    assert.equal(segmentsForFraction(20, 0.15), 3)
    assert.equal(segmentsForFraction(20, 0.01), 1)
    assert.equal(segmentsForFraction(20, 0), 0)
    assert.equal(segmentsForFraction(5, 1), 5)
    assert.ok(Math.abs(detectionProbability(20, 3, 1) - 0.15) < 1e-12)
    assert.ok(Math.abs(detectionProbability(20, 3, 10) - (1 - (10 * 9 * 8) / (20 * 19 * 18))) < 1e-12)
    assert.throws(() => sampleSegments(seed, 3, 4), RangeError)
  })

  it('an honest worker passes every segment, exactly and within tolerance; its adapter is its last checkpoint', async () => {
    assert.deepEqual(segmentsOf(task()).map(s => [s.from, s.to]), [[0, 8], [8, 16], [16, 24], [24, 32], [32, 40]])
    const all = [0, 1, 2, 3, 4]
    const exact = await verify(honest, receipt, all)
    assert.deepEqual(exact, { ...exact, ok: true, checked: all, mismatches: [] })
    assert.ok(exact.computeMs > 0)
    const tolerant = await verify(honest, receipt, all, { tolerance: WEIGHT_TOLERANCE })
    assert.ok(tolerant.ok)
    const sampled = sampleSegments(sampleSeed({ job: receipt.job, receipt: receiptHash(receipt), verifier: VERIFIER }), 5, 2)
    assert.ok((await verify(honest, receipt, sampled)).ok)
    assert.ok(adapterMatchesCheckpoint(adapter, await honest.load(STEPS), specs))
    const other = new Map(adapter)
    other.set(specs[0].name, { shape: adapter.get(specs[0].name)!.shape, data: new Float32Array(adapter.get(specs[0].name)!.data.length) })
    assert.ok(!adapterMatchesCheckpoint(other, await honest.load(STEPS), specs), 'an unchanged (zero) adapter is not the trained one')
  })

  it('binds the delivered adapter to the receipt: its run, its chain, its last checkpoint; a random, stale or untouched one is refused', async () => {
    const meta = { provenance: { job: receipt.job, checkpoints: receipt.chain } } as unknown as Adapter['meta']
    const final = await honest.load(STEPS)
    const bind = (over: Partial<Adapter> = {}, bytes = final, r = receipt) => checkAdapterBinding({ task: task(), receipt: r, adapter: { meta, params: adapter, ...over }, final: bytes })
    assert.deepEqual(bind(), { ok: true })
    const random = new Map([...adapter].map(([k, t]) => [k, { shape: t.shape, data: t.data.map(() => Math.random() - 0.5) }]))
    assert.equal(bind({ params: random }).reason, 'tensor-values')
    assert.equal(bind({ params: task().init }).reason, 'tensor-values', 'the untouched initial adapter: the base model unchanged')
    assert.equal(bind({}, await honest.load(STEPS - EVERY)).reason, 'final-checkpoint-hash', 'an earlier checkpoint handed over as the last')
    const stale = { provenance: { job: fingerprint({ other: 'run' }), checkpoints: receipt.chain } } as unknown as Adapter['meta']
    assert.equal(bind({ meta: stale }).reason, 'provenance-job', 'an adapter of another run')
    const shorter = { provenance: { job: receipt.job, checkpoints: receipt.chain.slice(1) } } as unknown as Adapter['meta']
    assert.equal(bind({ meta: shorter }).reason, 'provenance-chain')
    assert.equal(bind({}, new Uint8Array([1, 2, 3]), { ...receipt, chain: [...receipt.chain.slice(0, -1), { step: STEPS, hash: checkpointHash(new Uint8Array([1, 2, 3])) }] }).reason, 'final-checkpoint-undecodable')
  })

  it('a worker that skips half a segment is caught when that segment is sampled, and bisection finds the first skipped step', async () => {
    const skipped = (s: number): boolean => s >= 20 && s < 24 // the second half of segment 2, (16,24]
    const cheat = new MemoryCheckpointStore()
    const run = await train(task({ store: cheat, step: skipping(skipped, 0) }))
    const bad: TrainingReceipt = { job: receipt.job, chain: run.chain }
    assert.deepEqual(bad.chain.slice(0, 2), receipt.chain.slice(0, 2), 'honest up to step 16')

    assert.ok((await verify(cheat, bad, [0, 1])).ok, 'not seen when its segment is not sampled')
    const verdict = await verify(cheat, bad, [1, 2])
    assert.equal(verdict.ok, false)
    assert.deepEqual(verdict.mismatches.map(m => [m.segment, m.step, m.claimed]), [[2, 24, bad.chain[2].hash]])
    assert.equal(verdict.mismatches[0].recomputed, receipt.chain[2].hash, 'the verifier recomputes what an honest worker committed')
    const tolerant = await verify(cheat, bad, [2], { tolerance: WEIGHT_TOLERANCE })
    assert.equal(tolerant.ok, false, 'skipping is far outside the cross-kernel tolerance')
    assert.ok(tolerant.mismatches[0].relative! > 100 * WEIGHT_TOLERANCE)

    // Bisection over (16, 24]: each party answers from its own replay of the segment.
    const start = await cheat.load(16)
    const workerSide = await stepHashes(task({ step: skipping(skipped, 16) }), start, { keep: [20] })
    const challengerSide = await stepHashes(task(), start)
    assert.equal(workerSide.hashes.at(-1)!.hash, bad.chain[2].hash, 'the state at the segment end is the receipt checkpoint')
    const at = (h: Array<{ step: number, hash: string }>, step: number): string => h.find(x => x.step === step)!.hash
    const game = Bisection.forSegment(task(), bad, verdict.mismatches[0])
    const asked: number[] = []
    const outcome = await bisect(game, async step => {
      asked.push(step)
      return { worker: at(workerSide.hashes, step), challenger: at(challengerSide.hashes, step) }
    })
    assert.equal(outcome.lo, 20, 'the first skipped step runs from state 20 to 21')
    assert.equal(outcome.rounds, 3, 'log2(8) rounds')
    assert.deepEqual(asked, [20, 22, 21])
    assert.equal(outcome.agreed, at(challengerSide.hashes, 20))

    const stateAt20 = workerSide.states.get(20)!
    const ruling = await refereeStep(task(), stateAt20, outcome)
    assert.deepEqual(ruling, { step: 20, recomputed: outcome.challenger, right: 'challenger' })
    const evidence = faultEvidence(bad, 2, outcome, ruling)
    assert.equal(evidence.faulty, 'worker')
    assert.equal(evidence.receipt, receiptHash(bad))
    assert.match(evidenceHash(evidence), /^0x[0-9a-f]{64}$/)
    assert.equal(evidenceHash(evidence), evidenceHash({ ...evidence }))
    assert.notEqual(evidenceHash(evidence), evidenceHash({ ...evidence, step: 21 }))

    await expectRejects(refereeStep(task(), await cheat.load(16), outcome), BadDisputeError)
    expectThrows(() => game.answer('a', 'b'), BadDisputeError)
  })

  it('the referee sides with an honest worker against a lying challenger, also when the dispute starts at step 0', async () => {
    // A challenger whose replay is wrong from step 5 on (a bad machine, or a verifier out to get the worker slashed).
    const liar = await stepHashes(task({ step: skipping(s => s === 5, 0) }), null)
    const worker = await stepHashes(task(), null, { keep: [] })
    assert.equal(worker.hashes.at(-1)!.hash, receipt.chain[0].hash)
    const game = Bisection.forSegment(task(), receipt, { segment: 0, step: 8, claimed: receipt.chain[0].hash, recomputed: liar.hashes.at(-1)!.hash })
    assert.equal(game.agreed, initialStateHash(task()))
    const outcome = await bisect(game, async step => ({ worker: worker.hashes[step - 1].hash, challenger: liar.hashes[step - 1].hash }))
    assert.equal(outcome.lo, 5)
    const stateAt5 = (await stepHashes(task(), null, { until: 5, keep: [5] })).states.get(5)!
    const ruling = await refereeStep(task(), stateAt5, outcome)
    assert.equal(ruling.right, 'worker')
    assert.equal(faultEvidence(receipt, 0, outcome, ruling).faulty, 'challenger')

    // A dispute over the very first step: the agreed state is the task's own start.
    const first = { lo: 0, agreed: initialStateHash(task()), worker: worker.hashes[0].hash, challenger: 'f'.repeat(64), rounds: 0 }
    assert.equal((await refereeStep(task(), null, first)).right, 'worker')
    await expectRejects(refereeStep(task(), null, { ...first, agreed: 'e'.repeat(64) }), BadDisputeError)
  })

  it('a stale checkpoint (an earlier one relabelled, or copied as is) and random parameters are caught', async () => {
    const steps = segmentsOf(task()).map(s => s.to)
    // Stale: the worker stops after step 32 and claims the state at 32 as the one at 40.
    const stale = new MemoryCheckpointStore()
    for (const s of steps.slice(0, 4)) await stale.save(s, await honest.load(s))
    const c32 = decodeCheckpoint(await honest.load(32), specs)
    await stale.save(40, encodeCheckpoint({ ...c32, meta: { ...c32.meta, step: 40, prev: receipt.chain[3].hash } }))
    const staleReceipt = { job: receipt.job, chain: [...receipt.chain.slice(0, 4), { step: 40, hash: checkpointHash(await stale.load(40)) }] }
    const v = await verify(stale, staleReceipt, [4])
    assert.deepEqual(v.mismatches.map(m => m.segment), [4])
    assert.equal((await verify(stale, staleReceipt, [4], { tolerance: WEIGHT_TOLERANCE })).ok, false)
    // Copied as is: the receipt repeats a hash, refused outright.
    await expectRejects(verifyTraining({ task: task(), receipt: { job: receipt.job, chain: [...receipt.chain.slice(0, 4), { step: 40, hash: receipt.chain[3].hash }] }, segments: [0], checkpoints: new Map() }), BadReceiptError)

    // Random parameters at step 24, linked correctly and hashed into the receipt: caught by
    // segment 2 (does not replay to it) and by segment 3 (does not replay from it to 32).
    const c24 = decodeCheckpoint(await honest.load(24), specs)
    const random = initParams(specs, 99)
    const forged = encodeCheckpoint({ ...c24, params: random })
    const fake = new MemoryCheckpointStore()
    for (const s of steps) await fake.save(s, await honest.load(s))
    await fake.save(24, forged)
    const fakeReceipt = { job: receipt.job, chain: receipt.chain.map(c => (c.step === 24 ? { step: 24, hash: checkpointHash(forged) } : c)) }
    const r = await verify(fake, fakeReceipt, [2, 3])
    assert.deepEqual(r.mismatches.map(m => m.segment), [2, 3])
  })

  it('hands a job over: a replacement keeps the linked prefix of held checkpoints, drops one that does not replay, and resumes to the honest chain', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'openledger-handover-'))
    try {
      // Held: the honest checkpoints at 8 and 16, then a 24 that a skipping worker built on them (linked, but wrong).
      const cheat = new MemoryCheckpointStore()
      for (const step of [8, 16]) await cheat.save(step, await honest.load(step))
      await train(task({ store: cheat, step: skipping(s => s >= 16, 16), steps: STEPS }))
      const held = new Map<number, Uint8Array>([[8, await honest.load(8)], [16, await honest.load(16)], [24, await cheat.load(24)]])
      const store = new FileCheckpointStore(join(dir, 'job'))
      const from = await inheritCheckpoints({ task: task(), fetch: async step => held.get(step), store })
      assert.equal(from, 16, 'the forged 24 does not replay: the last verified checkpoint is 16')
      assert.deepEqual(await store.steps(), [8, 16])
      // A held chain none of whose segments replays here (a predecessor on another device
      // class, or forged throughout): a few are tried, then the replacement starts afresh.
      const alien = new MemoryCheckpointStore()
      await train(task({ store: alien, step: skipping(s => s % 2 === 1, 0), steps: STEPS }))
      const alienHeld = new Map<number, Uint8Array>(await Promise.all([8, 16, 24, 32].map(async s => [s, await alien.load(s)] as const)))
      const tried = calls
      assert.equal(await inheritCheckpoints({ task: task(), fetch: async step => alienHeld.get(step), store: new FileCheckpointStore(join(dir, 'alien')) }), 0)
      assert.equal(calls - tried, MAX_CONFIRM_TRIES * EVERY, 'replayed only MAX_CONFIRM_TRIES segments before giving up')
      assert.deepEqual(await new FileCheckpointStore(join(dir, 'alien')).steps(), [])
      // Another job's checkpoints are not inherited at all.
      assert.equal(await inheritCheckpoints({ task: task({ job: fingerprint({ other: 1 }) }), fetch: async step => held.get(step), store: new FileCheckpointStore(join(dir, 'other')) }), 0)
      // The trainer resumes from the inherited chain and ends exactly where an honest run does.
      const before = calls
      const run = await train(task({ store }))
      assert.equal(run.resumedFrom, 16)
      assert.equal(calls - before, STEPS - 16, 'only the steps after 16 were trained')
      assert.deepEqual(run.chain, receipt.chain)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('plays a dispute as the network does: parties answer from their own replays, the referee rules against the liar either way', async () => {
    const segment = 2
    const party = (store: MemoryCheckpointStore, r: TrainingReceipt, claimAtEnd: string, step: StepFn) => async (): Promise<PartySegment & { release: () => Promise<void> }> =>
      ({ task: task({ step }), receipt: r, segment, start: await store.load(16), claimAtEnd, release: async () => {} })
    const askOf = (worker: () => Promise<PartySegment & { release: () => Promise<void> }>, challenger: () => Promise<PartySegment & { release: () => Promise<void> }>): DisputeAsk => {
      const replays = { worker: new PartyReplays(), challenger: new PartyReplays() }
      const load = { worker, challenger }
      return {
        hash: async (p, step) => {
          const hash = await replays[p].hashAt('k', step, load[p])
          return { hash, claim: new TextEncoder().encode(`${p}:${step}:${hash}`) }
        },
        state: async (p, step) => await PartyReplays.stateAt(await load[p](), step)
      }
    }
    // An honest worker against a verifier that claims a made-up hash for segment 2.
    const fake = fabricatedHash(receipt.job, segment)
    const refuted = await playDispute({
      task: task(), receipt, segment, challengerClaim: fake, start: async () => await honest.load(16),
      ask: askOf(party(honest, receipt, receipt.chain[segment].hash, honestStep), party(honest, receipt, fake, honestStep))
    })
    assert.equal(refuted.faulty, 'challenger')
    assert.equal(refuted.step, 23, 'both agree up to the segment\'s last step, where only the claims differ')
    assert.equal(refuted.rounds, 3)
    assert.equal(refuted.evidence.claims.length, 6, 'a signed claim from each party every round')
    assert.equal(refuted.evidence.fault?.recomputed, receipt.chain[segment].hash)
    // A worker that skipped the second half of segment 2 against an honest verifier.
    const cheat = new MemoryCheckpointStore()
    const run = await train(task({ store: cheat, step: skipping(s => s >= 20 && s < 24, 0) }))
    const bad: TrainingReceipt = { job: receipt.job, chain: run.chain }
    const caught = await playDispute({
      task: task(), receipt: bad, segment, challengerClaim: receipt.chain[segment].hash, start: async () => await cheat.load(16),
      ask: askOf(party(cheat, bad, bad.chain[segment].hash, honestStep), party(cheat, bad, receipt.chain[segment].hash, honestStep))
    })
    assert.equal(caught.faulty, 'worker')
    // A party that does not answer loses by default.
    const silent = await playDispute({
      task: task(), receipt, segment, challengerClaim: fake, start: async () => await honest.load(16),
      ask: { hash: async (p, step) => { if (p === 'challenger') throw new Error('gone'); return { hash: 'x', claim: new Uint8Array() } }, state: async () => new Uint8Array() }
    })
    assert.equal(silent.faulty, 'challenger')
    assert.deepEqual(silent.evidence.unanswered, { party: 'challenger', step: 20, error: 'Error' })
  })

  it('refuses tampered or unlinked checkpoint bytes before replaying anything', async () => {
    const tampered = Uint8Array.from(await honest.load(16))
    tampered[tampered.length - 5] ^= 1
    const before = calls
    const err = await expectRejects(verifyTraining({ task: task(), receipt, segments: [0, 2], checkpoints: new Map([[16, tampered]]) }), CheckpointRefusedError)
    assert.equal(err.details.step, 16)
    assert.equal(calls, before, 'no training step ran')
    await expectRejects(verifyTraining({ task: task(), receipt, segments: [2], checkpoints: new Map() }), CheckpointRefusedError)
    await expectRejects(verifyTraining({ task: task(), receipt, segments: [2], checkpoints: new Map([[16, await honest.load(24)]]) }), CheckpointRefusedError)
    // Bytes that hash to a receipt entry but name the wrong predecessor: the receipt is refused as a chain.
    const c16 = decodeCheckpoint(await honest.load(16), specs)
    const relinked = encodeCheckpoint({ ...c16, meta: { ...c16.meta, prev: receipt.chain[1].hash } })
    const relinkedReceipt = { job: receipt.job, chain: receipt.chain.map(c => (c.step === 16 ? { step: 16, hash: checkpointHash(relinked) } : c)) }
    const e2 = await expectRejects(verifyTraining({ task: task(), receipt: relinkedReceipt, segments: [2], checkpoints: new Map([[16, relinked]]) }), CheckpointRefusedError)
    assert.match(e2.message, /link/)
    await expectRejects(verifyTraining({ task: task(), receipt: { ...receipt, job: 'a'.repeat(64) }, segments: [0], checkpoints: new Map() }), BadReceiptError)
    await expectRejects(verifyTraining({ task: task(), receipt: { ...receipt, chain: receipt.chain.slice(1) }, segments: [0], checkpoints: new Map() }), BadReceiptError)
    assert.equal(calls, before)
  })

  /**
   * Trains `steps` steps with a checkpoint every `every`, verifies k = 10% of the segments
   * sampled from the receipt, and keeps the least CPU time of `reps` runs for each (the
   * cores are shared with other work; CPU time and the minimum are the least disturbed).
   */
  async function measure (mk: (over: Partial<TrainTask>) => TrainTask, steps: number, every: number, reps: number) {
    const n = Math.ceil(steps / every)
    const k = segmentsForFraction(n, 0.1)
    const cpu = async (fn: () => Promise<unknown>): Promise<number> => {
      const c = process.cpuUsage()
      await fn()
      const d = process.cpuUsage(c)
      return (d.user + d.system) / 1000
    }
    { // warm the session and the code paths
      const w = mk({ steps: 2 * every, checkpointEvery: every })
      const store = new MemoryCheckpointStore()
      const run = await train({ ...w, store })
      await verifyTraining({ task: w, receipt: { job: w.job, chain: run.chain }, segments: [1], checkpoints: await bytesAt(store, [every]) })
    }
    let trainMs = Infinity
    let verifyMs = Infinity
    let disputeMs = Infinity
    for (let rep = 0; rep < reps; rep++) {
      const t = mk({ steps, checkpointEvery: every })
      const store = new MemoryCheckpointStore()
      let run: Awaited<ReturnType<typeof train>> | undefined
      trainMs = Math.min(trainMs, await cpu(async () => { run = await train({ ...t, store }) }))
      const r = { job: t.job, chain: run!.chain }
      const segments = sampleSegments(sampleSeed({ job: r.job, receipt: receiptHash(r), verifier: VERIFIER, beacon: String(rep) }), n, k)
      const checkpoints = await bytesAt(store, checkpointsNeeded(t, segments))
      verifyMs = Math.min(verifyMs, await cpu(async () => { assert.ok((await verifyTraining({ task: t, receipt: r, segments, checkpoints })).ok) }))
      // A dispute: each party replays one segment with a hash after every step, the referee one step.
      const from = await store.load(every)
      disputeMs = Math.min(disputeMs, await cpu(async () => {
        const side = await stepHashes(t, from, { keep: [every + 1] })
        await refereeStep(t, from, { lo: every, agreed: r.chain[0].hash, worker: side.hashes[0].hash, challenger: '0'.repeat(64), rounds: 0 })
      }))
    }
    return { n, k, trainMs, verifyMs, disputeMs, ratio: verifyMs / trainMs }
  }

  function report (what: string, m: Awaited<ReturnType<typeof measure>>, every: number): void {
    console.log(`      ${what}: ${m.k} of ${m.n} segments of ${every} steps (${(100 * m.k / m.n).toFixed(0)}% of the steps); CPU: train ${m.trainMs.toFixed(0)} ms, verify ${m.verifyMs.toFixed(0)} ms = ${(100 * m.ratio).toFixed(1)}% of training; ` +
      `a dispute (one party's per-step replay of a segment + the referee's step) ${m.disputeMs.toFixed(0)} ms = ${(100 * m.disputeMs / m.trainMs).toFixed(1)}%`)
  }

  it('measures verification compute as a share of training compute: the classifier adapter', async () => {
    const m = await measure(over => task(over), 400, 20, 5)
    // The share (target at most 15%) is a figure, not a bound (a busy machine must not fail a test): npm run bench -- verification measures it.
    report('classifier LoRA', m, 20)
  })

  it('measures it on a small LM adapter too (byte-level, d 64, 2 layers), catches a skipping worker there, and on other kernels passes honest work within tolerance', async () => {
    const lmCfg: LmConfig = { vocab: 258, dModel: 64, layers: 2, heads: 2, ffn: 128, context: 32 }
    const seq = 32
    const lmBatch = 8
    const docs = readSotuAddresses({ limit: 3 }).map(a => Int32Array.from(Buffer.from(a.text.slice(0, 20_000))))
    const windows = windowsOf(docs, { seq, eot: 256, pad: 257 })
    const lmBase = initParams(lmParamSpecs(lmCfg), 4)
    const lmLora: LoraConfig = { rank: 4, alpha: 8, targets: defaultLoraTargets(lmCfg) }
    const lmSpecs = loraSpecs(lmParamSpecs(lmCfg), lmLora)
    const lmRunner = await StepRunner.create(buildLmStepGraph({ cfg: lmCfg, batch: lmBatch, seq, mode: { kind: 'lora', base: lmBase, lora: lmLora }, train: true }), { threads: THREADS })
    try {
      const lmStep = lmStepFn(lmRunner, windows, lmBatch)
      const mk = (over: Partial<TrainTask>): TrainTask => ({
        ...task(), job: fingerprint({ test: 'verify-lm', steps: over.steps, every: over.checkpointEvery }), specs: lmSpecs, init: initParams(lmSpecs, 1),
        examples: windows.count, batch: lmBatch, step: lmStep, schedule: { peak: 2e-3, warmup: 5, total: over.steps ?? 100, kind: 'cosine', floor: 0.1 }, ...over
      })
      const m = await measure(mk, 100, 5, 5)
      report('LM LoRA', m, 5)

      // A worker that skips the last two steps of segment 1 (steps 8 and 9 of (5,10]).
      let at = 0
      const lazy: StepFn = async (params, indices) => (at++ >= 8 && at <= 10 ? { loss: 1, grads: zerosLike(params), examples: indices.length } : await lmStep(params, indices))
      const cheat = new MemoryCheckpointStore()
      const t = mk({ steps: 20, checkpointEvery: 5 })
      const run = await train({ ...t, step: lazy, store: cheat })
      const bad = { job: t.job, chain: run.chain }
      const v = await verifyTraining({ task: t, receipt: bad, segments: [1], checkpoints: await bytesAt(cheat, [5]) })
      assert.deepEqual(v.mismatches.map(x => x.segment), [1])
      at = 5
      const worker = await stepHashes({ ...t, step: lazy }, await cheat.load(5))
      const challenger = await stepHashes(t, await cheat.load(5))
      const hashAt = (h: typeof worker.hashes, step: number): string => h.find(x => x.step === step)!.hash
      const outcome = await bisect(Bisection.forSegment(t, bad, v.mismatches[0]), async step => ({ worker: hashAt(worker.hashes, step), challenger: hashAt(challenger.hashes, step) }))
      assert.equal(outcome.lo, 8)
      const state = (await stepHashes(t, await cheat.load(5), { until: 8, keep: [8] })).states.get(8)!
      assert.equal((await refereeStep(t, state, outcome)).right, 'challenger')

      // A verifier on other kernels (ORT graph optimisations off, the bench's stand-in for
      // another CPU): its replays are not bit-identical, so it compares within tolerance.
      const other = await StepRunner.create(buildLmStepGraph({ cfg: lmCfg, batch: lmBatch, seq, mode: { kind: 'lora', base: lmBase, lora: lmLora }, train: true }), { threads: THREADS, optimize: false })
      try {
        const theirs = { ...t, step: lmStepFn(other, windows, lmBatch) }
        const store = new MemoryCheckpointStore()
        const honestRun = await train({ ...t, store })
        const r = { job: t.job, chain: honestRun.chain }
        const all = [0, 1, 2, 3]
        const exact = await verifyTraining({ task: theirs, receipt: r, segments: all, checkpoints: await bytesAt(store, checkpointsNeeded(t, all)) })
        const tolerant = await verifyTraining({ task: theirs, receipt: r, segments: all, checkpoints: await bytesAt(store, checkpointsNeeded(t, all, { tolerance: WEIGHT_TOLERANCE })), mode: { tolerance: WEIGHT_TOLERANCE } })
        console.log(`      other kernels: ${exact.mismatches.length} of 4 segments differ bit-wise, ${tolerant.mismatches.length} beyond tolerance ${WEIGHT_TOLERANCE}`)
        assert.ok(tolerant.ok, 'honest work passes within tolerance on other kernels')
        const caught = await verifyTraining({ task: theirs, receipt: bad, segments: [1], checkpoints: await bytesAt(cheat, [5, 10]), mode: { tolerance: WEIGHT_TOLERANCE } })
        assert.deepEqual(caught.mismatches.map(x => x.segment), [1], 'the skipper is caught on other kernels too')
        // The referee on other kernels rules by tolerance, given both parties' states after the step.
        at = 8
        const states = {
          worker: (await stepHashes({ ...t, step: lazy }, state, { until: 9, keep: [9] })).states.get(9)!,
          challenger: (await stepHashes(t, state, { until: 9, keep: [9] })).states.get(9)!
        }
        const ruling = await refereeStep(theirs, state, outcome, { tolerance: WEIGHT_TOLERANCE, states })
        assert.notEqual(ruling.recomputed, outcome.challenger, 'not bit-identical on these kernels')
        assert.equal(ruling.right, 'challenger')
        assert.equal((await refereeStep(theirs, state, outcome)).right, 'neither', 'without the states and a tolerance it cannot tell')
      } finally {
        await other.release()
      }
    } finally {
      await lmRunner.release()
    }
  })
})
