// What the train bench times, built once before the timing loop: the LM step graphs
// (pretraining and LoRA) with their runners, random batches of the right shape, and
// the baseline session (ORT's best MatMul rate: one chain of 1024^3 MatMuls).

import { buildMatmulChainModel } from '../../compute/capacity/matmul-bench.ts'
import { defaultLoraTargets, type LmConfig } from '../../compute/models/lm/config.ts'
import { buildLmStepGraph } from '../../compute/models/lm/graphs.ts'
import { lmParamSpecs } from '../../compute/models/lm/params.ts'
import { loraSpecs, type LoraConfig } from '../../compute/models/lora.ts'
import { initParams } from '../../compute/models/param-spec.ts'
import { StepRunner } from '../../compute/models/step-runner.ts'
import { Session, type Feed } from '../../compute/onnx/session.ts'
import { Rng } from '../../compute/random.ts'
import { cloneParams, type ParamSet } from '../../compute/tensors/param-set.ts'
import { adamwStep, DEFAULT_ADAMW, initAdamW, type AdamWState } from '../../compute/train/adamw.ts'

export interface StepCase {
  kind: 'base' | 'lora'
  runner: StepRunner
  params: ParamSet
  batch: Record<string, Feed>
  /** MatMul/Gemm FLOPs of one run (forward + backward), from matmulFlops of the step graph. */
  flops: number
  tokens: number
  /** Trainable parameter count (what an optimiser would update). */
  trainable: number
  buildMs: number
  sessionMs: number
  modelBytes: number
  /** One training step timed in two parts: StepRunner.run, then the AdamW update. */
  step: () => Promise<{ loss: number, runMs: number, updateMs: number }>
}

/** A plausible peak learning rate; the value does not change the update's cost. */
const LR = 1e-3

/** Token ids uniform in the vocabulary; every target counts. */
export function randomLmBatch (cfg: LmConfig, batch: number, seq: number, seed: number): Record<string, Feed> {
  const rng = new Rng(seed)
  const tokens = BigInt64Array.from({ length: batch * seq }, () => BigInt(rng.int(cfg.vocab)))
  const targets = BigInt64Array.from({ length: batch * seq }, () => BigInt(rng.int(cfg.vocab)))
  return {
    tokens: { data: tokens, dims: [batch, seq] },
    targets: { data: targets, dims: [batch, seq] },
    mask: { data: new Float32Array(batch * seq).fill(1), dims: [batch, seq] }
  }
}

export async function stepCase (opts: { cfg: LmConfig, batch: number, seq: number, kind: 'base' | 'lora', lora: LoraConfig, base: ParamSet, seed: number, threads: number }): Promise<StepCase> {
  const { cfg, batch, seq, kind } = opts
  const t0 = performance.now()
  const graph = buildLmStepGraph({ cfg, batch, seq, train: true, mode: kind === 'base' ? { kind: 'base' } : { kind: 'lora', base: opts.base, lora: opts.lora } })
  const t1 = performance.now()
  const runner = await StepRunner.create(graph, { threads: opts.threads })
  const t2 = performance.now()
  // Updated in place by the optimiser: the pretraining case gets its own copy of the base.
  const params = kind === 'base' ? cloneParams(opts.base) : initParams(loraSpecs(lmParamSpecs(cfg), opts.lora), opts.seed + 1)
  let trainable = 0
  for (const s of graph.trainable) trainable += s.shape.reduce((a, b) => a * b, 1)
  const feeds = randomLmBatch(cfg, batch, seq, opts.seed + 2)
  const tokens = batch * seq
  // The trainer's optimiser (compute/train/adamw.ts), as Trainer calls it after each step.
  const optimizer: AdamWState = initAdamW(graph.trainable)
  const step = async () => {
    const a = performance.now()
    const r = await runner.run(params, feeds, tokens)
    const b = performance.now()
    adamwStep(graph.trainable, params, r.grads, optimizer, LR, DEFAULT_ADAMW)
    return { loss: r.loss, runMs: b - a, updateMs: performance.now() - b }
  }
  return {
    kind, runner, params, batch: feeds, flops: graph.flops, tokens, trainable,
    buildMs: t1 - t0, sessionMs: t2 - t1, modelBytes: graph.model.byteLength, step
  }
}

export const defaultLora = (cfg: LmConfig): LoraConfig => ({ rank: 8, alpha: 16, targets: defaultLoraTargets(cfg) })

export interface MatmulChain {
  session: Session
  feeds: Record<string, Feed>
  flops: number
  size: number
  chain: number
}

export async function matmulChain (size: number, chain: number, threads: number, seed: number): Promise<MatmulChain> {
  const session = await Session.create(buildMatmulChainModel(size, chain), { threads })
  // Same scale as the chain's own weights (variance 1/size): no overflow, no denormals.
  const rng = new Rng(seed)
  const bound = Math.sqrt(3 / size)
  const x0 = Float32Array.from({ length: size * size }, () => (rng.uniform() * 2 - 1) * bound)
  return { session, feeds: { x0: { data: x0, dims: [size, size] } }, flops: chain * 2 * size ** 3, size, chain }
}
