// LoRA: a frozen weight W [in, out] plus a low-rank update (alpha / r) * A [in, r] B [r, out].
// Adapter factors are graph inputs, so one session serves any adapter. In "banked" form
// the graph takes a bank of adapters [N, in, r] / [N, r, out] and one index per example:
// each example gathers its own factors (Punica / S-LoRA's batched gather), so one ORT
// call serves requests for different adapters, and a bank of B copies indexed 0..B-1
// yields per-example gradients for attribution.

import { GraphBuildError } from '../errors.ts'
import type { Graph } from '../graph/graph.ts'
import { add, gather, matmul, scale, squeeze, unsqueeze } from '../graph/ops.ts'
import type { ParamSpec } from './param-spec.ts'

export interface LoraConfig {
  rank: number
  alpha: number
  /** Names of the base weights that get an adapter, e.g. 'l0.attn.wq'. */
  targets: readonly string[]
}

export const loraA = (target: string): string => `${target}.lora_a`
export const loraB = (target: string): string => `${target}.lora_b`

/**
 * The adapter's parameters for the chosen base weights: A starts random and B at zero,
 * so a fresh adapter leaves the base model's outputs unchanged. For a Gather-ed
 * embedding table the roles swap (A zero, B random), as in PEFT.
 */
export function loraSpecs (base: readonly ParamSpec[], cfg: LoraConfig, embeddings: ReadonlySet<string> = new Set()): ParamSpec[] {
  checkLoraConfig(cfg)
  const specs: ParamSpec[] = []
  for (const target of cfg.targets) {
    const w = base.find(s => s.name === target)
    if (w === undefined || w.shape.length !== 2) throw new GraphBuildError(`LoRA target ${target} is not a 2-D weight of this model`, { target })
    const [rows, cols] = w.shape
    const emb = embeddings.has(target)
    specs.push({ name: loraA(target), shape: [rows, cfg.rank], init: emb ? { kind: 'zeros' } : { kind: 'normal', std: 1 / Math.sqrt(rows) }, decay: true })
    specs.push({ name: loraB(target), shape: [cfg.rank, cols], init: emb ? { kind: 'normal', std: 1 / Math.sqrt(cfg.rank) } : { kind: 'zeros' }, decay: true })
  }
  return specs
}

export function checkLoraConfig (cfg: LoraConfig): void {
  if (!Number.isInteger(cfg.rank) || cfg.rank < 1 || cfg.rank > 256) throw new GraphBuildError('LoRA rank must be an integer in 1..256', { rank: cfg.rank })
  if (!Number.isFinite(cfg.alpha) || cfg.alpha <= 0) throw new GraphBuildError('LoRA alpha must be positive', { alpha: cfg.alpha })
  if (new Set(cfg.targets).size !== cfg.targets.length || cfg.targets.length === 0) throw new GraphBuildError('LoRA targets must be distinct and non-empty', { targets: cfg.targets })
}

/** How adapter factors reach a graph. */
export type LoraBinding =
  | { kind: 'shared', scale: number, values: Map<string, string> }
  /**
   * Per-example factors: `values` are [N, ...] banks. With `index` (int64 [B]) each
   * example gathers its row; without, the banks are already per example (N = B), as
   * when a server gathers each request's adapter once per batch.
   */
  | { kind: 'banked', scale: number, values: Map<string, string>, index?: string }

/** x @ W (+ the adapter's update when W is a target). x is [..., in]; banked x is [B, ..., in]. */
export function linear (g: Graph, x: string, weightName: string, weight: string, lora?: LoraBinding): string {
  const base = matmul(g, x, weight)
  const a = lora?.values.get(loraA(weightName))
  const b = lora?.values.get(loraB(weightName))
  if (lora === undefined || a === undefined || b === undefined) return base
  if (lora.kind === 'shared') return add(g, base, scale(g, matmul(g, matmul(g, x, a), b), lora.scale))
  // Banked: [B, T, in] @ [B, in, r] @ [B, r, out]; a 2-D x [B, in] goes through as [B, 1, in].
  const flat = g.shape(x).length === 2
  const x3 = flat ? unsqueeze(g, x, [1]) : x
  const pick = (bank: string) => lora.index === undefined ? bank : gather(g, bank, lora.index)
  let update = matmul(g, matmul(g, x3, pick(a)), pick(b))
  if (flat) update = squeeze(g, update, [1])
  return add(g, base, scale(g, update, lora.scale))
}

/** Embedding lookup with an adapter: table[ids] + scale * A[ids] @ B. */
export function embedding (g: Graph, ids: string, tableName: string, table: string, lora?: LoraBinding): string {
  const base = gather(g, table, ids)
  const a = lora?.values.get(loraA(tableName))
  const b = lora?.values.get(loraB(tableName))
  if (lora === undefined || a === undefined || b === undefined) return base
  if (lora.kind === 'shared') return add(g, base, scale(g, matmul(g, gather(g, a, ids), b), lora.scale))
  throw new GraphBuildError('banked LoRA on an embedding table is not supported', { table: tableName })
}

/** Bank inputs for an adapter's specs: [N, ...shape] each. */
export function bindBank (g: Graph, specs: readonly ParamSpec[], bankSize: number | string): Map<string, string> {
  return new Map(specs.map(s => [s.name, g.input(s.name, [bankSize, ...s.shape])]))
}

/** W + scale * A B: the merged weight a single-adapter deployment would use. */
export function mergeAdapter (w: Float32Array, rows: number, cols: number, a: Float32Array, b: Float32Array, rank: number, s: number): Float32Array {
  const out = Float32Array.from(w)
  for (let i = 0; i < rows; i++) {
    for (let k = 0; k < rank; k++) {
      const aik = a[i * rank + k] * s
      if (aik === 0) continue
      const row = i * cols
      const brow = k * cols
      for (let j = 0; j < cols; j++) out[row + j] += aik * b[brow + j]
    }
  }
  return out
}
