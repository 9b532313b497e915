// The classifier's step graph: loss and gradients for training (the base, or an
// adapter with the base frozen), or logits and loss for evaluation and serving.

import { Graph, type FloatType } from '../../graph/graph.ts'
import { differentiate } from '../../graph/autodiff.ts'
import { matmulFlops } from '../../graph/flops.ts'
import { add, div, gatherElements, logSoftmax, mul, neg, reduceSum, relu, reshape, unsqueeze } from '../../graph/ops.ts'
import type { ParamSet } from '../../tensors/param-set.ts'
import { checkLoraConfig, embedding, linear, loraSpecs, type LoraBinding, type LoraConfig } from '../lora.ts'
import { bindParams, type ParamSpec } from '../param-spec.ts'
import { checkClassifierConfig, classifierParamSpecs, type ClassifierConfig } from './config.ts'

export type ClassifierMode = { kind: 'base' } | { kind: 'lora', base: ParamSet, lora: LoraConfig }

export interface ClassifierGraph {
  model: Uint8Array
  trainable: ParamSpec[]
  /** Scalar mean cross-entropy over unmasked examples. */
  loss: string
  /** [B, classes]. */
  logits: string
  grads: Map<string, string>
  flops: number
}

/**
 * Inputs: `ids` int64 [B, K] and `weights` float [B, K] (from `featurize`), `labels`
 * int64 [B], `mask` float [B] (1 = this example counts; padding rows are 0).
 */
export function buildClassifierGraph (opts: { cfg: ClassifierConfig, batch: number, mode: ClassifierMode, train: boolean, float?: FloatType }): ClassifierGraph {
  const { cfg, batch, mode } = opts
  checkClassifierConfig(cfg)
  const g = new Graph(opts.float ?? 'float32')
  const baseSpecs = classifierParamSpecs(cfg)
  let trainable: ParamSpec[]
  let w: Map<string, string>
  let lora: LoraBinding | undefined
  if (mode.kind === 'base') {
    trainable = baseSpecs
    w = bindParams(g, baseSpecs, { trainable: new Set(baseSpecs.map(s => s.name)) })
  } else {
    checkLoraConfig(mode.lora)
    w = bindParams(g, baseSpecs, { trainable: new Set(), values: mode.base })
    trainable = loraSpecs(baseSpecs, mode.lora, new Set(['emb']))
    lora = { kind: 'shared', scale: mode.lora.alpha / mode.lora.rank, values: bindParams(g, trainable, { trainable: new Set(trainable.map(s => s.name)) }) }
  }
  const p = (name: string) => w.get(name) as string
  const ids = g.input('ids', [batch, cfg.maxFeatures], 'int64')
  const weights = g.input('weights', [batch, cfg.maxFeatures])
  const labels = g.input('labels', [batch], 'int64')
  const mask = g.input('mask', [batch])

  const bag = reduceSum(g, mul(g, embedding(g, ids, 'emb', p('emb'), lora), unsqueeze(g, weights, [2])), [1], false)
  const hidden = relu(g, add(g, linear(g, bag, 'w1', p('w1'), lora), p('b1')))
  const logits = add(g, linear(g, hidden, 'w2', p('w2'), lora), p('b2'))
  const picked = reshape(g, gatherElements(g, logSoftmax(g, logits, -1), unsqueeze(g, labels, [1]), 1), [batch])
  const loss = div(g, reduceSum(g, mul(g, neg(g, picked), mask), [], false), g.op('Max', [reduceSum(g, mask, [], false), g.scalar(1)]))
  const grads = opts.train ? differentiate(g, loss, trainable.map(s => s.name)) : new Map<string, string>()
  g.output(loss, logits, ...grads.values())
  return { model: g.toModel({ name: 'classifier_step' }), trainable: opts.train ? trainable : [], loss, logits, grads, flops: matmulFlops(g) }
}
