// Verification across hardware, on real sessions: a LoRA classifier trained on one device
// and its sampled segments replayed on another (the CPU provider and WebGPU, which CI runs
// on Mesa's lavapipe). Honest work passes within the tolerance of the device pair; a
// worker that skips steps is caught either way, also when it fakes plausible losses and
// when it names another device class than its own to get a looser check.
import assert from 'node:assert/strict'
import { probeDevices } from '../compute/capacity/device-probe.ts'
import { buildClassifierGraph } from '../compute/models/classifier/graphs.ts'
import { classifierParamSpecs, type ClassifierConfig } from '../compute/models/classifier/config.ts'
import { classifierData, classifierStepFn } from '../compute/models/classifier/train-step.ts'
import { loraSpecs } from '../compute/models/lora.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { StepRunner, type StepResult } from '../compute/models/step-runner.ts'
import { deviceStamp, type DeviceStamp } from '../compute/onnx/device-class.ts'
import type { Device } from '../compute/onnx/device-names.ts'
import { zerosLike } from '../compute/tensors/param-set.ts'
import { DEFAULT_ADAMW } from '../compute/train/adamw.ts'
import { MemoryCheckpointStore } from '../compute/train/checkpoint-store.ts'
import { fingerprint } from '../compute/train/fingerprint.ts'
import { train, type TrainTask } from '../compute/train/trainer.ts'
import { CROSS_DEVICE_TOLERANCE, CROSS_CPU_TOLERANCE, SAME_GPU_TOLERANCE, verifyModeFor } from '../compute/verify/device-tolerance.ts'
import type { TrainingReceipt } from '../compute/verify/sample.ts'
import { checkpointsNeeded, segmentsOf, verifyTraining, type VerifyMode } from '../compute/verify/training.ts'
import { decodeTrainingReceipt, encodeTrainingReceipt } from '../compute/jobs/training-receipt-file.ts'
import { BadReceiptError } from '../compute/verify/errors.ts'
import { readSpamAssassinMails } from '../storage/corpora/spam-assassin.ts'

const REQUIRE_WEBGPU = process.env.OPENLEDGER_REQUIRE_WEBGPU === '1'

const cfg: ClassifierConfig = { buckets: 4096, maxFeatures: 64, maxChars: 4000, embed: 16, hidden: 16, classes: 2 }
const lora = { rank: 4, alpha: 8, targets: ['emb', 'w1', 'w2'] }
const BATCH = 32
// The market's checkpoint interval: the tolerances are measured over one such segment.
const EVERY = 50
const STEPS = 150

type StepFn = TrainTask['step']

describe('verification across devices (CPU and WebGPU, real sessions)', function () {
  this.timeout(600_000)
  const mails = readSpamAssassinMails({ limit: 400 })
  const data = classifierData({ texts: mails.map(m => m.text), labels: mails.map(m => (m.label === 'spam' ? 1 : 0)) }, cfg)
  const base = initParams(classifierParamSpecs(cfg), 3)
  const specs = loraSpecs(classifierParamSpecs(cfg), lora, new Set(['emb']))
  const runners = new Map<Device, StepRunner>()
  const honest = new Map<Device, { store: MemoryCheckpointStore, receipt: TrainingReceipt }>()
  const stamp: Partial<Record<Device, DeviceStamp>> = {}

  function stepOn (device: Device): StepFn {
    return classifierStepFn(runners.get(device)!, data, BATCH)
  }

  function task (device: Device, over: Partial<TrainTask> = {}): TrainTask {
    return {
      job: fingerprint({ test: 'verify-devices', steps: STEPS, every: EVERY }),
      specs,
      init: initParams(specs, 1),
      examples: data.count,
      batch: BATCH,
      steps: STEPS,
      seed: 1,
      schedule: { peak: 5e-3, warmup: 3, total: STEPS, kind: 'cosine', floor: 0.1 },
      adamw: DEFAULT_ADAMW,
      checkpointEvery: EVERY,
      step: stepOn(device),
      ...over
    }
  }

  /** Skips the steps `skip` names (zero gradients), reporting the last real loss so the losses look plausible. */
  function skipping (device: Device, skip: (step: number) => boolean): StepFn {
    const inner = stepOn(device)
    let step = 0
    let last = 0.7
    return async (params, indices): Promise<StepResult> => {
      if (!skip(step++)) {
        const r = await inner(params, indices)
        last = r.loss
        return r
      }
      return { loss: last, grads: zerosLike(params), examples: indices.length }
    }
  }

  async function run (device: Device, step?: StepFn): Promise<{ store: MemoryCheckpointStore, receipt: TrainingReceipt }> {
    const store = new MemoryCheckpointStore()
    const r = await train(task(device, { store, ...(step !== undefined ? { step } : {}) }))
    return { store, receipt: { job: task(device).job, chain: r.chain, device: stamp[device] } }
  }

  /** Every segment of `worker`'s run, replayed on `verifier` in the mode the two stamps call for. */
  async function verifyOn (verifier: Device, worker: { store: MemoryCheckpointStore, receipt: TrainingReceipt }, mode?: VerifyMode) {
    const m = mode ?? verifyModeFor(worker.receipt.device, stamp[verifier]!)
    const t = task(verifier)
    const segments = segmentsOf(t).map(s => s.index)
    const checkpoints = new Map<number, Uint8Array>()
    for (const s of checkpointsNeeded(t, segments, m)) checkpoints.set(s, await worker.store.load(s))
    return await verifyTraining({ task: t, receipt: worker.receipt, segments, checkpoints, mode: m })
  }

  before(async function () {
    const [probe] = await probeDevices(['webgpu'], { size: 64, chain: 2, runs: 1, threads: 1 })
    if (!probe.available) {
      if (REQUIRE_WEBGPU) assert.fail(`webgpu is required here but unavailable: ${probe.error}`)
      this.skip()
    }
    for (const device of ['cpu', 'webgpu'] as const) {
      runners.set(device, await StepRunner.create(buildClassifierGraph({ cfg, batch: BATCH, mode: { kind: 'lora', base, lora }, train: true }), { threads: 1, device }))
      stamp[device] = deviceStamp(device)
    }
    for (const device of ['cpu', 'webgpu'] as const) honest.set(device, await run(device))
  })
  after(async () => { for (const r of runners.values()) await r.release() })

  it('the mode follows the two stamps: bit for bit on one CPU class or an unnamed device, the pair\'s tolerance otherwise', () => {
    const cpu: DeviceStamp = { device: 'cpu', ort: '1.30.0', hardware: 'x64 AMD EPYC' }
    const otherCpu = { ...cpu, hardware: 'arm64 Neoverse-V2' }
    const gpu: DeviceStamp = { device: 'webgpu', ort: '1.30.0', hardware: 'NVIDIA L4' }
    assert.equal(verifyModeFor(cpu, cpu), 'exact')
    assert.equal(verifyModeFor(undefined, gpu), 'exact')
    assert.deepEqual(verifyModeFor(cpu, { ...cpu, ort: '1.31.0' }), CROSS_CPU_TOLERANCE)
    assert.deepEqual(verifyModeFor(cpu, otherCpu), CROSS_CPU_TOLERANCE)
    assert.deepEqual(verifyModeFor(gpu, gpu), SAME_GPU_TOLERANCE)
    assert.deepEqual(verifyModeFor(cpu, gpu), CROSS_DEVICE_TOLERANCE)
    assert.deepEqual(verifyModeFor(gpu, cpu), CROSS_DEVICE_TOLERANCE)
    assert.deepEqual(verifyModeFor(gpu, { ...gpu, hardware: 'AMD Radeon' }), CROSS_DEVICE_TOLERANCE)
  })

  it('a receipt names its device class, in its one canonical encoding; a malformed stamp is refused', () => {
    const r = honest.get('webgpu')!.receipt
    const bytes = encodeTrainingReceipt(r)
    assert.deepEqual(decodeTrainingReceipt(bytes), r)
    assert.equal(decodeTrainingReceipt(encodeTrainingReceipt({ job: r.job, chain: r.chain })).device, undefined)
    const text = new TextDecoder().decode(bytes)
    for (const bad of [
      text.replace('"device":"webgpu"', '"device":"tpu"'),
      text.replace(/"hardware":"[^"]*"/, '"hardware":""'),
      text.replace(/"hardware":"[^"]*"/, `"hardware":"${'x'.repeat(161)}"`),
      text.replace(/"hardware":"[^"]*"/, '"hardware":"a\\u0000b"'),
      text.replace(/"ort":"[^"]*"/, '"ort":"1.30.0; rm -rf"'),
      text.replace('}}', ',"extra":1}}')
    ]) {
      assert.notEqual(bad, text)
      assert.throws(() => decodeTrainingReceipt(new TextEncoder().encode(bad)), (err: Error) => err instanceof BadReceiptError)
    }
  })

  for (const [worker, verifier] of [['cpu', 'webgpu'], ['webgpu', 'cpu']] as const) {
    it(`an honest ${worker} worker passes a ${verifier} verifier within the pair's tolerance, and fails it bit for bit`, async () => {
      const w = honest.get(worker)!
      const v = await verifyOn(verifier, w)
      assert.equal(v.ok, true, `mismatches: ${JSON.stringify(v.mismatches)}`)
      assert.deepEqual(v.checked, [0, 1, 2])
      // The drift is real: compared bit for bit the same honest run fails.
      const exact = await verifyOn(verifier, w, 'exact')
      assert.equal(exact.ok, false, `a ${worker} run replays bit for bit on ${verifier}: the tolerance is not what makes it pass`)
      // What the pair drifted by, for the record: well inside the tolerance.
      console.log(`      ${worker} -> ${verifier}: worst relative difference ${v.worstRelative?.toExponential(2)} (tolerance ${CROSS_DEVICE_TOLERANCE.tolerance})`)
      assert.ok((v.worstRelative as number) > 0 && (v.worstRelative as number) <= CROSS_DEVICE_TOLERANCE.tolerance)
    })

    it(`a ${worker} worker that skips steps is caught by a ${verifier} verifier, half a segment or two steps, faked losses and all`, async () => {
      for (const skip of [(s: number) => s >= 75 && s < 100, (s: number) => s === 120 || s === 121]) {
        const cheat = await run(worker, skipping(worker, skip))
        const v = await verifyOn(verifier, cheat)
        assert.equal(v.ok, false)
        const caught = v.mismatches.map(m => m.segment)
        assert.equal(caught[0], skip(80) ? 1 : 2)
        for (const m of v.mismatches) assert.ok((m.relative ?? Infinity) > CROSS_DEVICE_TOLERANCE.tolerance, `segment ${m.segment} off by only ${m.relative}`)
        console.log(`      ${worker} skipping, ${verifier} verifier: segments ${caught.join(', ')} off by ${v.mismatches.map(m => m.relative?.toExponential(2)).join(', ')}`)
      }
    })
  }

  it('a CPU worker that names a GPU class to be checked loosely is still caught skipping two steps', async () => {
    const cheat = await run('cpu', skipping('cpu', s => s === 60 || s === 61))
    const liar = { ...cheat, receipt: { ...cheat.receipt, device: { device: 'webgpu' as const, ort: '1.30.0', hardware: 'a card it does not have' } } }
    const v = await verifyOn('cpu', liar)
    assert.deepEqual(verifyModeFor(liar.receipt.device, stamp.cpu!), CROSS_DEVICE_TOLERANCE)
    assert.equal(v.ok, false)
    assert.equal(v.mismatches[0].segment, 1)
  })

  it('two WebGPU runs of one class pass each other within the same-GPU tolerance', async () => {
    const again = await run('webgpu')
    const v = await verifyOn('webgpu', again)
    assert.deepEqual(verifyModeFor(again.receipt.device, stamp.webgpu!), SAME_GPU_TOLERANCE)
    assert.equal(v.ok, true, JSON.stringify(v.mismatches))
  })
})
