// The decoder-only language model's shape. Small enough to pretrain on two CPU cores
// in minutes, big enough that a LoRA adapter visibly moves its perplexity.

import { GraphBuildError } from '../../errors.ts'

export interface LmConfig {
  vocab: number
  dModel: number
  layers: number
  heads: number
  ffn: number
  /** Longest sequence (positions) the model has embeddings for. */
  context: number
}

export const DEFAULT_LM_CONFIG: LmConfig = { vocab: 4096, dModel: 256, layers: 4, heads: 4, ffn: 1024, context: 128 }

export function checkLmConfig (cfg: LmConfig): void {
  for (const key of ['vocab', 'dModel', 'layers', 'heads', 'ffn', 'context'] as const) {
    const v = cfg[key]
    if (!Number.isInteger(v) || v < 1 || v > 1 << 20) throw new GraphBuildError(`LM config ${key} must be a positive integer`, { [key]: v })
  }
  if (cfg.dModel % cfg.heads !== 0) throw new GraphBuildError('dModel must be a multiple of heads', { dModel: cfg.dModel, heads: cfg.heads })
}

/** The projections LoRA adapters usually target: attention query and value of every layer. */
export function defaultLoraTargets (cfg: LmConfig): string[] {
  const out: string[] = []
  for (let l = 0; l < cfg.layers; l++) out.push(`l${l}.attn.wq`, `l${l}.attn.wv`)
  return out
}

/** Every projection of every block: attention q, k, v and output, and both MLP matrices. */
export function allLoraTargets (cfg: LmConfig): string[] {
  const out: string[] = []
  for (let l = 0; l < cfg.layers; l++) for (const w of ['attn.wq', 'attn.wk', 'attn.wv', 'attn.wo', 'mlp.up', 'mlp.down']) out.push(`l${l}.${w}`)
  return out
}
