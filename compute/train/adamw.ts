// AdamW (Loshchilov & Hutter): Adam moments with bias correction and weight decay
// applied to the weights directly, not through the gradient. Plain loops over
// Float32Array in a fixed order, so the same gradients give the same bits every time:
// checkpoints must be replayable by a verifier.

import { ShapeMismatchError } from '../errors.ts'
import type { ParamSpec } from '../models/param-spec.ts'
import type { ParamSet } from '../tensors/param-set.ts'
import { tensor } from '../tensors/param-set.ts'

export interface AdamWConfig {
  beta1: number
  beta2: number
  eps: number
  weightDecay: number
  /** Clip the global gradient norm to this (0: no clipping). */
  clipNorm: number
}

export const DEFAULT_ADAMW: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, clipNorm: 1 }

export interface AdamWState {
  /** Updates applied so far. */
  t: number
  m: ParamSet
  v: ParamSet
}

export function initAdamW (specs: readonly ParamSpec[]): AdamWState {
  return {
    t: 0,
    m: new Map(specs.map(s => [s.name, tensor(s.shape)])),
    v: new Map(specs.map(s => [s.name, tensor(s.shape)]))
  }
}

/** The global L2 norm of all gradients (float64 accumulation, fixed order). */
export function gradNorm (grads: ParamSet): number {
  let sum = 0
  for (const g of grads.values()) for (let i = 0; i < g.data.length; i++) sum += g.data[i] * g.data[i]
  return Math.sqrt(sum)
}

/**
 * One update in place: params and state change, grads are read only. `lr` is this
 * step's learning rate (the schedule is the caller's). Returns the gradient norm
 * before clipping.
 */
export function adamwStep (specs: readonly ParamSpec[], params: ParamSet, grads: ParamSet, state: AdamWState, lr: number, cfg: AdamWConfig): number {
  const norm = gradNorm(grads)
  const clip = cfg.clipNorm > 0 && norm > cfg.clipNorm ? cfg.clipNorm / norm : 1
  state.t += 1
  const bc1 = 1 - cfg.beta1 ** state.t
  const bc2 = 1 - cfg.beta2 ** state.t
  for (const spec of specs) {
    const p = params.get(spec.name)
    const g = grads.get(spec.name)
    const m = state.m.get(spec.name)
    const v = state.v.get(spec.name)
    if (p === undefined || g === undefined || m === undefined || v === undefined || g.data.length !== p.data.length) {
      throw new ShapeMismatchError(`optimizer has no matching parameter, gradient and moments for ${spec.name}`, { name: spec.name })
    }
    const decay = spec.decay ? 1 - lr * cfg.weightDecay : 1
    const pd = p.data
    const gd = g.data
    const md = m.data
    const vd = v.data
    for (let i = 0; i < pd.length; i++) {
      const gi = gd[i] * clip
      md[i] = cfg.beta1 * md[i] + (1 - cfg.beta1) * gi
      vd[i] = cfg.beta2 * vd[i] + (1 - cfg.beta2) * gi * gi
      pd[i] = pd[i] * decay - lr * (md[i] / bc1) / (Math.sqrt(vd[i] / bc2) + cfg.eps)
    }
  }
  return norm
}
