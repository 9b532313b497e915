// The graphs the language model runs: a training step (loss and gradients, for
// pretraining the base or for a LoRA adapter), an evaluation pass (per-token negative
// log-likelihood), and a decoding step with a KV cache for generation.

import { Graph, type FloatType } from '../../graph/graph.ts'
import { differentiate } from '../../graph/autodiff.ts'
import { matmulFlops } from '../../graph/flops.ts'
import { div, gatherElements, logSoftmax, matmul, mul, neg, reduceSum, reshape } from '../../graph/ops.ts'
import { ShapeMismatchError } from '../../errors.ts'
import type { ParamSet } from '../../tensors/param-set.ts'
import { bindBank, checkLoraConfig, loraSpecs, type LoraBinding, type LoraConfig } from '../lora.ts'
import { bindParams, type ParamSpec } from '../param-spec.ts'
import { checkLmConfig, type LmConfig } from './config.ts'
import { lmForward, lmHead } from './forward.ts'
import { lmParamSpecs } from './params.ts'

/** Added to attention scores where a position may not look (after softmax: exactly 0). */
export const MASKED = -1e9

export type LmTrainMode =
  | { kind: 'base' }
  | { kind: 'lora', base: ParamSet, lora: LoraConfig }

export interface LmStepGraph {
  model: Uint8Array
  /** Parameters fed as inputs and differentiated (empty for evaluation graphs). */
  trainable: ParamSpec[]
  /** Scalar mean loss over unmasked tokens (training) — also in eval graphs. */
  loss: string
  /** [B, T] negative log-likelihood of each target token (0 where masked). */
  nll: string
  /** Parameter name -> gradient output name. */
  grads: Map<string, string>
  /** MatMul/Gemm FLOPs of one run. */
  flops: number
}

export interface LmStepOptions {
  cfg: LmConfig
  batch: number
  seq: number
  mode: LmTrainMode
  /** Build the backward pass (training) or not (evaluation). */
  train: boolean
  float?: FloatType
}

/**
 * Inputs: `tokens` and `targets` int64 [B, T], `mask` float [B, T] (1 = this target
 * counts). Base values, when frozen, are baked in as constants.
 */
export function buildLmStepGraph (opts: LmStepOptions): LmStepGraph {
  const { cfg, batch, seq, mode } = opts
  checkLmConfig(cfg)
  const g = new Graph(opts.float ?? 'float32')
  const baseSpecs = lmParamSpecs(cfg)
  let trainable: ParamSpec[]
  let weights: Map<string, string>
  let lora: LoraBinding | undefined
  if (mode.kind === 'base') {
    trainable = baseSpecs
    weights = bindParams(g, baseSpecs, { trainable: new Set(baseSpecs.map(s => s.name)) })
  } else {
    checkLoraConfig(mode.lora)
    weights = bindParams(g, baseSpecs, { trainable: new Set(), values: mode.base })
    trainable = loraSpecs(baseSpecs, mode.lora)
    lora = { kind: 'shared', scale: mode.lora.alpha / mode.lora.rank, values: bindParams(g, trainable, { trainable: new Set(trainable.map(s => s.name)) }) }
  }
  const { nll, mask } = lmWindowNll(g, cfg, weights, batch, seq, lora)
  const loss = div(g, reduceSum(g, nll, [], false), g.op('Max', [reduceSum(g, mask, [], false), g.scalar(1)]))
  const grads = opts.train ? differentiate(g, loss, trainable.map(s => s.name)) : new Map<string, string>()
  g.output(loss, nll, ...grads.values())
  return { model: g.toModel({ name: 'lm_step' }), trainable: opts.train ? trainable : [], loss, nll, grads, flops: matmulFlops(g) }
}

/**
 * Inputs `tokens`, `targets` (int64 [B, T]) and `mask` (float [B, T]); returns each
 * target token's negative log-likelihood [B, T], 0 where masked: the training loss,
 * the evaluation and the per-example gradients of attribution all start here.
 */
export function lmWindowNll (g: Graph, cfg: LmConfig, weights: ReadonlyMap<string, string>, batch: number, seq: number, lora?: LoraBinding): { nll: string, mask: string } {
  const tokens = g.input('tokens', [batch, seq], 'int64')
  const targets = g.input('targets', [batch, seq], 'int64')
  const mask = g.input('mask', [batch, seq])
  const positions = g.constant(BigInt64Array.from({ length: batch * seq }, (_, i) => BigInt(i % seq)), [batch, seq])
  const { hidden } = lmForward(g, cfg, weights, { tokens, positions, attnBias: causalBias(g, seq, 0), lora })
  const logits = lmHead(g, weights, reshape(g, hidden, [batch * seq, cfg.dModel]))
  const picked = gatherElements(g, logSoftmax(g, logits, -1), reshape(g, targets, [batch * seq, 1]), 1)
  return { nll: mul(g, neg(g, reshape(g, picked, [batch, seq])), mask), mask }
}

function transposed (data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols)
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j]
  return out
}

/** [T, P+T]: token t (at absolute position P+t) sees positions 0..P+t. */
export function causalBias (g: Graph, seq: number, past: number): string {
  const data = new Float32Array(seq * (past + seq))
  for (let t = 0; t < seq; t++) for (let j = past + t + 1; j < past + seq; j++) data[t * (past + seq) + j] = MASKED
  return g.constant(g.float === 'float64' ? Float64Array.from(data) : data, [seq, past + seq])
}

export interface LmDecodeGraph {
  model: Uint8Array
  /** Names of the per-layer cache inputs and outputs, in layer order. */
  pastKeys: string[]
  pastValues: string[]
  presentKeys: string[]
  presentValues: string[]
  /** The adapter factor inputs ([N, ...] banks), when built for adapters. */
  bank: ParamSpec[]
}

/**
 * One generation step over symbolic shapes: `tokens`/`positions` int64 [B, T],
 * `attn_bias` float [B, 1, T, P+T], `past_k{l}`/`past_v{l}` [B, H, P, hd]; outputs
 * `logits` [B, 1, V] for each sequence's last token and `present_k{l}`/`present_v{l}`.
 * With `adapters`, it also takes LoRA factors, so each sequence runs its own adapter in
 * the same call: banks [N, ...] and `adapter_index` int64 [B] (`indexed`), or factors
 * already gathered per sequence, [B, ...] (`perSequence`, what the server uses: it
 * gathers once per batch instead of on every generated token).
 */
export function buildLmDecodeGraph (cfg: LmConfig, base: ParamSet, adapters?: LoraConfig, layout: 'indexed' | 'perSequence' = 'indexed'): LmDecodeGraph {
  checkLmConfig(cfg)
  const g = new Graph('float32')
  const baseSpecs = lmParamSpecs(cfg)
  const weights = bindParams(g, baseSpecs, { trainable: new Set(), values: base })
  const hd = cfg.dModel / cfg.heads
  const tokens = g.input('tokens', ['batch', 'seq'], 'int64')
  const positions = g.input('positions', ['batch', 'seq'], 'int64')
  const attnBias = g.input('attn_bias', ['batch', 1, 'seq', 'total'])
  const pastKeys: string[] = []
  const pastValues: string[] = []
  for (let l = 0; l < cfg.layers; l++) {
    pastKeys.push(g.input(`past_k${l}`, ['batch', cfg.heads, 'past', hd]))
    pastValues.push(g.input(`past_v${l}`, ['batch', cfg.heads, 'past', hd]))
  }
  let lora: LoraBinding | undefined
  let bank: ParamSpec[] = []
  if (adapters !== undefined) {
    checkLoraConfig(adapters)
    bank = loraSpecs(baseSpecs, adapters)
    lora = layout === 'indexed'
      ? { kind: 'banked', scale: adapters.alpha / adapters.rank, values: bindBank(g, bank, 'adapters'), index: g.input('adapter_index', ['batch'], 'int64') }
      : { kind: 'banked', scale: adapters.alpha / adapters.rank, values: bindBank(g, bank, 'batch') }
  }
  const { hidden, present } = lmForward(g, cfg, weights, { tokens, positions, attnBias, past: { keys: pastKeys, values: pastValues }, lora })
  const last = g.op('Slice', [hidden, g.ints([-1]), g.ints([2 ** 31 - 1]), g.ints([1])])
  // The output projection reads the token table transposed; bake that in once rather
  // than transposing 4 MiB on every generated token.
  const table = base.get('tok_emb')
  if (table === undefined) throw new ShapeMismatchError('base model has no tok_emb')
  const tableT = g.constant(transposed(table.data, cfg.vocab, cfg.dModel), [cfg.dModel, cfg.vocab], { name: 'tok_emb_t' })
  const named = (x: string, name: string) => g.node('Identity', [x], {}, { outputs: [name] })[0]
  const logits = named(matmul(g, last, tableT), 'logits')
  const presentKeys = present.keys.map((k, l) => named(k, `present_k${l}`))
  const presentValues = present.values.map((v, l) => named(v, `present_v${l}`))
  g.output(logits, ...presentKeys, ...presentValues)
  return { model: g.toModel({ name: 'lm_decode' }), pastKeys, pastValues, presentKeys, presentValues, bank }
}
