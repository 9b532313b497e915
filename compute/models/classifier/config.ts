// The spam (or any labelled-text) classifier: hashed n-gram bag -> embedding bag ->
// one hidden ReLU layer -> class logits. LoRA adapters go on its matrices.

import { GraphBuildError } from '../../errors.ts'
import type { FeatureConfig } from './features.ts'
import type { ParamSpec } from '../param-spec.ts'

export interface ClassifierConfig extends FeatureConfig {
  embed: number
  hidden: number
  classes: number
}

export const DEFAULT_CLASSIFIER_CONFIG: ClassifierConfig = { buckets: 1 << 15, maxFeatures: 256, maxChars: 20_000, embed: 64, hidden: 64, classes: 2 }

export function checkClassifierConfig (cfg: ClassifierConfig): void {
  for (const key of ['buckets', 'maxFeatures', 'maxChars', 'embed', 'hidden', 'classes'] as const) {
    const v = cfg[key]
    if (!Number.isInteger(v) || v < 1 || v > 1 << 24) throw new GraphBuildError(`classifier config ${key} must be a positive integer`, { [key]: v })
  }
  if (cfg.classes < 2) throw new GraphBuildError('a classifier needs at least 2 classes', { classes: cfg.classes })
}

export function classifierParamSpecs (cfg: ClassifierConfig): ParamSpec[] {
  return [
    { name: 'emb', shape: [cfg.buckets, cfg.embed], init: { kind: 'normal', std: 0.1 }, decay: true },
    { name: 'w1', shape: [cfg.embed, cfg.hidden], init: { kind: 'normal', std: Math.sqrt(2 / cfg.embed) }, decay: true },
    { name: 'b1', shape: [cfg.hidden], init: { kind: 'zeros' }, decay: false },
    { name: 'w2', shape: [cfg.hidden, cfg.classes], init: { kind: 'normal', std: Math.sqrt(1 / cfg.hidden) }, decay: true },
    { name: 'b2', shape: [cfg.classes], init: { kind: 'zeros' }, decay: false }
  ]
}

/** Embedding table and both layers: the adapter can learn new words and new decisions. */
export const CLASSIFIER_LORA_TARGETS = ['emb', 'w1', 'w2'] as const
