// train: achieved GFLOP/s and tokens/s of one language-model training step at
// DEFAULT_LM_CONFIG, pretraining (mode base) and LoRA (rank 8, alpha 16, default
// targets, base frozen as constants), against ORT's best MatMul rate on this machine.
//
// Project op:  StepRunner.run of the step graph (forward + backward, loss + gradients)
//              on a random batch; FLOPs = matmulFlops of that graph (MatMul/Gemm only).
//              The AdamW update (compute/train/adamw.ts) follows each run, timed apart.
// Baseline op: runs of ONE session chaining 8 MatMuls of 1024x1024 (the graph of
//              compute/capacity/matmul-bench.ts), same thread count
// Repetitions go base, baseline, lora, baseline, ... after a warm-up; medians.
import os from 'node:os'
import { DEFAULT_LM_CONFIG } from '../compute/models/lm/config.ts'
import { SOTU_LM } from '../peer/models/recipes.ts'
import { lmParamSpecs } from '../compute/models/lm/params.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { numberFlag, parseFlags } from './lib/args.ts'
import { BenchUsageError, type BenchResult } from './lib/bench.ts'
import { fmt } from './lib/report.ts'
import { max, median, min, round } from './lib/stats.ts'
import { alternate } from './lib/timing.ts'
import { benchDevice, DEVICE_FLAG } from './lib/device.ts'
import { defaultLora, matmulChain, stepCase } from './train/setup.ts'

export const name = 'train'
export const description = 'GFLOP/s and tokens/s of an LM training step (pretraining and LoRA) vs ORT chained 1024^3 MatMul'
export const flags = [
  '--batch N     sequences per step (default 16)',
  '--seq N       tokens per sequence, <= context 128 (default 128)',
  '--reps N      timed repetitions of each case, >= 5 (default 11)',
  '--warmup N    untimed repetitions of each case first (default 2; at least 3 s in all)',
  '--threads N   ORT intra-op threads for every session (default: all cores)',
  '--model M     default (DEFAULT_LM_CONFIG, d256) or sotu-lm (the shipped base\'s shape, d128)',
  DEVICE_FLAG
]

const SEED = 1
const TARGET = 0.5
const MM_SIZE = 1024
const MM_CHAIN = 8
/** Warm-up lasts at least this long (ORT's arena and thread pool settle over a few runs). */
const WARMUP_MIN_MS = 3_000
/** Baseline session runs per timed rep (its figure is per run). */
const BASELINE_RUNS = 6

export async function run (args: string[]): Promise<BenchResult> {
  const f = parseFlags(args, { batch: 'string', seq: 'string', reps: 'string', warmup: 'string', threads: 'string', model: 'string', device: 'string' })
  const device = await benchDevice(f.device)
  const model = (f.model as string | undefined) ?? 'default'
  if (model !== 'default' && model !== 'sotu-lm') throw new BenchUsageError('--model must be default or sotu-lm')
  const cfg = model === 'default' ? DEFAULT_LM_CONFIG : { vocab: SOTU_LM.vocab, ...SOTU_LM.cfg }
  const batch = numberFlag(f, 'batch', 16, { min: 1 })
  const seq = numberFlag(f, 'seq', 128, { min: 1 })
  const reps = numberFlag(f, 'reps', 11, { min: 5 })
  const warmupReps = numberFlag(f, 'warmup', 2, { min: 1 })
  const threads = numberFlag(f, 'threads', os.availableParallelism(), { min: 1 })
  if (seq > cfg.context) throw new BenchUsageError(`--seq ${seq} exceeds the model context ${cfg.context}`)
  const log = (msg: string): void => { process.stderr.write(`train: ${msg}\n`) }

  const lora = defaultLora(cfg)
  const base = initParams(lmParamSpecs(cfg), SEED)
  log(`building step graphs (batch ${batch} x seq ${seq}, ${threads} threads)`)
  const pre = await stepCase({ cfg, batch, seq, kind: 'base', lora, base, seed: SEED, threads })
  const ft = await stepCase({ cfg, batch, seq, kind: 'lora', lora, base, seed: SEED, threads })
  const mm = await matmulChain(MM_SIZE, MM_CHAIN, threads, SEED)
  log(`pretraining step ${fmt(pre.flops / 1e9)} GFLOP, LoRA step ${fmt(ft.flops / 1e9)} GFLOP, baseline ${fmt(mm.flops / 1e9)} GFLOP per run`)

  const lastLoss = { base: NaN, lora: NaN }
  // Per rep, in run order (warm-up included; the timed reps are the last `reps`).
  const parts = { base: [] as Array<{ runMs: number, updateMs: number }>, lora: [] as Array<{ runMs: number, updateMs: number }> }
  const stepOf = (c: typeof pre, key: 'base' | 'lora') => async (ops: number) => {
    for (let i = 0; i < ops; i++) {
      const r = await c.step()
      lastLoss[key] = r.loss
      parts[key].push({ runMs: r.runMs, updateMs: r.updateMs })
    }
  }
  // Several runs per rep, so a baseline rep lasts about as long as a pretraining step:
  // a single ~40 ms run is at the mercy of the previous session's worker threads
  // still spinning on the cores, and short reps dodge other tenants' bursts more often
  // than long ones (either way the ratio would be skewed).
  const baselineRun = async (ops: number): Promise<void> => {
    for (let i = 0; i < ops * BASELINE_RUNS; i++) await mm.session.run(mm.feeds)
  }
  try {
    const t = await alternate({
      base: { run: stepOf(pre, 'base') },
      baselineA: { run: baselineRun },
      lora: { run: stepOf(ft, 'lora') },
      baselineB: { run: baselineRun }
    }, {
      ops: 1,
      reps,
      warmupReps,
      warmupMinMs: WARMUP_MIN_MS,
      onRep: (c, r, rate) => {
        const p = c === 'base' || c === 'lora' ? parts[c][parts[c].length - 1] : undefined
        log(`rep ${r + 1} ${c.padEnd(9)} ${p !== undefined ? `${fmt(1000 / rate)} ms (StepRunner.run ${fmt(p.runMs)} ms + AdamW ${fmt(p.updateMs)} ms)` : `${fmt(1000 / rate / BASELINE_RUNS)} ms per run`}`)
      }
    })
    if (!Number.isFinite(lastLoss.base) || !Number.isFinite(lastLoss.lora)) throw new Error(`non-finite loss: ${JSON.stringify(lastLoss)}`)

    const msOf = (rates: number[]) => rates.map(r => 1000 / r)
    const mmMsOf = (rates: number[]) => rates.map(r => 1000 / r / BASELINE_RUNS)
    const timed = (key: 'base' | 'lora') => parts[key].slice(-reps)
    const baseRun = timed('base').map(p => p.runMs)
    const loraRun = timed('lora').map(p => p.runMs)
    const baseUpd = timed('base').map(p => p.updateMs)
    const loraUpd = timed('lora').map(p => p.updateMs)
    const baseAll = timed('base').map(p => p.runMs + p.updateMs)
    const loraAll = timed('lora').map(p => p.runMs + p.updateMs)
    // Rep i of baselineA ran right after base rep i, baselineB right after lora rep i.
    const mmA = mmMsOf(t.baselineA.opsPerSec)
    const mmB = mmMsOf(t.baselineB.opsPerSec)
    const mmMs = [...mmA, ...mmB]
    const gflops = (flops: number, ms: number) => flops / (ms * 1e6)
    const baseG = gflops(pre.flops, median(baseRun))
    const loraG = gflops(ft.flops, median(loraRun))
    const mmG = gflops(mm.flops, median(mmMs))
    const ratio = baseG / mmG
    const loraRatio = loraG / mmG
    const pairs = (ms: number[], flops: number, against: number[]) => ms.map((m, i) => gflops(flops, m) / gflops(mm.flops, against[i]))
    const basePairs = pairs(baseRun, pre.flops, mmA)
    const loraPairs = pairs(loraRun, ft.flops, mmB)
    const r4 = (xs: number[]) => xs.map(x => round(x))

    return {
      figures: {
        pretrainGflops: round(baseG),
        pretrainTokensPerSec: round(pre.tokens / (median(baseRun) / 1000)),
        pretrainMsPerStep: round(median(baseRun)),
        pretrainAdamWMs: round(median(baseUpd)),
        pretrainGflopsWithUpdate: round(gflops(pre.flops, median(baseAll))),
        pretrainTokensPerSecWithUpdate: round(pre.tokens / (median(baseAll) / 1000)),
        loraGflops: round(loraG),
        loraTokensPerSec: round(ft.tokens / (median(loraRun) / 1000)),
        loraMsPerStep: round(median(loraRun)),
        loraAdamWMs: round(median(loraUpd)),
        loraGflopsWithUpdate: round(gflops(ft.flops, median(loraAll))),
        loraTokensPerSecWithUpdate: round(ft.tokens / (median(loraAll) / 1000)),
        loraRatio: round(loraRatio)
      },
      baseline: { pretrainGflops: round(mmG), pretrainGflopsWithUpdate: round(mmG), loraGflops: round(mmG), loraGflopsWithUpdate: round(mmG) },
      ratio: round(ratio),
      reps,
      units: {
        pretrainGflops: 'GFLOP/s', pretrainTokensPerSec: 'tokens/s', pretrainMsPerStep: 'ms (StepRunner.run)', pretrainAdamWMs: 'ms (adamwStep)',
        pretrainGflopsWithUpdate: 'GFLOP/s', pretrainTokensPerSecWithUpdate: 'tokens/s',
        loraGflops: 'GFLOP/s', loraTokensPerSec: 'tokens/s', loraMsPerStep: 'ms (StepRunner.run)', loraAdamWMs: 'ms (adamwStep)',
        loraGflopsWithUpdate: 'GFLOP/s', loraTokensPerSecWithUpdate: 'tokens/s', loraRatio: 'x MatMul rate'
      },
      params: {
        config: Object.entries(cfg).map(([k, v]) => `${k}:${v}`).join(','),
        batch, seq, tokensPerStep: pre.tokens, threads, device, reps, warmupReps, warmupMinMs: WARMUP_MIN_MS, seed: SEED,
        lora: `rank ${lora.rank} alpha ${lora.alpha} targets ${lora.targets.length}`,
        baseline: `${MM_CHAIN} x MatMul ${MM_SIZE}^3 in one session, ${BASELINE_RUNS} runs per rep`
      },
      detail: {
        target: { ratio: TARGET, pretrain: ratio >= TARGET ? 'pass' : 'miss', lora: loraRatio >= TARGET ? 'pass' : 'miss' },
        ratioWithUpdate: { pretrain: round(gflops(pre.flops, median(baseAll)) / mmG), lora: round(gflops(ft.flops, median(loraAll)) / mmG) },
        flopsPerStep: { pretrain: pre.flops, lora: ft.flops, baselineRun: mm.flops },
        trainableParams: { pretrain: pre.trainable, lora: ft.trainable },
        baselineMsPerRun: round(median(mmMs)),
        pairRatios: {
          pretrain: { median: round(median(basePairs)), range: [round(min(basePairs)), round(max(basePairs))] },
          lora: { median: round(median(loraPairs)), range: [round(min(loraPairs)), round(max(loraPairs))] }
        },
        perRepMs: { pretrainRun: r4(baseRun), pretrainAdamW: r4(baseUpd), loraRun: r4(loraRun), loraAdamW: r4(loraUpd), baseline: r4(mmMs) },
        setupMs: {
          pretrain: { graph: round(pre.buildMs), session: round(pre.sessionMs), modelBytes: pre.modelBytes },
          lora: { graph: round(ft.buildMs), session: round(ft.sessionMs), modelBytes: ft.modelBytes }
        },
        lastLoss: { pretrain: round(lastLoss.base), lora: round(lastLoss.lora) }
      },
      notes: [
        'headline ratio = pretraining step (mode base) GFLOP/s / baseline GFLOP/s; the LoRA step\'s ratio is the figure loraRatio',
        'FLOPs = matmulFlops of the step graph: MatMul/Gemm of forward and backward (elementwise, softmax, layernorm not counted); the headline time = median wall time of one StepRunner.run (feeds, ORT run, gradient tensors)',
        'the parameter update is timed separately: adamwStep of compute/train/adamw.ts (DEFAULT_ADAMW, clipping on) right after each run, on the run\'s gradients; *WithUpdate figures divide the same FLOPs by run + update',
        `baseline = one ORT session chaining 8 MatMuls of 1024x1024 (buildMatmulChainModel), same threads, ${BASELINE_RUNS} runs per rep; its reps interleave with the project\'s (base, baseline, lora, baseline)`,
        `target: ratio >= ${TARGET}: pretraining ${ratio >= TARGET ? 'PASS' : 'MISS'} (${fmt(ratio)}), LoRA ${loraRatio >= TARGET ? 'PASS' : 'MISS'} (${fmt(loraRatio)})`
      ]
    }
  } finally {
    await pre.runner.release()
    await ft.runner.release()
    await mm.session.release()
  }
}
