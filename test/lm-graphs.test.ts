import assert from 'node:assert/strict'
import { Tensor } from 'onnxruntime-node'
import { buildLmDecodeGraph, buildLmStepGraph, MASKED } from '../compute/models/lm/graphs.ts'
import { lmParamSpecs } from '../compute/models/lm/params.ts'
import type { LmConfig } from '../compute/models/lm/config.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { loraSpecs, mergeAdapter, type LoraConfig } from '../compute/models/lora.ts'
import { Session, type Feed } from '../compute/onnx/session.ts'
import { checkGraphGradients } from './helpers/grad-check.ts'
import { Rng } from '../compute/random.ts'
import type { ParamSet } from '../compute/tensors/param-set.ts'

const cfg: LmConfig = { vocab: 23, dModel: 8, layers: 2, heads: 2, ffn: 16, context: 8 }
const B = 2
const T = 5

function batch (seed: number): { tokens: BigInt64Array, targets: BigInt64Array, mask: Float32Array } {
  const rng = new Rng(seed)
  const seqs = Array.from({ length: B }, () => Array.from({ length: T + 1 }, () => rng.int(cfg.vocab)))
  return {
    tokens: BigInt64Array.from(seqs.flatMap(s => s.slice(0, T)), BigInt),
    targets: BigInt64Array.from(seqs.flatMap(s => s.slice(1)), BigInt),
    mask: Float32Array.from({ length: B * T }, (_, i) => (i === B * T - 1 ? 0 : 1))
  }
}

function feedsOf (b: ReturnType<typeof batch>, float: 'float32' | 'float64', params: ParamSet): Record<string, Feed> {
  const feeds: Record<string, Feed> = {
    tokens: { data: b.tokens, dims: [B, T] },
    targets: { data: b.targets, dims: [B, T] },
    mask: { data: float === 'float64' ? Float64Array.from(b.mask) : b.mask, dims: [B, T] }
  }
  for (const [name, t] of params) feeds[name] = { data: float === 'float64' ? Float64Array.from(t.data) : t.data, dims: t.shape }
  return feeds
}

describe('language model graphs', function () {
  this.timeout(60_000)
  const base = initParams(lmParamSpecs(cfg), 7)
  // Give LayerNorm scales and biases non-trivial values so their gradients are tested too.
  const rng = new Rng(3)
  for (const [name, t] of base) if (name.includes('ln')) for (let i = 0; i < t.data.length; i++) t.data[i] += (rng.uniform() - 0.5) * 0.5
  const lora: LoraConfig = { rank: 2, alpha: 4, targets: ['l0.attn.wq', 'l1.attn.wv', 'l1.mlp.up'] }

  it('pretraining gradients of every parameter match finite differences (float64)', async () => {
    const graph = buildLmStepGraph({ cfg, batch: B, seq: T, mode: { kind: 'base' }, train: true, float: 'float64' })
    const checked = await checkGraphGradients(graph, feedsOf(batch(1), 'float64', base), [...base.keys()])
    assert.ok(checked > 100)
  })

  it('LoRA gradients match finite differences with the base frozen (float64)', async () => {
    const adapter = initParams(loraSpecs(lmParamSpecs(cfg), lora), 9)
    for (const t of adapter.values()) for (let i = 0; i < t.data.length; i++) t.data[i] += (rng.uniform() - 0.5) * 0.2
    const graph = buildLmStepGraph({ cfg, batch: B, seq: T, mode: { kind: 'lora', base, lora }, train: true, float: 'float64' })
    assert.deepEqual(graph.trainable.map(s => s.name), [...adapter.keys()])
    await checkGraphGradients(graph, feedsOf(batch(2), 'float64', adapter), [...adapter.keys()])
  })

  it('a fresh adapter (B = 0) leaves the loss exactly as the base model gives it', async () => {
    const adapter = initParams(loraSpecs(lmParamSpecs(cfg), lora), 9)
    const b = batch(3)
    const withAdapter = await Session.create(buildLmStepGraph({ cfg, batch: B, seq: T, mode: { kind: 'lora', base, lora }, train: false }).model)
    const plain = buildLmStepGraph({ cfg, batch: B, seq: T, mode: { kind: 'base' }, train: false })
    const baseSession = await Session.create(plain.model)
    const l1 = (await withAdapter.run(feedsOf(b, 'float32', adapter)))
    const l2 = (await baseSession.run(feedsOf(b, 'float32', base)))
    assert.equal(Object.values(l1)[0].data[0], l2[plain.loss].data[0])
    await withAdapter.release()
    await baseSession.release()
  })

  it('KV-cached decoding gives the same next-token log-probabilities as the full pass', async () => {
    const b = batch(4)
    const evalGraph = buildLmStepGraph({ cfg, batch: B, seq: T, mode: { kind: 'base' }, train: false })
    const evalSession = await Session.create(evalGraph.model)
    const nll = (await evalSession.run(feedsOf(b, 'float32', base)))[evalGraph.nll].data as Float32Array
    const decode = buildLmDecodeGraph(cfg, base)
    const s = await Session.create(decode.model)
    const hd = cfg.dModel / cfg.heads
    let past: Tensor[] = []
    for (let l = 0; l < cfg.layers * 2; l++) past.push(new Tensor('float32', new Float32Array(0), [B, cfg.heads, 0, hd]))
    // Prefill the first 2 tokens in one call, then one token per call.
    let pos = 0
    for (const chunk of [2, 1, 1, 1]) {
      const tokens = new BigInt64Array(B * chunk)
      const positions = new BigInt64Array(B * chunk)
      for (let i = 0; i < B; i++) for (let t = 0; t < chunk; t++) {
        tokens[i * chunk + t] = b.tokens[i * T + pos + t]
        positions[i * chunk + t] = BigInt(pos + t)
      }
      const total = pos + chunk
      const bias = new Float32Array(B * chunk * total)
      for (let i = 0; i < B; i++) for (let t = 0; t < chunk; t++) for (let j = pos + t + 1; j < total; j++) bias[(i * chunk + t) * total + j] = MASKED
      const feeds: Record<string, Tensor> = {
        tokens: new Tensor('int64', tokens, [B, chunk]),
        positions: new Tensor('int64', positions, [B, chunk]),
        attn_bias: new Tensor('float32', bias, [B, 1, chunk, total])
      }
      for (let l = 0; l < cfg.layers; l++) {
        feeds[decode.pastKeys[l]] = past[2 * l]
        feeds[decode.pastValues[l]] = past[2 * l + 1]
      }
      const out = await s.run(feeds)
      past = []
      for (let l = 0; l < cfg.layers; l++) past.push(out[decode.presentKeys[l]], out[decode.presentValues[l]])
      pos += chunk
      const logits = out.logits.data as Float32Array
      assert.deepEqual(out.logits.dims, [B, 1, cfg.vocab])
      for (let i = 0; i < B; i++) {
        const row = logits.subarray(i * cfg.vocab, (i + 1) * cfg.vocab)
        const max = Math.max(...row)
        const lse = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0))
        const target = Number(b.targets[i * T + pos - 1])
        const expected = nll[i * T + pos - 1]
        if (i * T + pos - 1 === B * T - 1) continue // masked in the eval pass
        assert.ok(Math.abs((lse - row[target]) - expected) < 1e-4, `seq ${i} pos ${pos - 1}: ${lse - row[target]} vs ${expected}`)
      }
    }
    await s.release()
    await evalSession.release()
  })

  it('one banked decode call serves two different adapters, each as if merged', async () => {
    const specs = loraSpecs(lmParamSpecs(cfg), lora)
    const adapters = [initParams(specs, 11), initParams(specs, 12)]
    for (const a of adapters) for (const t of a.values()) for (let i = 0; i < t.data.length; i++) t.data[i] = (rng.uniform() - 0.5) * 0.6
    const banked = buildLmDecodeGraph(cfg, base, lora)
    const s = await Session.create(banked.model)
    const tokens = BigInt64Array.of(3n, 5n, 7n, 3n, 5n, 7n)
    const positions = BigInt64Array.of(0n, 1n, 2n, 0n, 1n, 2n)
    const bias = new Float32Array(2 * 9)
    for (let i = 0; i < 2; i++) for (let t = 0; t < 3; t++) for (let j = t + 1; j < 3; j++) bias[i * 9 + t * 3 + j] = MASKED
    const common = (n: number): Record<string, Tensor> => {
      const f: Record<string, Tensor> = {
        tokens: new Tensor('int64', tokens.slice(0, 3 * n), [n, 3]),
        positions: new Tensor('int64', positions.slice(0, 3 * n), [n, 3]),
        attn_bias: new Tensor('float32', bias.slice(0, 9 * n), [n, 1, 3, 3])
      }
      for (let l = 0; l < cfg.layers; l++) {
        f[`past_k${l}`] = new Tensor('float32', new Float32Array(0), [n, cfg.heads, 0, cfg.dModel / cfg.heads])
        f[`past_v${l}`] = new Tensor('float32', new Float32Array(0), [n, cfg.heads, 0, cfg.dModel / cfg.heads])
      }
      return f
    }
    const feeds = common(2)
    for (const spec of banked.bank) {
      const size = spec.shape.reduce((a, b) => a * b, 1)
      const data = new Float32Array(2 * size)
      data.set(adapters[0].get(spec.name)!.data, 0)
      data.set(adapters[1].get(spec.name)!.data, size)
      feeds[spec.name] = new Tensor('float32', data, [2, ...spec.shape])
    }
    feeds.adapter_index = new Tensor('int64', BigInt64Array.of(1n, 0n), [2])
    const mixed = (await s.run(feeds)).logits.data as Float32Array
    for (const [row, which] of [[0, 1], [1, 0]]) {
      const merged = new Map(base)
      for (const target of lora.targets) {
        const w = base.get(target)!
        merged.set(target, { shape: w.shape, data: mergeAdapter(w.data, w.shape[0], w.shape[1], adapters[which].get(`${target}.lora_a`)!.data, adapters[which].get(`${target}.lora_b`)!.data, lora.rank, lora.alpha / lora.rank) })
      }
      const ms = await Session.create(buildLmDecodeGraph(cfg, merged).model)
      const alone = (await ms.run(common(1))).logits.data as Float32Array
      for (let v = 0; v < cfg.vocab; v++) assert.ok(Math.abs(alone[v] - mixed[row * cfg.vocab + v]) < 1e-4, `row ${row} logit ${v}`)
      await ms.release()
    }
    await s.release()
  })
})
