// How reproducible is training? Verifiers replay segments of a worker's run and compare
// checkpoints, so we need to know what "the same" means. The same LoRA job is trained
// three times: twice with the same thread count (must be bit-identical: same checkpoint
// hashes) and once with another thread count, which changes how onnxruntime splits its
// reductions, and once with onnxruntime's graph optimisations off, which swaps fused
// kernels for plain ones: the nearest stand-in here for "another machine" (another
// CPU's SIMD kernels). The figures are the relative differences those replays show:
// the tolerance a verifier on different hardware has to allow.
import { buildLmStepGraph } from '../compute/models/lm/graphs.ts'
import { windowsOf } from '../compute/models/lm/data.ts'
import type { LmConfig } from '../compute/models/lm/config.ts'
import { defaultLoraTargets } from '../compute/models/lm/config.ts'
import { lmParamSpecs } from '../compute/models/lm/params.ts'
import { lmStepFn } from '../compute/models/lm/train-step.ts'
import { loraSpecs } from '../compute/models/lora.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { StepRunner, type StepGraph } from '../compute/models/step-runner.ts'
import { decodeModel } from '../compute/models/artifacts.ts'
import { buildClassifierGraph } from '../compute/models/classifier/graphs.ts'
import { CLASSIFIER_LORA_TARGETS, classifierParamSpecs, type ClassifierConfig } from '../compute/models/classifier/config.ts'
import { classifierData, classifierStepFn } from '../compute/models/classifier/train-step.ts'
import type { ParamSpec } from '../compute/models/param-spec.ts'
import { readSpamAssassinMails } from '../storage/corpora/spam-assassin.ts'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { probeDevices } from '../compute/capacity/device-probe.ts'
import { parseDeviceChoice, type Device } from '../compute/onnx/devices.ts'
import { readPlacement, type Placement } from '../compute/onnx/placement.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_ADAMW } from '../compute/train/adamw.ts'
import { MemoryCheckpointStore } from '../compute/train/checkpoint-store.ts'
import { fingerprint } from '../compute/train/fingerprint.ts'
import { train, type TrainResult, type TrainTask } from '../compute/train/trainer.ts'
import { sotuTexts, trainBpe } from '../compute/tokenizer/index.ts'
import { numberFlag, parseFlags } from './lib/args.ts'
import { BenchUsageError, type BenchResult } from './lib/bench.ts'
import { round } from './lib/stats.ts'

export const name = 'determinism'
export const description = 'bitwise reproducibility of training at a fixed thread count, and the drift across thread counts'
export const flags = [
  '--steps N   LoRA steps per run (default 100)',
  '--threads A,B   the two thread counts (default 2,1)',
  '--devices D,...   also run on these devices (webgpu, cuda; or auto: every one the probe finds): two reruns each (bit identity) and the drift against the CPU over --device-steps, with the ops placed on the CPU and their share of kernel time',
  '--device-steps N   steps of the device runs and their CPU reference (default 10: lavapipe, the software Vulkan device, is slow)',
  '--device-job J   the job the devices run: lm (the LoRA job above, default) or classifier (a spam-base adapter on SpamAssassin mail, rank 8 on the embedding and both layers, batch 64)'
]

export async function run (args: string[]): Promise<BenchResult> {
  const f = parseFlags(args, { steps: 'string', threads: 'string', devices: 'string', 'device-steps': 'string', 'device-job': 'string' })
  const [ta, tb] = ((f.threads as string | undefined) ?? '2,1').split(',').map(Number)
  const deviceSteps = numberFlag(f, 'device-steps', 10, { min: 1 })
  let devices: Device[] = []
  if (typeof f.devices === 'string') {
    const asked = f.devices.split(',').map(x => { try { return parseDeviceChoice(x.trim()) } catch (err) { throw new BenchUsageError((err as Error).message) } })
    const probed = await probeDevices(asked.includes('auto') ? ['webgpu', 'cuda'] : asked.filter((x): x is Device => x !== 'auto' && x !== 'cpu'), { threads: ta })
    for (const p of probed) if (!p.available) process.stderr.write(`determinism: ${p.device} unavailable: ${p.error} (${p.hint})\n`)
    devices = probed.filter(p => p.available).map(p => p.device)
    if (devices.length === 0 && !asked.includes('auto')) throw new BenchUsageError('none of --devices is available here')
  }
  const steps = numberFlag(f, 'steps', 100, { min: 1 })
  const texts = sotuTexts({ years: [1990, 2021] }).map(t => t.text)
  const tokenizer = trainBpe(texts, { vocabSize: 2048 })
  const cfg: LmConfig = { vocab: tokenizer.vocabSize, dModel: 128, layers: 4, heads: 4, ffn: 512, context: 128 }
  const base = initParams(lmParamSpecs(cfg), 1)
  const lora = { rank: 8, alpha: 16, targets: defaultLoraTargets(cfg) }
  const specs = loraSpecs(lmParamSpecs(cfg), lora)
  const windows = windowsOf(texts.map(t => tokenizer.encode(t)), { seq: 64, eot: tokenizer.eot, pad: tokenizer.pad })
  const lmJob: BenchJob = {
    graph: buildLmStepGraph({ cfg, batch: 8, seq: 64, mode: { kind: 'lora', base, lora }, train: true }),
    specs,
    examples: windows.count,
    batch: 8,
    step: (runner) => lmStepFn(runner, windows, 8)
  }
  const deviceJob = f['device-job'] === 'classifier' ? await classifierJob() : lmJob
  if (f['device-job'] !== undefined && f['device-job'] !== 'lm' && f['device-job'] !== 'classifier') throw new BenchUsageError('--device-job is lm or classifier')

  async function once (threads: number, optimize = true, device: Device = 'cpu', n = steps, profilePrefix?: string, job: BenchJob = lmJob): Promise<TrainResult & { store: MemoryCheckpointStore, ms: number }> {
    const runner = await StepRunner.create(job.graph, { threads, optimize, device, profilePrefix })
    const store = new MemoryCheckpointStore()
    const started = performance.now()
    try {
      const r = await train({
        job: fingerprint('determinism'), specs: job.specs, init: initParams(job.specs, 2), examples: job.examples, batch: job.batch, steps: n, seed: 3,
        schedule: { peak: 2e-3, warmup: 10, total: n, kind: 'cosine', floor: 0.1 }, adamw: DEFAULT_ADAMW,
        checkpointEvery: Math.max(1, Math.floor(n / 4)), step: job.step(runner), store
      })
      return { ...r, store, ms: performance.now() - started }
    } finally {
      await runner.release()
    }
  }

  const a1 = await once(ta)
  const a2 = await once(ta)
  const b = await once(tb)
  const c = await once(ta, false)
  const bitwise = a1.chain.every((x, i) => x.hash === a2.chain[i].hash) && a1.chain.length === a2.chain.length
  const drift = (other: TrainResult, ref: TrainResult = a1) => {
    let maxAbs = 0
    let maxRef = 0
    for (const [n, t] of ref.params) {
      const u = other.params.get(n)!.data
      for (let i = 0; i < t.data.length; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(t.data[i] - u[i]))
        maxRef = Math.max(maxRef, Math.abs(t.data[i]))
      }
    }
    const loss = ref.losses.map((l, i) => Math.abs(l - other.losses[i]) / Math.abs(l))
    return { param: maxAbs / maxRef, firstLoss: loss[0], worstLoss: Math.max(...loss), sameChain: other.chain.every((x, i) => x.hash === ref.chain[i].hash), every10: loss.filter((_, i) => i % 10 === 0).map(d => round(d, 12)) }
  }
  const threadsDrift = drift(b)
  const kernelDrift = drift(c)

  // Per device: two reruns (bit identity), the drift against a CPU run of as many steps,
  // and where ORT placed the ops (from its profile of the first rerun).
  const perDevice: Record<string, unknown> = {}
  const deviceFigures: Record<string, number> = {}
  if (devices.length > 0) {
    const cpuRef = await once(ta, true, 'cpu', deviceSteps, undefined, deviceJob)
    const profDir = await mkdtemp(join(tmpdir(), 'openledger-placement-'))
    try {
      for (const device of devices) {
        const d1 = await once(ta, true, device, deviceSteps, join(profDir, device), deviceJob)
        const placement: Placement = await readPlacement(join(profDir, device))
        const d2 = await once(ta, true, device, deviceSteps, undefined, deviceJob)
        const same = d1.chain.length === d2.chain.length && d1.chain.every((x, i) => x.hash === d2.chain[i].hash)
        const vsCpu = drift(d1, cpuRef)
        const rerun = drift(d2, d1)
        const cpuShare = Object.entries(placement).filter(([p]) => p.startsWith('CPU')).reduce((s, [, x]) => s + x.share, 0)
        perDevice[device] = { steps: deviceSteps, rerunBitwise: same, rerun, vsCpu, placement, msPerStep: d2.ms / deviceSteps, cpuMsPerStep: cpuRef.ms / deviceSteps }
        deviceFigures[`${device}.bitwiseRerun`] = same ? 1 : 0
        deviceFigures[`${device}.rerunParamDiffRelative`] = round(rerun.param, 9)
        deviceFigures[`${device}.rerunWorstLossDiffRelative`] = round(rerun.worstLoss, 9)
        deviceFigures[`${device}.vsCpuParamDiffRelative`] = round(vsCpu.param, 9)
        deviceFigures[`${device}.vsCpuWorstLossDiffRelative`] = round(vsCpu.worstLoss, 9)
        deviceFigures[`${device}.cpuFallbackShare`] = round(cpuShare, 6)
        deviceFigures[`${device}.msPerStep`] = round(d2.ms / deviceSteps, 1)
        deviceFigures[`${device}.cpuMsPerStep`] = round(cpuRef.ms / deviceSteps, 1)
      }
    } finally {
      await rm(profDir, { recursive: true, force: true })
    }
  }
  return {
    figures: {
      ...deviceFigures,
      bitwiseSameThreads: bitwise ? 1 : 0,
      bitwiseOtherThreads: threadsDrift.sameChain ? 1 : 0,
      otherThreadsParamDiffRelative: round(threadsDrift.param, 9),
      otherKernelsParamDiffRelative: round(kernelDrift.param, 9),
      otherKernelsFirstLossDiffRelative: round(kernelDrift.firstLoss, 12),
      otherKernelsWorstLossDiffRelative: round(kernelDrift.worstLoss, 9)
    },
    baseline: null,
    ratio: null,
    reps: 4,
    params: { steps, threads: `${ta},${tb}`, deviceJob: f['device-job'] ?? 'lm', model: `d${cfg.dModel} L${cfg.layers} V${cfg.vocab}`, batch: 8, seq: 64, rank: 8 },
    detail: { threadsDrift, kernelDrift, devices: perDevice },
    notes: [
      `runs 1 and 2: ${ta} threads (checkpoint hashes ${bitwise ? 'identical' : 'DIFFER'}); run 3: ${tb} threads; run 4: ${ta} threads with graph optimisations off (other kernels)`,
      'ParamDiffRelative: largest |adapter weight difference| after the last step, over the largest |weight|',
      'per device (--devices): two reruns on the device (bitwiseRerun), the drift against a CPU run of the same --device-steps, cpuFallbackShare: kernel time of the ops onnxruntime placed on the CPU over all kernel time (ops and shares in detail.devices.*.placement, from ORT\'s profile)'
    ]
  }
}

/** A LoRA job the bench trains: its step graph, adapter specs and step function. */
interface BenchJob {
  graph: StepGraph
  specs: ParamSpec[]
  examples: number
  batch: number
  step: (runner: StepRunner) => TrainTask['step']
}

/** The shipped spam-base with a rank-8 adapter on its embedding and both layers, on SpamAssassin mail. */
async function classifierJob (): Promise<BenchJob> {
  const model = decodeModel(new Uint8Array(await readFile(fileURLToPath(new URL('../peer/models/built/spam-base.safetensors', import.meta.url)))))
  const cfg = model.meta.config as ClassifierConfig
  const lora = { rank: 8, alpha: 16, targets: [...CLASSIFIER_LORA_TARGETS] }
  const mails = readSpamAssassinMails({ limit: 2000 })
  const data = classifierData({ texts: mails.map(m => m.text), labels: mails.map(m => (m.label === 'spam' ? 1 : 0)) }, cfg)
  return {
    graph: buildClassifierGraph({ cfg, batch: 64, mode: { kind: 'lora', base: model.params, lora }, train: true }),
    specs: loraSpecs(classifierParamSpecs(cfg), lora, new Set(['emb'])),
    examples: data.count,
    batch: 64,
    step: (runner) => classifierStepFn(runner, data, 64)
  }
}
