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
import { StepRunner } from '../compute/models/step-runner.ts'
import { DEFAULT_ADAMW } from '../compute/train/adamw.ts'
import { MemoryCheckpointStore } from '../compute/train/checkpoint-store.ts'
import { fingerprint } from '../compute/train/fingerprint.ts'
import { train, type TrainResult } from '../compute/train/trainer.ts'
import { sotuTexts, trainBpe } from '../compute/tokenizer/index.ts'
import { numberFlag, parseFlags } from './lib/args.ts'
import type { BenchResult } from './lib/bench.ts'
import { round } from './lib/stats.ts'

export const name = 'determinism'
export const description = 'bitwise reproducibility of training at a fixed thread count, and the drift across thread counts'
export const flags = ['--steps N   LoRA steps per run (default 100)', '--threads A,B   the two thread counts (default 2,1)']

export async function run (args: string[]): Promise<BenchResult> {
  const f = parseFlags(args, { steps: 'string', threads: 'string' })
  const steps = numberFlag(f, 'steps', 100, { min: 1 })
  const [ta, tb] = ((f.threads as string | undefined) ?? '2,1').split(',').map(Number)
  const texts = sotuTexts({ years: [1990, 2021] }).map(t => t.text)
  const tokenizer = trainBpe(texts, { vocabSize: 2048 })
  const cfg: LmConfig = { vocab: tokenizer.vocabSize, dModel: 128, layers: 4, heads: 4, ffn: 512, context: 128 }
  const base = initParams(lmParamSpecs(cfg), 1)
  const lora = { rank: 8, alpha: 16, targets: defaultLoraTargets(cfg) }
  const specs = loraSpecs(lmParamSpecs(cfg), lora)
  const windows = windowsOf(texts.map(t => tokenizer.encode(t)), { seq: 64, eot: tokenizer.eot, pad: tokenizer.pad })
  const graph = buildLmStepGraph({ cfg, batch: 8, seq: 64, mode: { kind: 'lora', base, lora }, train: true })

  async function once (threads: number, optimize = true): Promise<TrainResult & { store: MemoryCheckpointStore }> {
    const runner = await StepRunner.create(graph, { threads, optimize })
    const store = new MemoryCheckpointStore()
    try {
      const r = await train({
        job: fingerprint('determinism'), specs, init: initParams(specs, 2), examples: windows.count, batch: 8, steps, seed: 3,
        schedule: { peak: 2e-3, warmup: 10, total: steps, kind: 'cosine', floor: 0.1 }, adamw: DEFAULT_ADAMW,
        checkpointEvery: Math.max(1, Math.floor(steps / 4)), step: lmStepFn(runner, windows, 8), store
      })
      return { ...r, store }
    } finally {
      await runner.release()
    }
  }

  const a1 = await once(ta)
  const a2 = await once(ta)
  const b = await once(tb)
  const c = await once(ta, false)
  const bitwise = a1.chain.every((x, i) => x.hash === a2.chain[i].hash) && a1.chain.length === a2.chain.length
  const drift = (other: TrainResult) => {
    let maxAbs = 0
    let maxRef = 0
    for (const [n, t] of a1.params) {
      const u = other.params.get(n)!.data
      for (let i = 0; i < t.data.length; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(t.data[i] - u[i]))
        maxRef = Math.max(maxRef, Math.abs(t.data[i]))
      }
    }
    const loss = a1.losses.map((l, i) => Math.abs(l - other.losses[i]) / Math.abs(l))
    return { param: maxAbs / maxRef, firstLoss: loss[0], worstLoss: Math.max(...loss), sameChain: other.chain.every((x, i) => x.hash === a1.chain[i].hash), every10: loss.filter((_, i) => i % 10 === 0).map(d => round(d, 12)) }
  }
  const threadsDrift = drift(b)
  const kernelDrift = drift(c)
  return {
    figures: {
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
    params: { steps, threads: `${ta},${tb}`, model: `d${cfg.dModel} L${cfg.layers} V${cfg.vocab}`, batch: 8, seq: 64, rank: 8 },
    detail: { threadsDrift, kernelDrift },
    notes: [
      `runs 1 and 2: ${ta} threads (checkpoint hashes ${bitwise ? 'identical' : 'DIFFER'}); run 3: ${tb} threads; run 4: ${ta} threads with graph optimisations off (other kernels)`,
      'ParamDiffRelative: largest |adapter weight difference| after the last step, over the largest |weight|'
    ]
  }
}
