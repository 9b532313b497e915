import assert from 'node:assert/strict'
import { buildClassifierExampleGrads, buildLmExampleGrads, ExampleGradients } from '../compute/attribution/example-grads.ts'
import { lmBatch, windowsOf } from '../compute/models/lm/data.ts'
import { buildLmStepGraph } from '../compute/models/lm/graphs.ts'
import { lmParamSpecs } from '../compute/models/lm/params.ts'
import { datainf, meanRow, sumByGroup, tracin } from '../compute/attribution/influence.ts'
import { CountSketch, cosine } from '../compute/attribution/sketch.ts'
import { buildClassifierGraph } from '../compute/models/classifier/graphs.ts'
import { classifierParamSpecs, type ClassifierConfig } from '../compute/models/classifier/config.ts'
import { classifierBatch, classifierData } from '../compute/models/classifier/train-step.ts'
import { loraSpecs } from '../compute/models/lora.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { StepRunner } from '../compute/models/step-runner.ts'
import { Rng } from '../compute/random.ts'
import { attributeClassifier, attributeLm } from '../compute/jobs/attribute.ts'
import { EmbeddingAdapterGrads } from '../compute/attribution/embedding-grads.ts'
import { influenceCg } from '../compute/attribution/influence-cg.ts'
import type { Model } from '../compute/models/artifacts.ts'
import { readSpamAssassinMails } from '../storage/corpora/spam-assassin.ts'

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)
const cfg: ClassifierConfig = { buckets: 512, maxFeatures: 32, maxChars: 3000, embed: 8, hidden: 6, classes: 2 }
const lora = { rank: 3, alpha: 6, targets: ['emb', 'w1', 'w2'] }

/** SpamAssassin's first `mails` mails, a random base, and an adapter with every factor non-zero. */
function tinyClassifierCase (mails: number, seed: number) {
  const m = readSpamAssassinMails({ limit: mails })
  const data = classifierData({ texts: m.map(x => x.text), labels: m.map(x => (x.label === 'spam' ? 1 : 0)) }, cfg)
  const base = initParams(classifierParamSpecs(cfg), 1)
  const adapter = initParams(loraSpecs(classifierParamSpecs(cfg), lora, new Set(['emb'])), 2)
  const rng = new Rng(seed)
  for (const t of adapter.values()) for (let i = 0; i < t.data.length; i++) t.data[i] += 0.3 * rng.normal()
  return { data, base, adapter, rng }
}

describe('per-example gradients and influence estimators', function () {
  this.timeout(60_000)

  it('each row of the banked gradient equals the gradient of that example alone', async () => {
    const mails = readSpamAssassinMails({ limit: 12 })
    const data = classifierData({ texts: mails.map(m => m.text), labels: mails.map(m => (m.label === 'spam' ? 1 : 0)) }, cfg)
    const base = initParams(classifierParamSpecs(cfg), 1)
    const adapter = initParams(loraSpecs(classifierParamSpecs(cfg), lora, new Set(['emb'])), 2)
    // B starts at zero; give every factor a value so no gradient is trivially zero.
    const rng = new Rng(3)
    for (const t of adapter.values()) for (let i = 0; i < t.data.length; i++) t.data[i] += 0.3 * rng.normal()
    const graph = buildClassifierExampleGrads(cfg, base, lora, 8)
    const eg = await ExampleGradients.create(graph, 1)
    const { grads } = await eg.classifier(adapter, data)
    await eg.release()
    const runner = await StepRunner.create(buildClassifierGraph({ cfg, batch: 1, mode: { kind: 'lora', base, lora }, train: true }), { threads: 1 })
    for (const k of [0, 5, 11]) {
      const r = await runner.run(adapter, classifierBatch(data, [k], 1), 1)
      let offset = 0
      for (const spec of graph.bank) {
        const alone = r.grads.get(spec.name)!.data
        for (let j = 0; j < alone.length; j++) {
          const banked = grads[k * graph.dims + offset + j]
          assert.ok(Math.abs(banked - alone[j]) <= 1e-5 + 1e-4 * Math.abs(alone[j]), `${spec.name}[${j}] of example ${k}: ${banked} vs ${alone[j]}`)
        }
        offset += alone.length
      }
      assert.equal(offset, graph.dims)
    }
    await runner.release()
  })

  it('the embedding adapter\'s per-example gradient, from dLoss/dbag, equals the step graph\'s for that example alone', async () => {
    const { data, base, adapter, rng } = tinyClassifierCase(12, 7)
    const graph = buildClassifierExampleGrads(cfg, base, lora, 8, { bagGrad: true })
    const eg = await ExampleGradients.create(graph, 1)
    const r = await eg.run(adapter, classifierBatch(data, range(8), 8), 8)
    await eg.release()
    assert.ok(r.bag !== undefined && r.bag.length === 8 * cfg.embed)
    const emb = new EmbeddingAdapterGrads({ a: adapter.get('emb.lora_a')!.data, b: adapter.get('emb.lora_b')!.data, rank: lora.rank, embed: cfg.embed, scale: lora.alpha / lora.rank })
    // A dense random direction over both factors: dot products check every coordinate at once.
    const v = emb.zero()
    for (let j = 0; j < v.a.length; j++) v.a[j] = rng.normal()
    for (let j = 0; j < v.b.length; j++) v.b[j] = rng.normal()
    const runner = await StepRunner.create(buildClassifierGraph({ cfg, batch: 1, mode: { kind: 'lora', base, lora }, train: true }), { threads: 1 })
    for (const k of [0, 3, 7]) {
      const alone = await runner.run(adapter, classifierBatch(data, [k], 1), 1)
      const ga = alone.grads.get('emb.lora_a')!.data
      const gb = alone.grads.get('emb.lora_b')!.data
      let expected = 0
      let expectedSq = 0
      for (let j = 0; j < ga.length; j++) { expected += ga[j] * v.a[j]; expectedSq += ga[j] * ga[j] }
      for (let j = 0; j < gb.length; j++) { expected += gb[j] * v.b[j]; expectedSq += gb[j] * gb[j] }
      const f = { ids: data.features.ids, weights: data.features.weights, offset: k * data.k, k: data.k }
      const got = emb.dot(v, r.bag, k * cfg.embed, f)
      assert.ok(Math.abs(got - expected) <= 1e-4 * (1 + Math.abs(expected)), `example ${k}: dot ${got} vs ${expected}`)
      const sq = emb.normSq(r.bag, k * cfg.embed, f)
      assert.ok(Math.abs(sq - expectedSq) <= 1e-4 * (1 + expectedSq), `example ${k}: |g|^2 ${sq} vs ${expectedSq}`)
      // accumulate is the same gradient: accumulating it into zero and dotting with v gives the dot again.
      const acc = emb.zero()
      emb.accumulate(acc, r.bag, k * cfg.embed, f, 1)
      let viaAcc = 0
      for (let j = 0; j < acc.a.length; j++) viaAcc += acc.a[j] * v.a[j]
      for (let j = 0; j < acc.b.length; j++) viaAcc += acc.b[j] * v.b[j]
      assert.ok(Math.abs(viaAcc - expected) <= 1e-4 * (1 + Math.abs(expected)), `example ${k}: accumulated ${viaAcc} vs ${expected}`)
    }
    await runner.release()
  })

  it('the influence function by conjugate gradients equals v^T (F + lambda I)^-1 g_k solved directly, embedding adapter included', async () => {
    const { data, base, adapter, rng } = tinyClassifierCase(10, 11)
    const n = 10
    const graph = buildClassifierExampleGrads(cfg, base, lora, n, { bagGrad: true })
    const eg = await ExampleGradients.create(graph, 1)
    const r = await eg.run(adapter, classifierBatch(data, range(n), n), n)
    await eg.release()
    const emb = new EmbeddingAdapterGrads({ a: adapter.get('emb.lora_a')!.data, b: adapter.get('emb.lora_b')!.data, rank: lora.rank, embed: cfg.embed, scale: lora.alpha / lora.rank })
    const features = (k: number) => ({ ids: data.features.ids, weights: data.features.weights, offset: k * data.k, k: data.k })
    const d = graph.dims
    const v = { dense: Float64Array.from({ length: d }, () => rng.normal()), emb: emb.zero() }
    for (let j = 0; j < v.emb.a.length; j++) v.emb.a[j] = rng.normal()
    for (let j = 0; j < v.emb.b.length; j++) v.emb.b[j] = rng.normal()
    const got = influenceCg({ n, d, dense: r.grads, emb: { grads: emb, bag: r.bag!, embed: cfg.embed, features } }, v, { damping: 0.1, iterations: 2000, tolerance: 1e-12 })
    // Brute force: every example's full gradient as one explicit vector, then (F + lambda I) x = v by Gaussian elimination.
    const full = range(n).map(k => { const e = emb.zero(); emb.accumulate(e, r.bag!, k * cfg.embed, features(k), 1); return Float64Array.from([...r.grads.subarray(k * d, (k + 1) * d), ...e.a, ...e.b]) })
    const vv = Float64Array.from([...v.dense, ...v.emb.a, ...v.emb.b])
    const D = vv.length
    // Only coordinates some example touches (others decouple: x = v / lambda there, and g_k is 0 on them).
    const live = range(D).filter(j => full.some(g => g[j] !== 0))
    const m = live.length
    const A = live.map(i => Float64Array.from(live, j => full.reduce((s, g) => s + g[i] * g[j], 0) / n + (i === j ? got.lambda : 0)))
    const b = Float64Array.from(live, j => vv[j])
    for (let c = 0; c < m; c++) {
      let piv = c
      for (let i = c + 1; i < m; i++) if (Math.abs(A[i][c]) > Math.abs(A[piv][c])) piv = i;
      [A[c], A[piv]] = [A[piv], A[c]];
      [b[c], b[piv]] = [b[piv], b[c]]
      for (let i = c + 1; i < m; i++) { const f = A[i][c] / A[c][c]; if (f === 0) continue; for (let j = c; j < m; j++) A[i][j] -= f * A[c][j]; b[i] -= f * b[c] }
    }
    const x = new Float64Array(m)
    for (let i = m - 1; i >= 0; i--) { let s = b[i]; for (let j = i + 1; j < m; j++) s -= A[i][j] * x[j]; x[i] = s / A[i][i] }
    for (let k = 0; k < n; k++) {
      const expected = live.reduce((s, j, i) => s + full[k][j] * x[i], 0)
      assert.ok(Math.abs(got.scores[k] - expected) <= 1e-6 * (1 + Math.abs(expected)), `example ${k}: ${got.scores[k]} vs ${expected}`)
    }
    assert.ok(got.residual < 1e-9, `residual ${got.residual}`)
  })

  it('the paid scores do not change when the measured variants are asked for', async () => {
    const mails = readSpamAssassinMails({ limit: 24 })
    const train = classifierData({ texts: mails.slice(0, 16).map(m => m.text), labels: mails.slice(0, 16).map(m => (m.label === 'spam' ? 1 : 0)) }, cfg)
    const validation = classifierData({ texts: mails.slice(16).map(m => m.text), labels: mails.slice(16).map(m => (m.label === 'spam' ? 1 : 0)) }, cfg)
    const specs = loraSpecs(classifierParamSpecs(cfg), lora, new Set(['emb']))
    const rng = new Rng(9)
    const point = (seed: number) => { const p = initParams(specs, seed); for (const t of p.values()) for (let i = 0; i < t.data.length; i++) t.data[i] += 0.2 * rng.normal(); return p }
    const model: Model = { meta: { kind: 'classifier', config: cfg }, params: initParams(classifierParamSpecs(cfg), 1) } as unknown as Model
    const job = { base: model, lora, initial: point(1), checkpoints: [{ step: 5, params: point(2), lrMass: 0.01 }, { step: 10, params: point(3), lrMass: 0.01 }], groups: range(16).map(i => `c${i % 4}`), train, validation, batch: 8, threads: 1 }
    const paid = await attributeClassifier(job)
    const measured = await attributeClassifier({ ...job, variants: true })
    assert.deepEqual(Object.keys(paid.variants), [])
    assert.deepEqual([...measured.tracin], [...paid.tracin])
    assert.deepEqual([...measured.datainf], [...paid.datainf])
    // Each breakdown sums back to the paid TracIn, example by example.
    for (const prefix of ['@checkpoint:', '@layer:w', '@val-class:']) {
      const parts = Object.entries(measured.variants).filter(([name]) => name.startsWith(prefix)).map(([, x]) => x)
      assert.ok(parts.length >= 2, prefix)
      for (let k = 0; k < 16; k++) {
        const sum = parts.reduce((s, x) => s + x[k], 0)
        assert.ok(Math.abs(sum - paid.tracin[k]) <= 1e-9 * (1 + Math.abs(paid.tracin[k])), `${prefix} example ${k}: ${sum} vs ${paid.tracin[k]}`)
      }
    }
    // The full adapter's TracIn is the paid one plus the embedding adapter's part.
    for (let k = 0; k < 16; k++) {
      const x = paid.tracin[k] + measured.variants['@layer:emb'][k]
      assert.ok(Math.abs(measured.variants['tracin-emb'][k] - x) <= 1e-9 * (1 + Math.abs(x)))
    }
  })

  it('each language-model window\'s banked gradient equals that window\'s own (its summed token loss)', async () => {
    const lmCfg = { vocab: 40, dModel: 8, layers: 1, heads: 2, ffn: 16, context: 8 }
    const lmLora = { rank: 2, alpha: 4, targets: ['l0.attn.wq', 'l0.attn.wv', 'l0.mlp.up'] }
    const base = initParams(lmParamSpecs(lmCfg), 4)
    const adapter = initParams(loraSpecs(lmParamSpecs(lmCfg), lmLora), 5)
    const rng = new Rng(6)
    for (const t of adapter.values()) for (let i = 0; i < t.data.length; i++) t.data[i] += 0.3 * rng.normal()
    const docs = [Int32Array.from({ length: 30 }, () => rng.int(38)), Int32Array.from({ length: 11 }, () => rng.int(38))]
    const windows = windowsOf(docs, { seq: 6, eot: 38, pad: 39 })
    const graph = buildLmExampleGrads(lmCfg, base, lmLora, 4, 6)
    const eg = await ExampleGradients.create(graph, 1)
    const rows: Float32Array[] = []
    await eg.lmWindows(adapter, windows, [0, 3, 6], (g, n) => { for (let r = 0; r < n; r++) rows.push(g.slice(r * graph.dims, (r + 1) * graph.dims)) })
    await eg.release()
    assert.equal(rows.length, 3)
    const runner = await StepRunner.create(buildLmStepGraph({ cfg: lmCfg, batch: 1, seq: 6, mode: { kind: 'lora', base, lora: lmLora }, train: true }), { threads: 1 })
    for (const [i, w] of [0, 3, 6].entries()) {
      const b = lmBatch(windows, [w], 1)
      const r = await runner.run(adapter, { tokens: { data: b.tokens, dims: [1, 6] }, targets: { data: b.targets, dims: [1, 6] }, mask: { data: b.mask, dims: [1, 6] } }, b.count)
      let offset = 0
      for (const spec of graph.bank) {
        const alone = r.grads.get(spec.name)!.data
        for (let j = 0; j < alone.length; j++) {
          const expected = alone[j] * b.count // the step graph averages over tokens
          assert.ok(Math.abs(rows[i][offset + j] - expected) <= 1e-5 + 1e-4 * Math.abs(expected), `${spec.name}[${j}] of window ${w}`)
        }
        offset += alone.length
      }
    }
    await runner.release()
  })

  it('language-model TracIn from the step graph\'s validation gradient equals the per-window computation', async () => {
    const lmCfg = { vocab: 40, dModel: 8, layers: 1, heads: 2, ffn: 16, context: 8 }
    const lmLora = { rank: 2, alpha: 4, targets: ['l0.attn.wq', 'l0.attn.wv'] }
    const params = initParams(lmParamSpecs(lmCfg), 7)
    const base = { meta: { format: 'openledger-model/1', kind: 'lm', name: 'tiny', config: lmCfg, tokenizer: {} }, params } as unknown as Model
    const rng = new Rng(8)
    const point = (seed: number) => {
      const a = initParams(loraSpecs(lmParamSpecs(lmCfg), lmLora), seed)
      for (const t of a.values()) for (let i = 0; i < t.data.length; i++) t.data[i] += 0.3 * rng.normal()
      return a
    }
    const doc = (n: number) => Int32Array.from({ length: n }, () => rng.int(38))
    const train = windowsOf([doc(40), doc(17)], { seq: 6, eot: 38, pad: 39 })
    // 45 validation windows: more than one wide batch, with a short, padded tail.
    const validation = windowsOf([doc(200), doc(61)], { seq: 6, eot: 38, pad: 39 })
    const initial = point(1)
    // Adam's second moments, different per coordinate: the preconditioned TracIn must
    // pair each banked coordinate with its own factor's moment.
    const moments = (t: number) => {
      const v = initParams(loraSpecs(lmParamSpecs(lmCfg), lmLora), 40 + t)
      for (const x of v.values()) for (let i = 0; i < x.data.length; i++) x.data[i] = 1e-4 * (1 + 10 * rng.uniform())
      return { t, v }
    }
    const checkpoints = [{ step: 5, params: point(2), lrMass: 0.3, adam: moments(5) }, { step: 10, params: point(3), lrMass: 0.2, adam: moments(10) }]
    const scores = await attributeLm({ base, lora: lmLora, initial, checkpoints, train, validation, groups: Array.from({ length: train.count }, (_, i) => String(i % 3)), batch: 4, threads: 1, variants: true })

    const graph = buildLmExampleGrads(lmCfg, params, lmLora, 4, 6)
    const eg = await ExampleGradients.create(graph, 1)
    const rows = async (adapter: typeof initial, w: typeof train) => {
      const out = new Float32Array(w.count * graph.dims)
      const losses = new Float64Array(w.count)
      await eg.lmWindows(adapter, w, Array.from({ length: w.count }, (_, i) => i), (g, n, start, l) => { out.set(g.subarray(0, n * graph.dims), start * graph.dims); for (let r = 0; r < n; r++) losses[start + r] = l[r] })
      return { out, losses }
    }
    const points = [{ params: initial, lrMass: 0 }, ...checkpoints]
    const expected = new Float64Array(train.count)
    const expectedAdam = new Float64Array(train.count)
    let valLoss = 0
    for (const [i, c] of points.entries()) {
      const weight = (points[i].lrMass + (points[i + 1]?.lrMass ?? 0)) / 2
      const val = await rows(c.params, validation)
      const v = meanRow(val.out, validation.count, graph.dims)
      valLoss = val.losses.reduce((a, b) => a + b, 0) / validation.count
      const g = (await rows(c.params, train)).out
      const t = tracin([{ lr: weight, train: g, val: v }], train.count, graph.dims)
      for (let k = 0; k < train.count; k++) expected[k] += t[k]
      // Preconditioned: the point's (or, at the start, the first checkpoint's) moments, by factor name.
      const adam = checkpoints[Math.max(0, i - 1)].adam
      const pre = Float64Array.from(graph.bank.flatMap(spec => Array.from(adam.v.get(spec.name)!.data, x => 1 / (Math.sqrt(x / (1 - 0.999 ** adam.t)) + 1e-8))))
      const ta = tracin([{ lr: weight, train: g, val: v.map((x, j) => x * pre[j]) }], train.count, graph.dims)
      for (let k = 0; k < train.count; k++) expectedAdam[k] += ta[k]
    }
    const adamScale = Math.max(...Array.from(expectedAdam, Math.abs))
    for (let k = 0; k < train.count; k++) assert.ok(Math.abs(scores.variants['tracin-adam'][k] - expectedAdam[k]) <= 1e-4 * adamScale, `window ${k} (adam): ${scores.variants['tracin-adam'][k]} vs ${expectedAdam[k]}`)
    await eg.release()
    assert.ok(Math.abs(scores.validationLoss - valLoss) <= 1e-4 * valLoss, `validation loss ${scores.validationLoss} vs ${valLoss}`)
    const scale = Math.max(...Array.from(expected, Math.abs))
    for (let k = 0; k < train.count; k++) assert.ok(Math.abs(scores.tracin[k] - expected[k]) <= 1e-4 * scale, `window ${k}: ${scores.tracin[k]} vs ${expected[k]}`)
  })

  it('CountSketch is linear, seeded, and keeps dot products on average', () => {
    const d = 2000
    const cs = new CountSketch(d, 256, 7)
    const rng = new Rng(11)
    const a = Float32Array.from({ length: d }, () => rng.normal())
    const b = Float32Array.from({ length: d }, (_, i) => 0.6 * a[i] + 0.8 * rng.normal())
    const sa = cs.apply(a)
    const sb = cs.apply(b)
    const both = cs.apply(b, 0, cs.apply(a))
    for (let i = 0; i < 256; i++) assert.ok(Math.abs(both[i] - sa[i] - sb[i]) < 1e-4)
    assert.deepEqual(new CountSketch(d, 256, 7).apply(a), sa)
    assert.ok(Math.abs(cosine(sa, sb) - cosine(a, b)) < 0.15, `sketched cosine ${cosine(sa, sb)} vs ${cosine(a, b)}`)
    assert.equal(cosine(sa, sa), 1)
  })

  it('DataInf matches its closed form computed the slow way, TracIn the checkpoint sum', () => {
    const rng = new Rng(9)
    const n = 7
    const d = 5
    const g = Float32Array.from({ length: n * d }, () => rng.normal())
    const v = Float64Array.from({ length: d }, () => rng.normal())
    const blocks = [{ offset: 0, size: 2 }, { offset: 2, size: 3 }]
    const fast = datainf(g, n, d, v, blocks, { damping: 0.1, perCoordinate: false })
    for (let k = 0; k < n; k++) {
      let expected = 0
      for (const { offset, size } of blocks) {
        const row = (i: number) => Array.from(g.subarray(i * d + offset, i * d + offset + size))
        const norm = (x: number[]) => x.reduce((s, y) => s + y * y, 0)
        const lambda = 0.1 * Array.from({ length: n }, (_, i) => norm(row(i))).reduce((a, b) => a + b) / n
        const vl = Array.from(v.subarray(offset, offset + size))
        const gk = row(k)
        // (1/n) sum_i (1/lambda) (v.g_k - (v.g_i)(g_i.g_k)/(lambda + |g_i|^2))
        let s = 0
        for (let i = 0; i < n; i++) {
          const gi = row(i)
          const vgk = vl.reduce((a, x, j) => a + x * gk[j], 0)
          const vgi = vl.reduce((a, x, j) => a + x * gi[j], 0)
          const gigk = gi.reduce((a, x, j) => a + x * gk[j], 0)
          s += (vgk - vgi * gigk / (lambda + norm(gi))) / lambda / n
        }
        expected += s
      }
      assert.ok(Math.abs(fast[k] - expected) < 1e-9 * Math.max(1, Math.abs(expected)), `k=${k}: ${fast[k]} vs ${expected}`)
    }
    // The default damping, the reference implementation's (lambda_l = 0.1 x the mean
    // squared gradient entry), against a brute-force inverse: v^T (1/n) sum_i
    // (lambda I + g_i g_i^T)^-1 g_k per layer, each matrix inverted by Gauss-Jordan.
    const ref = datainf(g, n, d, v, blocks)
    for (let k = 0; k < n; k++) {
      let expected = 0
      for (const { offset, size } of blocks) {
        const row = (i: number) => Array.from(g.subarray(i * d + offset, i * d + offset + size))
        let meanSq = 0
        for (let i = 0; i < n; i++) meanSq += row(i).reduce((a, x) => a + x * x, 0) / size / n
        const lambda = 0.1 * meanSq
        const avg = Array.from({ length: size }, () => new Array<number>(size).fill(0))
        for (let i = 0; i < n; i++) {
          const gi = row(i)
          const inv = invert(Array.from({ length: size }, (_, a) => Array.from({ length: size }, (_, b) => (a === b ? lambda : 0) + gi[a] * gi[b])))
          for (let a = 0; a < size; a++) for (let b = 0; b < size; b++) avg[a][b] += inv[a][b] / n
        }
        const gk = row(k)
        for (let a = 0; a < size; a++) for (let b = 0; b < size; b++) expected += v[offset + a] * avg[a][b] * gk[b]
      }
      assert.ok(Math.abs(ref[k] - expected) < 1e-8 * Math.max(1, Math.abs(expected)), `k=${k}: ${ref[k]} vs brute force ${expected}`)
    }
    assert.ok(ref.some((x, k) => Math.abs(x - fast[k]) > 1e-6 * Math.abs(x)), 'the two dampings differ')
    const t = tracin([{ lr: 0.5, train: g, val: v }, { lr: 2, train: g, val: v }], n, d)
    const once = tracin([{ lr: 1, train: g, val: v }], n, d)
    for (let k = 0; k < n; k++) assert.ok(Math.abs(t[k] - 2.5 * once[k]) < 1e-9)
    assert.deepEqual([...sumByGroup([1, 2, 3], ['a', 'b', 'a'])], [['a', 4], ['b', 2]])
    assert.deepEqual(Array.from(meanRow(Float32Array.of(1, 2, 3, 4), 2, 2)), [2, 3])
  })
})

/** A small dense matrix's inverse by Gauss-Jordan with partial pivoting. */
function invert (m: number[][]): number[][] {
  const n = m.length
  const a = m.map((r, i) => [...r, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))])
  for (let c = 0; c < n; c++) {
    let p = c
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r
    ;[a[c], a[p]] = [a[p], a[c]]
    const div = a[c][c]
    for (let j = 0; j < 2 * n; j++) a[c][j] /= div
    for (let r = 0; r < n; r++) {
      if (r === c) continue
      const f = a[r][c]
      for (let j = 0; j < 2 * n; j++) a[r][j] -= f * a[c][j]
    }
  }
  return a.map(r => r.slice(n))
}
