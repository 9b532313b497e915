import assert from 'node:assert/strict'
import { Tensor } from 'onnxruntime-node'
import { GraphBuildError } from '../compute/errors.ts'
import { pretrainLm } from '../compute/jobs/pretrain.ts'
import { allLoraTargets, type LmConfig } from '../compute/models/lm/config.ts'
import { buildLmDecodeGraph, MASKED } from '../compute/models/lm/graphs.ts'
import { lmParamSpecs } from '../compute/models/lm/params.ts'
import { truncateAdapter, truncateLm } from '../compute/models/lm/truncate.ts'
import { loraSpecs, type LoraConfig } from '../compute/models/lora.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { Session } from '../compute/onnx/session.ts'
import { Rng } from '../compute/random.ts'
import { LmGenerator } from '../compute/serve/generator.ts'
import { sizeOf, type ParamSet } from '../compute/tensors/param-set.ts'
import { BadReceiptError, OutputRefusedError } from '../compute/verify/errors.ts'
import { batchPads, checkInferenceReceipt, generatorFor, inferenceChain, inferenceReceipt, sampleRequests, verifyInference, type InferenceReceipt } from '../compute/verify/inference.ts'
import { readSotuAddresses } from '../storage/corpora/sotu.ts'
import { expectRejects, expectThrows } from './helpers/expect-throws.ts'

// A character-level model: ASCII, end-of-text, pad. Pretrained for seconds on a few
// addresses, enough that greedy text is not one repeated character.
const EOT = 128
const tokenizer = {
  vocabSize: 130,
  eot: EOT,
  pad: 129,
  encode: (s: string) => Int32Array.from([...s], c => Math.min(c.charCodeAt(0), 127)),
  decode: (ids: ArrayLike<number>) => String.fromCharCode(...Array.from(ids, i => (i < 128 ? i : 63))),
  toJSON: () => ({ kind: 'ascii' })
}
const cfg: LmConfig = { vocab: 130, dModel: 32, layers: 3, heads: 2, ffn: 64, context: 64 }
const lora: LoraConfig = { rank: 4, alpha: 8, targets: allLoraTargets(cfg) }
const MAX_NEW = 24
const BATCHES = [[0, 1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13, 14, 15]]
const JOB = 'job-infer-1'
const VERIFIERS = ['0x00000000000000000000000000000000000000aa', '0x00000000000000000000000000000000000000bb', '0x00000000000000000000000000000000000000cc', '0x00000000000000000000000000000000000000dd']

function randomAdapter (seed: number, scale: number): ParamSet {
  const a = initParams(loraSpecs(lmParamSpecs(cfg), lora), seed)
  const rng = new Rng(seed)
  for (const t of a.values()) for (let i = 0; i < t.data.length; i++) t.data[i] = (rng.uniform() - 0.5) * scale
  return a
}

/** The worker: runs the job's requests in its batches and reports each one's pad. */
async function work (gen: LmGenerator, adapter: ParamSet | null, prompts: Int32Array[]): Promise<{ outputs: Int32Array[], pads: number[] }> {
  const outputs: Int32Array[] = []
  for (const b of BATCHES) {
    const got = await gen.generate(b.map(i => ({ prompt: prompts[i], maxNewTokens: MAX_NEW, adapter, stopToken: EOT })))
    b.forEach((i, j) => { outputs[i] = got[j].tokens })
  }
  return { outputs, pads: batchPads(prompts, BATCHES) }
}

/** One prefill call on the decode graph, fed as the generator feeds it: the raw logits [B, V]. */
async function prefillLogits (session: Session, prompts: Int32Array[], adapter: ParamSet, bank: ReturnType<typeof buildLmDecodeGraph>['bank']): Promise<Float32Array[]> {
  const B = prompts.length
  const L = Math.max(...prompts.map(p => p.length))
  const tokens = new BigInt64Array(B * L)
  const positions = new BigInt64Array(B * L)
  const bias = new Float32Array(B * L * L)
  prompts.forEach((p, i) => {
    const pad = L - p.length
    for (let t = 0; t < L; t++) {
      tokens[i * L + t] = BigInt(t >= pad ? p[t - pad] : 0)
      positions[i * L + t] = BigInt(Math.max(0, t - pad))
      for (let j = 0; j < L; j++) if (j > t || (j < pad && t >= pad)) bias[(i * L + t) * L + j] = MASKED
    }
  })
  const hd = cfg.dModel / cfg.heads
  const feeds: Record<string, Tensor> = { tokens: new Tensor('int64', tokens, [B, L]), positions: new Tensor('int64', positions, [B, L]), attn_bias: new Tensor('float32', bias, [B, 1, L, L]) }
  for (let l = 0; l < cfg.layers; l++) for (const kv of ['k', 'v']) feeds[`past_${kv}${l}`] = new Tensor('float32', new Float32Array(0), [B, cfg.heads, 0, hd])
  for (const spec of bank) {
    const size = sizeOf(spec.shape)
    const data = new Float32Array(B * size)
    for (let i = 0; i < B; i++) data.set((adapter.get(spec.name) as { data: Float32Array }).data, i * size)
    feeds[spec.name] = new Tensor('float32', data, [B, ...spec.shape])
  }
  const logits = (await session.run(feeds)).logits.data as Float32Array
  return prompts.map((_, i) => logits.slice(i * cfg.vocab, (i + 1) * cfg.vocab))
}

const bitEqual = (a: Float32Array, b: Float32Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
const same = (a: readonly Int32Array[], b: readonly Int32Array[]): boolean => a.length === b.length && a.every((x, i) => x.join() === b[i].join())

describe('inference verification: receipt chain, sampled greedy re-generation, truncated-model cheat (tiny LM + LoRA)', function () {
  this.timeout(120_000)
  const text = readSotuAddresses({ limit: 6 }).map(a => a.text)
  const joined = text.join(' ')
  // 16 prompts of 4..23 characters from the middle of the text.
  const prompts = Array.from({ length: 16 }, (_, i) => tokenizer.encode(joined.slice(5000 + i * 997, 5000 + i * 997 + 4 + (i * 7) % 20)))
  const adapter = randomAdapter(7, 0.5)
  let base: ParamSet
  let worker: LmGenerator
  let verifier: LmGenerator
  let honest: { outputs: Int32Array[], pads: number[] }
  let receipt: InferenceReceipt

  const verify = async (r: InferenceReceipt, outputs: readonly Int32Array[], sample: readonly number[]) =>
    await verifyInference({ job: JOB, receipt: r, prompts, outputs, maxNewTokens: MAX_NEW, stopToken: EOT, sample, generate: generatorFor(verifier, adapter), context: cfg.context, maxBatch: 8 })

  before(async () => {
    const model = await pretrainLm({ name: 'tiny-char', source: {}, cfg, tokenizer, texts: text, hyper: { steps: 600, batch: 16, seq: 48, lr: 1e-2, warmup: 10, weightDecay: 0.1, checkpointEvery: 600, seed: 1 }, threads: 1 })
    base = model.params
    worker = await LmGenerator.create({ cfg, base, lora, threads: 1 })
    // A separate session: the verifier's own, as it would be on its machine.
    verifier = await LmGenerator.create({ cfg, base, lora, threads: 1 })
    honest = await work(worker, adapter, prompts)
    receipt = inferenceReceipt(JOB, prompts, honest.outputs, { pads: honest.pads })
  })
  after(async () => {
    await worker?.release()
    await verifier?.release()
  })

  it('bit-identity: two sessions agree bitwise; batch size and partners do not matter, only a request\'s own left padding does', async () => {
    const graph = buildLmDecodeGraph(cfg, base, lora, 'perSequence')
    const s1 = await Session.create(graph.model, { threads: 1 })
    const s2 = await Session.create(graph.model, { threads: 1 })
    const s3 = await Session.create(graph.model, { threads: 2 })
    try {
      const p = prompts[2]
      const [alone] = await prefillLogits(s1, [p], adapter, graph.bank)
      assert.ok(bitEqual(alone, (await prefillLogits(s2, [p], adapter, graph.bank))[0]), 'two sessions')
      assert.ok(bitEqual(alone, (await prefillLogits(s3, [p], adapter, graph.bank))[0]), '1 vs 2 threads')
      const copies = await prefillLogits(s1, Array(8).fill(p), adapter, graph.bank)
      assert.ok(copies.every(row => bitEqual(alone, row)), 'alone vs 8 copies of itself (no padding)')
      assert.ok(bitEqual(alone, (await prefillLogits(s1, [p, p.slice(0, 2), p.slice(1, 3)], adapter, graph.bank))[0]), 'beside shorter prompts')
      // Padded by 3 beside two different partners: bitwise the same as each other.
      const wider = (seed: number) => Int32Array.from({ length: p.length + 3 }, (_, i) => (i * seed) % 100 + 1)
      const padA = (await prefillLogits(s1, [p, wider(7)], adapter, graph.bank))[0]
      const padB = (await prefillLogits(s1, [wider(13), p, wider(3)], adapter, graph.bank))[1]
      assert.ok(bitEqual(padA, padB), 'same pad, other partners and batch size')
      // Padded vs not: close, and (measured here) not bitwise: why the receipt commits to pads.
      let diff = 0
      let scale = 0
      for (let v = 0; v < alone.length; v++) { diff = Math.max(diff, Math.abs(alone[v] - padA[v])); scale = Math.max(scale, Math.abs(alone[v])) }
      assert.ok(diff / scale < 1e-5, `padding moves logits by ${diff / scale} relative`)
      console.log(`      padded by 3 vs alone: bitwise ${bitEqual(alone, padA) ? 'equal' : 'different'}, max relative diff ${(diff / scale).toExponential(2)}`)
    } finally {
      for (const s of [s1, s2, s3]) await s.release()
    }
    // Tokens, whole generations: two sessions and alone vs batched all agree on this model.
    const alone = []
    for (const p of prompts) alone.push((await verifier.generate([{ prompt: p, maxNewTokens: MAX_NEW, adapter, stopToken: EOT }]))[0].tokens)
    assert.ok(same(alone, honest.outputs), 'alone in another session vs batches of 8 with padding')
  })

  it('honest outputs verify for every sampled subset', async () => {
    assert.ok(honest.outputs.some(o => o.join() !== honest.outputs[0].join()), 'the prompts get different answers')
    const all = await verify(receipt, honest.outputs, prompts.map((_, i) => i))
    assert.equal(all.ok, true, JSON.stringify(all.mismatches.map(m => m.index)))
    assert.deepEqual(all.checked, prompts.map((_, i) => i))
    // Verdicts are per request (a request's result does not depend on its partners), so
    // all 16 passing means every subset passes; check the singletons and some samples anyway.
    for (let i = 0; i < prompts.length; i++) assert.equal((await verify(receipt, honest.outputs, [i])).ok, true, `request ${i} alone`)
    for (const v of VERIFIERS) {
      const sample = sampleRequests(receipt, { verifier: v, k: 4 })
      assert.equal(sample.length, 4)
      assert.deepEqual(sampleRequests(receipt, { verifier: v, k: 4 }), sample, 'reproducible')
      const verdict = await verify(receipt, honest.outputs, sample)
      assert.equal(verdict.ok, true)
      assert.ok(verdict.batches >= 1 && verdict.batches <= 4)
    }
    assert.notDeepEqual(sampleRequests(receipt, { verifier: VERIFIERS[0], k: 4 }), sampleRequests(receipt, { verifier: VERIFIERS[0], k: 4, beacon: 'block-0xabc' }))
  })

  it('a request that comes out otherwise at another padding (a near-tie) is rerun at its claimed pad and passes', async () => {
    const X = honest.pads.findIndex(p => p > 0)
    const width = prompts[X].length + honest.pads[X]
    const real = generatorFor(verifier, adapter)
    const widths: number[][] = []
    // As if a near-tie flipped X's first token under any padding but the worker's.
    const flipping = async (reqs: Parameters<typeof real>[0]) => {
      const got = await real(reqs)
      const w = Math.max(...reqs.map(r => r.prompt.length))
      widths.push(reqs.map(r => r.prompt.length))
      reqs.forEach((r, j) => { if (r.prompt === prompts[X] && w !== width) got[j] = Int32Array.of((got[j][0] + 1) % 128, ...got[j].slice(1)) })
      return got
    }
    const sample = [X, (X + 1) % 16, (X + 9) % 16]
    const verdict = await verifyInference({ job: JOB, receipt, prompts, outputs: honest.outputs, maxNewTokens: MAX_NEW, stopToken: EOT, sample, generate: flipping, context: cfg.context })
    assert.equal(verdict.ok, true)
    assert.deepEqual(verdict.rerun, [X])
    assert.equal(verdict.batches, 2)
    // The rerun: a filler as wide as X's batch was, then X alone.
    assert.deepEqual(widths[1], [width, prompts[X].length])
    // A worker that claims X ran unpadded is not protected by the rerun: it differs there too.
    const unpadded = inferenceReceipt(JOB, prompts, honest.outputs, { pads: honest.pads.map((p, i) => (i === X ? 0 : p)) })
    const caught = await verifyInference({ job: JOB, receipt: unpadded, prompts, outputs: honest.outputs, maxNewTokens: MAX_NEW, stopToken: EOT, sample, generate: flipping, context: cfg.context })
    assert.deepEqual(caught.mismatches.map(m => m.index), [X])
  })

  it('outputs from a truncated model (fewer layers) are caught', async () => {
    assert.equal(truncateLm(cfg, base, 2).params.size, lmParamSpecs({ ...cfg, layers: 2 }).length)
    const rates: string[] = []
    for (const layers of [2, 1]) {
      const small = truncateLm(cfg, base, layers)
      const smallAdapter = truncateAdapter(lora, adapter, layers)
      assert.ok(smallAdapter !== null)
      const cheap = await LmGenerator.create({ cfg: small.cfg, base: small.params, lora: smallAdapter.lora, threads: 1 })
      try {
        const cheat = await work(cheap, smallAdapter.params, prompts)
        // The cheat commits honestly to what it computed; the receipt is well formed.
        const r = inferenceReceipt(JOB, prompts, cheat.outputs, { pads: cheat.pads })
        const verdict = await verify(r, cheat.outputs, prompts.map((_, i) => i))
        assert.equal(verdict.ok, false)
        assert.deepEqual(verdict.rerun, verdict.mismatches.map(m => m.index), 'every difference confirmed at the claimed pad')
        for (const m of verdict.mismatches) {
          assert.deepEqual(m.claimed.slice(0, m.firstDivergence), m.recomputed.slice(0, m.firstDivergence))
          assert.deepEqual(m.recomputed, honest.outputs[m.index])
        }
        const rate = verdict.mismatches.length / prompts.length
        rates.push(`${layers}/${cfg.layers} layers: ${verdict.mismatches.length}/16 differ, first divergence at tokens ${verdict.mismatches.map(m => m.firstDivergence).join(',')}`)
        assert.ok(rate >= 0.5, `only ${rate} of requests differ`)
        // So any sample of 4 catches it (with 8 of 16 bad, a sample of 4 misses with probability 1/26).
        for (const v of VERIFIERS) assert.equal((await verify(r, cheat.outputs, sampleRequests(r, { verifier: v, k: 4 }))).ok, false)
      } finally {
        await cheap.release()
      }
    }
    console.log(`      truncated model: ${rates.join('; ')}`)
    // The full depth is the model itself.
    const whole = truncateLm(cfg, base, cfg.layers)
    const full = await LmGenerator.create({ cfg: whole.cfg, base: whole.params, lora, threads: 1 })
    assert.ok(same((await work(full, adapter, prompts)).outputs, honest.outputs))
    await full.release()
    expectThrows(() => truncateLm(cfg, base, 0), GraphBuildError)
    expectThrows(() => truncateLm(cfg, base, 4), GraphBuildError)
    assert.equal(truncateAdapter({ ...lora, targets: ['l2.attn.wq'] }, adapter, 2), null)
  })

  it('a single doctored output among 16 is caught exactly when it is sampled', async () => {
    const BAD = 5
    const doctored = honest.outputs.map(o => Int32Array.from(o))
    // One token changed mid-answer, to one that is neither the original nor the stop token.
    const at = Math.min(10, doctored[BAD].length - 2)
    doctored[BAD][at] = (doctored[BAD][at] + 1) % 128
    const r = inferenceReceipt(JOB, prompts, doctored, { pads: honest.pads })
    for (let i = 0; i < prompts.length; i++) {
      const verdict = await verify(r, doctored, [i])
      assert.equal(verdict.ok, i !== BAD, `request ${i}`)
      if (i === BAD) {
        assert.equal(verdict.mismatches[0].index, BAD)
        assert.equal(verdict.mismatches[0].firstDivergence, at)
        assert.deepEqual(verdict.mismatches[0].recomputed, honest.outputs[BAD])
      }
    }
    let caught = 0
    for (let v = 0; v < 12; v++) {
      const verifierAddress = `0x${v.toString(16).padStart(40, '0')}`
      const sample = sampleRequests(r, { verifier: verifierAddress, k: 4 })
      const verdict = await verify(r, doctored, sample)
      assert.equal(verdict.ok, !sample.includes(BAD), `sample ${sample.join(',')}`)
      if (!verdict.ok) caught++
    }
    assert.ok(caught > 0 && caught < 12, `caught by ${caught} of 12 samples of 4 (expected about 3)`)
  })

  it('a tampered receipt or mismatched outputs are refused with a typed error, before any compute', async () => {
    let calls = 0
    const counting = generatorFor(verifier, adapter)
    const run = async (r: InferenceReceipt, outputs: readonly Int32Array[], over: { context?: number } = {}) =>
      await verifyInference({ job: JOB, receipt: r, prompts, outputs, maxNewTokens: MAX_NEW, stopToken: EOT, sample: [0, 1, 2, 3], generate: async (reqs) => { calls++; return await counting(reqs) }, context: over.context ?? cfg.context })
    const rechained = (outputs: InferenceReceipt['outputs']): InferenceReceipt => ({ job: JOB, outputs, head: inferenceChain(JOB, outputs).at(-1) as string })

    // Outputs handed over in another order than committed.
    const swapped = [honest.outputs[1], honest.outputs[0], ...honest.outputs.slice(2)]
    await expectRejects(run(receipt, swapped), OutputRefusedError)
    // Receipt entries reordered (and the chain rebuilt to match): entries for other prompts.
    const e = receipt.outputs
    await expectRejects(run(rechained([e[1], e[0], ...e.slice(2)]), swapped), BadReceiptError)
    // Wrong head; head of a reordered chain; a pad changed without rechaining.
    await expectRejects(run({ ...receipt, head: 'ab'.repeat(32) }, honest.outputs), BadReceiptError)
    await expectRejects(run({ ...receipt, head: inferenceChain(JOB, [e[1], e[0], ...e.slice(2)]).at(-1) as string }, honest.outputs), BadReceiptError)
    await expectRejects(run({ ...receipt, outputs: e.map((x, i) => (i === 3 ? { ...x, pad: x.pad + 4 } : x)) }, honest.outputs), BadReceiptError)
    // Wrong count: a rechained receipt that drops the last entry, or outputs that do.
    await expectRejects(run(rechained(e.slice(0, 15)), honest.outputs.slice(0, 15)), BadReceiptError)
    await expectRejects(run(receipt, honest.outputs.slice(0, 15)), OutputRefusedError)
    // Bad hex, other job.
    await expectRejects(run({ ...receipt, outputs: e.map((x, i) => (i === 2 ? { ...x, output: x.output.toUpperCase() } : x)) }, honest.outputs), BadReceiptError)
    await expectRejects(run({ ...receipt, head: receipt.head.slice(2) }, honest.outputs), BadReceiptError)
    await expectRejects(run({ ...receipt, job: 'job-other' }, honest.outputs), BadReceiptError)
    // A pad no batch of this model could have had.
    const wide = honest.outputs.map(() => 0)
    wide[1] = cfg.context
    await expectRejects(run(inferenceReceipt(JOB, prompts, honest.outputs, { pads: wide }), honest.outputs), BadReceiptError)
    // Outputs no greedy generation of this job gives, hashed honestly into the receipt.
    for (const bad of [honest.outputs[4].slice(0, 5), new Int32Array(0), Int32Array.of(...honest.outputs[4], 1), Int32Array.of(EOT, ...honest.outputs[4].slice(1))]) {
      const outputs = honest.outputs.map((o, i) => (i === 4 ? bad : o))
      await expectRejects(run(inferenceReceipt(JOB, prompts, outputs, { pads: honest.pads }), outputs), OutputRefusedError)
    }
    assert.equal(calls, 0, 'nothing generated for a refused job')
    // A short output that ends at the stop token is fine as far as shape goes.
    const stopped = honest.outputs.map((o, i) => (i === 4 ? Int32Array.of(o[0], EOT) : o))
    checkInferenceReceipt(inferenceReceipt(JOB, prompts, stopped, { pads: honest.pads }), { job: JOB, prompts, outputs: stopped, maxNewTokens: MAX_NEW, stopToken: EOT })
    expectThrows(() => inferenceReceipt(JOB, prompts, honest.outputs.slice(1)), BadReceiptError)
    expectThrows(() => inferenceReceipt(JOB, prompts, honest.outputs, { pads: [1] }), BadReceiptError)
    expectThrows(() => inferenceReceipt(JOB, [], []), BadReceiptError)
    expectThrows(() => batchPads(prompts, [[0, 1], [1, 2]]), RangeError)
    assert.deepEqual(batchPads([Int32Array.of(1), Int32Array.of(1, 2, 3), Int32Array.of(4, 5)], [[0, 1], [2]]), [2, 0, 0])
  })
})
