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
  const inputs = classifierInputs(g, cfg, batch)
  const { logits, nll } = classifierForward(g, w, inputs, lora, lora)
  const { mask } = inputs
  const loss = div(g, reduceSum(g, mul(g, nll, mask), [], false), g.op('Max', [reduceSum(g, mask, [], false), g.scalar(1)]))
  const grads = opts.train ? differentiate(g, loss, trainable.map(s => s.name)) : new Map<string, string>()
  g.output(loss, logits, ...grads.values())
  return { model: g.toModel({ name: 'classifier_step' }), trainable: opts.train ? trainable : [], loss, logits, grads, flops: matmulFlops(g) }
}

export interface ClassifierInputs { ids: string, weights: string, labels: string, mask: string }

/** `ids` int64 [B, K], `weights` float [B, K], `labels` int64 [B], `mask` float [B]. */
export function classifierInputs (g: Graph, cfg: ClassifierConfig, batch: number): ClassifierInputs {
  return {
    ids: g.input('ids', [batch, cfg.maxFeatures], 'int64'),
    weights: g.input('weights', [batch, cfg.maxFeatures]),
    labels: g.input('labels', [batch], 'int64'),
    mask: g.input('mask', [batch])
  }
}

/**
 * The forward pass: logits [B, classes], each example's negative log-likelihood [B] and
 * its bag of embeddings [B, embed] (the only way a mail reaches the embedding table).
 * The embedding's adapter and the layers' adapters are bound separately, so a graph can
 * hold the embedding's shared while the layers' are banked per example (attribution).
 */
export function classifierForward (g: Graph, w: ReadonlyMap<string, string>, inp: ClassifierInputs, embLora?: LoraBinding, layerLora?: LoraBinding): { logits: string, nll: string, bag: string } {
  const p = (name: string) => w.get(name) as string
  const batch = g.shape(inp.labels)[0] as number
  const bag = reduceSum(g, mul(g, embedding(g, inp.ids, 'emb', p('emb'), embLora), unsqueeze(g, inp.weights, [2])), [1], false)
  const hidden = relu(g, add(g, linear(g, bag, 'w1', p('w1'), layerLora), p('b1')))
  const logits = add(g, linear(g, hidden, 'w2', p('w2'), layerLora), p('b2'))
  const picked = reshape(g, gatherElements(g, logSoftmax(g, logits, -1), unsqueeze(g, inp.labels, [1]), 1), [batch])
  return { logits, nll: neg(g, picked), bag }
}
