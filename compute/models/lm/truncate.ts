// A language model cut down to its first L' blocks, embeddings, final norm and (tied)
// head kept: the cheaper computation a dishonest inference worker would run instead of
// the real model (the "smaller model" adversary), with about L'/L of the per-token
// compute. It answers in the same vocabulary and shape, so only the tokens give it away.

import { GraphBuildError, ShapeMismatchError } from '../../errors.ts'
import type { ParamSet } from '../../tensors/param-set.ts'
import { loraA, loraB, type LoraConfig } from '../lora.ts'
import { checkLmConfig, type LmConfig } from './config.ts'
import { lmParamSpecs } from './params.ts'

/** Block l's parameters are named `l{l}.…` (params.ts); null for the rest, which every depth keeps. */
const blockOf = (name: string): number | null => {
  const m = /^l(\d+)\./.exec(name)
  return m === null ? null : Number(m[1])
}

/**
 * The first `layers` blocks of the model. The tensors are shared with `base`, not
 * copied (nothing here writes them).
 */
export function truncateLm (cfg: LmConfig, base: ParamSet, layers: number): { cfg: LmConfig, params: ParamSet } {
  checkLmConfig(cfg)
  if (!Number.isInteger(layers) || layers < 1 || layers > cfg.layers) throw new GraphBuildError('truncated depth must be in 1..layers', { layers, of: cfg.layers })
  const small: LmConfig = { ...cfg, layers }
  const params: ParamSet = new Map()
  // In the order lmParamSpecs gives, so the result encodes like any model of that depth.
  for (const spec of lmParamSpecs(small)) {
    const t = base.get(spec.name)
    if (t === undefined) throw new ShapeMismatchError('base model lacks a tensor its config implies', { name: spec.name })
    params.set(spec.name, t)
  }
  return { cfg: small, params }
}

/**
 * The adapter factors that still have a weight to act on in the truncated model; null
 * when every target was in a dropped block (the truncated model then runs without one).
 */
export function truncateAdapter (lora: LoraConfig, adapter: ParamSet, layers: number): { lora: LoraConfig, params: ParamSet } | null {
  const targets = lora.targets.filter(t => (blockOf(t) ?? 0) < layers)
  if (targets.length === 0) return null
  const params: ParamSet = new Map()
  for (const t of targets) {
    for (const name of [loraA(t), loraB(t)]) {
      const f = adapter.get(name)
      if (f === undefined) throw new ShapeMismatchError('adapter lacks a factor its config implies', { name })
      params.set(name, f)
    }
  }
  return { lora: { ...lora, targets }, params }
}
