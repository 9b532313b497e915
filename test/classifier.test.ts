import assert from 'node:assert/strict'
import { buildClassifierGraph } from '../compute/models/classifier/graphs.ts'
import { classifierParamSpecs, type ClassifierConfig } from '../compute/models/classifier/config.ts'
import { featurize } from '../compute/models/classifier/features.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { loraSpecs } from '../compute/models/lora.ts'
import type { Feed } from '../compute/onnx/session.ts'
import { Rng } from '../compute/random.ts'
import { checkGraphGradients } from './helpers/grad-check.ts'

const cfg: ClassifierConfig = { buckets: 31, maxFeatures: 6, maxChars: 1000, embed: 5, hidden: 4, classes: 3 }
const texts = ['win money now now', 'meeting at noon', 'cheap pills win win', 'the budget meeting notes']

function feeds (params: Map<string, { shape: readonly number[], data: Float32Array }>): Record<string, Feed> {
  const f = featurize(texts, cfg)
  const out: Record<string, Feed> = {
    ids: { data: f.ids, dims: [4, cfg.maxFeatures] },
    weights: { data: Float64Array.from(f.weights), dims: [4, cfg.maxFeatures] },
    labels: { data: BigInt64Array.of(0n, 1n, 2n, 1n), dims: [4] },
    mask: { data: Float64Array.of(1, 1, 1, 0), dims: [4] }
  }
  for (const [name, t] of params) out[name] = { data: Float64Array.from(t.data), dims: t.shape }
  return out
}

describe('text classifier', function () {
  this.timeout(30_000)

  it('hashes n-grams deterministically, most frequent first, weights summing to 1', () => {
    const a = featurize(['Win win WIN money', ''], cfg)
    const b = featurize(['Win win WIN money', ''], cfg)
    assert.deepEqual(a, b)
    const w = Array.from(a.weights.subarray(0, cfg.maxFeatures))
    assert.ok(Math.abs(w.reduce((x, y) => x + y, 0) - 1) < 1e-6)
    assert.ok(w[0] >= w[1], 'the repeated word comes first')
    assert.ok(Array.from(a.weights.subarray(cfg.maxFeatures)).every(x => x === 0), 'an empty text has no features')
  })

  it('base gradients match finite differences (float64)', async () => {
    const base = initParams(classifierParamSpecs(cfg), 1)
    const graph = buildClassifierGraph({ cfg, batch: 4, mode: { kind: 'base' }, train: true, float: 'float64' })
    assert.ok(await checkGraphGradients(graph, feeds(base), [...base.keys()]) > 20)
  })

  it('LoRA gradients (embedding table and both layers) match finite differences (float64)', async () => {
    const base = initParams(classifierParamSpecs(cfg), 1)
    const lora = { rank: 2, alpha: 2, targets: ['emb', 'w1', 'w2'] }
    const adapter = initParams(loraSpecs(classifierParamSpecs(cfg), lora, new Set(['emb'])), 2)
    const rng = new Rng(5)
    for (const t of adapter.values()) for (let i = 0; i < t.data.length; i++) t.data[i] += (rng.uniform() - 0.5) * 0.3
    const graph = buildClassifierGraph({ cfg, batch: 4, mode: { kind: 'lora', base, lora }, train: true, float: 'float64' })
    assert.ok(await checkGraphGradients(graph, feeds(adapter), [...adapter.keys()]) > 10)
  })
})
