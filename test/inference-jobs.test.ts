// Inference batch jobs end to end on a peer's side, with a real tiny LM (BPE tokenizer
// trained here, pretrained for seconds), real ORT sessions, the real receipt and files;
// only the registry and the network are in-memory stand-ins (CIDs as Kubo gives them).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { BadJobFileError, InvalidRequestError } from '../compute/errors.ts'
import { planBatches, runInferenceBatch } from '../compute/jobs/infer-batch.ts'
import { decodeOutputsFile, decodePromptsFile, decodeReceiptFile, encodeOutputsFile, encodePromptsFile, encodeReceiptFile, MAX_OUTPUTS_BYTES, MAX_PROMPT_CHARS, MAX_PROMPTS, OUTPUTS_FORMAT, PROMPTS_FORMAT } from '../compute/jobs/infer-files.ts'
import { pretrainLm } from '../compute/jobs/pretrain.ts'
import { ADAPTER_FORMAT, decodeModel, encodeAdapter, encodeModel, type Model } from '../compute/models/artifacts.ts'
import { allLoraTargets, defaultLoraTargets, type LmConfig } from '../compute/models/lm/config.ts'
import { lmParamSpecs } from '../compute/models/lm/params.ts'
import { loraSpecs, type LoraConfig } from '../compute/models/lora.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { Rng } from '../compute/random.ts'
import type { ParamSet } from '../compute/tensors/param-set.ts'
import { trainBpe } from '../compute/tokenizer/train.ts'
import { BadReceiptError } from '../compute/verify/errors.ts'
import { batchPads, inferenceReceipt, sampleRequests } from '../compute/verify/inference.ts'
import { InferenceEngineCache } from '../peer/models/inference-engines.ts'
import { runInferenceJob, verifyInferenceJob, type InferenceJobDeps, type InferenceJobRun, type InferenceJobSpec } from '../peer/market/kinds/inference-jobs.ts'
import { UnknownModelError, type ModelEntry } from '../peer/models/model-registry.ts'
import { readSotuAddresses } from '../storage/corpora/sotu.ts'
import { FileTooLargeError, importFile } from '../storage/unixfs/index.ts'
import { expectRejects, expectThrows } from './helpers/expect-throws.ts'
import { SOTU_LM } from './helpers/fixtures.ts'

const cfg: LmConfig = { vocab: 320, dModel: 32, layers: 3, heads: 2, ffn: 64, context: 64 }
const lora: LoraConfig = { rank: 4, alpha: 8, targets: allLoraTargets(cfg) }
const N = 24
const MAX_NEW = 16
const JOB = '0x' + '1'.repeat(64)
const VERIFIERS = ['0x00000000000000000000000000000000000000aa', '0x00000000000000000000000000000000000000bb', '0x00000000000000000000000000000000000000cc', '0x00000000000000000000000000000000000000dd']

const cidOf = async (bytes: Uint8Array): Promise<string> => (await importFile({ put: async (c: unknown) => c } as never, bytes)).cid.toString()

/** The peer's files and models, in memory: what the registry and the swarm give the glue. */
function memoryPeer (files: Map<string, Uint8Array>, names: Map<string, string>): Omit<InferenceJobDeps, 'threads'> & { fetched: string[] } {
  const fetched: string[] = []
  const get = (cid: string, max: number): Uint8Array => {
    const b = files.get(cid)
    if (b === undefined) throw new UnknownModelError(cid)
    if (b.byteLength > max) throw new FileTooLargeError(`${cid} is over ${max} bytes`, { max })
    return b
  }
  return {
    fetched,
    models: {
      resolveModel: (s: string): ModelEntry => ({ cid: names.get(s) ?? s, name: s, kind: 'lm', bytes: 0, addedAt: 0 }),
      model: async (cid: string): Promise<Model> => decodeModel(get(cid, 1 << 28)),
      adapterBytes: async (cid: string) => get(cid, 1 << 25)
    },
    fetchFile: async (cid, max) => { fetched.push(cid); return get(cid, max) },
    storeFile: async (bytes) => {
      const cid = await cidOf(bytes)
      files.set(cid, bytes)
      return cid
    },
    maxBatch: 8
  }
}

function randomAdapter (seed: number, scale: number): ParamSet {
  const a = initParams(loraSpecs(lmParamSpecs(cfg), lora), seed)
  const rng = new Rng(seed)
  for (const t of a.values()) for (let i = 0; i < t.data.length; i++) t.data[i] = (rng.uniform() - 0.5) * scale
  return a
}

describe('inference batch jobs: worker run, outputs file, receipt, sampled verification (tiny BPE LM + LoRA)', function () {
  this.timeout(120_000)
  const text = readSotuAddresses({ limit: 6 }).map(a => a.text)
  const joined = text.join(' ')
  // N prompts of 12..59 characters from the middle of the text.
  const promptTexts = Array.from({ length: N }, (_, i) => joined.slice(8000 + i * 811, 8000 + i * 811 + 12 + (i * 13) % 48))
  const files = new Map<string, Uint8Array>()
  const names = new Map<string, string>()
  const peer = memoryPeer(files, names)
  const deps = { ...peer, threads: 1 }
  let model: Model
  let spec: InferenceJobSpec
  let honest: InferenceJobRun
  let honestMs: number

  const verify = async (run: { result: string, receiptBytes: Uint8Array }, verifier: string, opts: { k?: number, fraction?: number, beacon?: string } = {}, s: InferenceJobSpec = spec) =>
    await verifyInferenceJob(deps, s, { result: run.result, receiptBytes: run.receiptBytes, verifier, ...opts })
  /** A worker's outputs and receipt stored as it would: the outputs file by CID, the receipt bytes. */
  const claimOf = async (outputs: Int32Array[], pads: number[], job = JOB): Promise<{ result: string, receiptBytes: Uint8Array }> => {
    const receipt = inferenceReceipt(job, honestPrompts(), outputs, { pads })
    return { result: await deps.storeFile(encodeOutputsFile({ job, outputs })), receiptBytes: encodeReceiptFile(receipt) }
  }
  const tokenizerOf = () => trainBpe(text, { vocabSize: cfg.vocab })
  let tokenized: Int32Array[]
  const honestPrompts = () => tokenized

  before(async () => {
    const tokenizer = tokenizerOf()
    model = await pretrainLm({ name: 'tiny-bpe', source: {}, cfg, tokenizer, texts: text, hyper: { steps: 600, batch: 16, seq: 48, lr: 1e-2, warmup: 10, weightDecay: 0.1, checkpointEvery: 600, seed: 1 }, threads: 1 })
    const baseCid = await deps.storeFile(encodeModel(model))
    names.set('tiny-bpe', baseCid)
    const adapterCid = await deps.storeFile(encodeAdapter({ meta: { format: ADAPTER_FORMAT, kind: 'lm', base: baseCid, lora: { ...lora, targets: [...lora.targets] } }, params: randomAdapter(7, 0.5) }, model.meta))
    const promptsCid = await deps.storeFile(encodePromptsFile(promptTexts))
    tokenized = promptTexts.map(t => tokenizer.encode(t))
    spec = { job: JOB, base: baseCid, adapter: adapterCid, prompts: promptsCid, maxNewTokens: MAX_NEW }
    const started = performance.now()
    honest = await runInferenceJob(deps, spec)
    honestMs = performance.now() - started
  })

  it('an honest job: outputs file by CID, a receipt that holds, verified by several verifiers and beacons', async () => {
    assert.equal(honest.outputs.length, N)
    assert.ok(honest.outputs.some(o => o.join() !== honest.outputs[0].join()), 'the prompts get different answers')
    assert.ok(honest.outputs.every(o => o.length >= 1 && o.length <= MAX_NEW))
    assert.equal(honest.batches, 3)
    const file = decodeOutputsFile(files.get(honest.result) as Uint8Array)
    assert.equal(file.job, JOB)
    assert.deepEqual(file.outputs.map(o => o.join()), honest.outputs.map(o => o.join()))
    assert.equal(honest.result, await cidOf(encodeOutputsFile({ job: JOB, outputs: honest.outputs })), 'the CID is reproducible')
    assert.deepEqual(decodeReceiptFile(honest.receiptBytes), honest.receipt)
    assert.ok(honest.receipt.outputs.some(e => e.pad > 0), 'some requests ran padded')
    const times: string[] = []
    for (const v of VERIFIERS) {
      for (const beacon of [undefined, 'block-0xabc']) {
        const verdict = await verify(honest, v, { k: 4, beacon })
        assert.equal(verdict.ok, true, JSON.stringify(verdict.evidence))
        assert.equal(verdict.checked.length, 4)
        assert.deepEqual(verdict.checked, sampleRequests(honest.receipt, { verifier: v, k: 4, beacon }))
        assert.equal(verdict.evidence, undefined)
        times.push(verdict.computeMs.toFixed(0))
      }
    }
    const all = await verify(honest, VERIFIERS[0], { k: N })
    assert.equal(all.ok, true)
    assert.equal(all.checked.length, N)
    assert.equal((await verify(honest, VERIFIERS[1], { fraction: 0.25 })).checked.length, 6)
    assert.equal((await verify(honest, VERIFIERS[1])).checked.length, 8, 'DEFAULT_SAMPLE')
    console.log(`      worker: ${N} prompts x <= ${MAX_NEW} tokens, ${honest.ms.toFixed(0)} ms generating (${honestMs.toFixed(0)} ms with loading); verifier k=4: ${times.join(', ')} ms generating; k=${N}: ${all.computeMs.toFixed(0)} ms`)
  })

  it('the base alone (no adapter) runs and verifies, and answers otherwise than with the adapter', async () => {
    const plain = { ...spec, adapter: undefined, base: 'tiny-bpe' }
    const run = await runInferenceJob(deps, plain)
    assert.ok(run.outputs.some((o, i) => o.join() !== honest.outputs[i].join()))
    assert.equal((await verify(run, VERIFIERS[0], { k: N }, plain)).ok, true)
    // The base's outputs claimed for the adapter job: caught.
    const wrong = await verify(await claimOf(run.outputs, run.receipt.outputs.map(e => e.pad)), VERIFIERS[0], { k: N })
    assert.equal(wrong.ok, false)
  })

  it('a worker that runs a truncated model is caught, with evidence', async () => {
    for (const truncateTo of [2, 1]) {
      const cheat = await runInferenceJob(deps, spec, { truncateTo })
      const all = await verify(cheat, VERIFIERS[0], { k: N })
      assert.equal(all.ok, false)
      assert.ok(all.mismatches.length >= N / 2, `only ${all.mismatches.length} of ${N} differ`)
      for (const m of all.mismatches) assert.deepEqual(m.recomputed, Array.from(honest.outputs[m.index]))
      assert.deepEqual(all.evidence?.mismatches, all.mismatches)
      assert.equal(all.evidence?.refused, undefined)
      for (const v of VERIFIERS) assert.equal((await verify(cheat, v, { k: 4 })).ok, false, `verifier ${v}`)
      console.log(`      truncated to ${truncateTo}/${cfg.layers} layers: ${all.mismatches.length}/${N} differ (${cheat.ms.toFixed(0)} ms generating vs ${honest.ms.toFixed(0)} honest)`)
    }
  })

  it('one doctored output is caught when sampled; outputs that do not match the receipt are refused', async () => {
    const BAD = 5
    const pads = honest.receipt.outputs.map(e => e.pad)
    const doctored = honest.outputs.map(o => Int32Array.from(o))
    const at = Math.min(4, doctored[BAD].length - 2)
    doctored[BAD][at] = (doctored[BAD][at] + 1) % 256
    // A receipt honestly over the doctored outputs: only sampling BAD catches it.
    const claim = await claimOf(doctored, pads)
    let caught = 0
    for (let v = 0; v < 16; v++) {
      const verifier = `0x${v.toString(16).padStart(40, '0')}`
      const verdict = await verify(claim, verifier, { k: 4 })
      assert.equal(verdict.ok, !verdict.checked.includes(BAD), `sample ${verdict.checked.join(',')}`)
      if (!verdict.ok) {
        caught++
        assert.deepEqual(verdict.mismatches.map(m => m.index), [BAD])
        assert.equal(verdict.mismatches[0].firstDivergence, at)
      }
    }
    assert.ok(caught > 0 && caught < 16, `caught by ${caught} of 16 samples of 4 (expected about 3)`)

    // The honest receipt with the doctored outputs file: refused before any generation.
    const swapped = { result: await deps.storeFile(encodeOutputsFile({ job: JOB, outputs: doctored })), receiptBytes: honest.receiptBytes }
    const refused = await verify(swapped, VERIFIERS[0], { k: 4 })
    assert.equal(refused.ok, false)
    assert.deepEqual(refused.checked, [])
    assert.equal(refused.computeMs, 0)
    assert.equal(refused.evidence?.refused?.name, 'OutputRefusedError')
    assert.equal(refused.evidence?.refused?.details.index, BAD)
    // An outputs file of another job, a receipt of another job, garbage and non-canonical files.
    const other = await verify({ result: await deps.storeFile(encodeOutputsFile({ job: 'job-other', outputs: honest.outputs })), receiptBytes: honest.receiptBytes }, VERIFIERS[0])
    assert.equal(other.evidence?.refused?.name, 'OutputRefusedError')
    const otherReceipt = encodeReceiptFile(inferenceReceipt('job-other', tokenized, honest.outputs, { pads }))
    assert.equal((await verify({ result: honest.result, receiptBytes: otherReceipt }, VERIFIERS[0])).evidence?.refused?.name, 'BadReceiptError')
    assert.equal((await verify({ result: honest.result, receiptBytes: new TextEncoder().encode('{"nope":1}') }, VERIFIERS[0])).evidence?.refused?.name, 'BadReceiptError')
    assert.equal((await verify({ result: await deps.storeFile(new TextEncoder().encode('not json')), receiptBytes: honest.receiptBytes }, VERIFIERS[0])).evidence?.refused?.name, 'BadJobFileError')
    const pretty = new TextEncoder().encode(JSON.stringify(JSON.parse(new TextDecoder().decode(files.get(honest.result))), null, 1))
    assert.equal((await verify({ result: await deps.storeFile(pretty), receiptBytes: honest.receiptBytes }, VERIFIERS[0])).evidence?.refused?.name, 'BadJobFileError')
    // A receipt whose pads claim wider batches than the context allows.
    const wide = await claimOf(honest.outputs, pads.map(() => cfg.context))
    const tooWide = await verify(wide, VERIFIERS[0], { k: 2 })
    assert.equal(tooWide.evidence?.refused?.name, 'BadReceiptError')
    // A result CID that names a file over the limit is the worker's fault; one not found throws.
    assert.equal((await verify({ result: await deps.storeFile(new Uint8Array(MAX_OUTPUTS_BYTES + 1)), receiptBytes: honest.receiptBytes }, VERIFIERS[0])).evidence?.refused?.name, 'FileTooLargeError')
    await expectRejects(verify({ result: 'QmNotStoredHere', receiptBytes: honest.receiptBytes }, VERIFIERS[0]), UnknownModelError)
  })

  it('bad prompts files are refused with typed errors, by the worker and the verifier alike', async () => {
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v))
    const bad = [
      enc({ format: PROMPTS_FORMAT, prompts: Array(MAX_PROMPTS + 1).fill('hi') }),
      enc({ format: PROMPTS_FORMAT, prompts: ['a'.repeat(MAX_PROMPT_CHARS + 1)] }),
      enc({ format: 'openledger/prompts/2', prompts: ['hi'] }),
      enc({ format: PROMPTS_FORMAT, prompts: [] }),
      enc({ format: PROMPTS_FORMAT, prompts: [''] }),
      enc({ format: PROMPTS_FORMAT, prompts: [42] }),
      enc({ format: PROMPTS_FORMAT, prompts: ['hi'], extra: true }),
      enc([['hi']]),
      new TextEncoder().encode('{"format":'),
      Uint8Array.of(0xff, 0xfe, 0x7b, 0x7d),
      // Over 1 MiB: refused before parsing (each prompt within its limit).
      enc({ format: PROMPTS_FORMAT, prompts: Array(300).fill('x'.repeat(4000)) })
    ]
    for (const b of bad) expectThrows(() => decodePromptsFile(b), BadJobFileError)
    expectThrows(() => encodePromptsFile(Array(MAX_PROMPTS + 1).fill('hi')), BadJobFileError)
    expectThrows(() => encodePromptsFile(['a'.repeat(MAX_PROMPT_CHARS + 1)]), BadJobFileError)
    expectThrows(() => encodePromptsFile(Array(300).fill('x'.repeat(4000))), BadJobFileError)
    assert.deepEqual(decodePromptsFile(encodePromptsFile(['hello', 'wörld'])), ['hello', 'wörld'])
    for (const b of bad.slice(0, 3)) {
      const s = { ...spec, prompts: await deps.storeFile(b) }
      await expectRejects(runInferenceJob(deps, s), BadJobFileError)
      // The requester's file is no evidence against the worker: the verifier throws too.
      await expectRejects(verify(honest, VERIFIERS[0], {}, s), BadJobFileError)
    }
    // A prompt that tokenizes longer than the context leaves room for.
    const long = { ...spec, prompts: await deps.storeFile(encodePromptsFile(['short', joined.slice(0, 400)])) }
    const err = await expectRejects(runInferenceJob(deps, long), InvalidRequestError)
    assert.equal(err.details.index, 1)
    await expectRejects(runInferenceJob(deps, { ...spec, maxNewTokens: 0 }), InvalidRequestError)
    await expectRejects(runInferenceJob(deps, { ...spec, maxNewTokens: cfg.context }), InvalidRequestError)
  })

  it('outputs and receipt files encode deterministically, round-trip, and keep their limits', async () => {
    const a = encodeOutputsFile({ job: JOB, outputs: honest.outputs })
    const b = encodeOutputsFile({ job: JOB, outputs: honest.outputs.map(o => Int32Array.from(o)) })
    assert.deepEqual(a, b)
    assert.equal(await cidOf(a), await cidOf(b))
    assert.ok(new TextDecoder().decode(a).startsWith(`{"format":"${OUTPUTS_FORMAT}","job":"${JOB}","outputs":[[`))
    assert.deepEqual(encodeReceiptFile(decodeReceiptFile(honest.receiptBytes)), honest.receiptBytes)
    // Keys in another order: the same content, not the canonical bytes.
    const reordered = new TextEncoder().encode(JSON.stringify({ outputs: honest.outputs.map(o => Array.from(o)), job: JOB, format: OUTPUTS_FORMAT }))
    expectThrows(() => decodeOutputsFile(reordered), BadJobFileError)
    for (const outputs of [[Int32Array.of(-1)], [Int32Array.of(70000)], [new Int32Array(1025)], [], Array(MAX_PROMPTS + 1).fill(Int32Array.of(1))]) {
      expectThrows(() => encodeOutputsFile({ job: JOB, outputs }), BadJobFileError)
    }
    expectThrows(() => encodeOutputsFile({ job: '', outputs: [Int32Array.of(1)] }), BadJobFileError)
    const r = decodeReceiptFile(honest.receiptBytes)
    expectThrows(() => encodeReceiptFile({ ...r, head: 'xyz' }), BadReceiptError)
    expectThrows(() => decodeReceiptFile(new TextEncoder().encode(JSON.stringify({ ...r, format: 'openledger/inference-receipt/1' }, null, 2))), BadReceiptError)
  })

  it('the engine: batches planned by length, pads as run, an engine cache shared across jobs', async () => {
    const batches = planBatches(tokenized, 8)
    assert.deepEqual(batches.flat().sort((x, y) => x - y), tokenized.map((_, i) => i))
    assert.ok(batches.every(b => b.length <= 8))
    assert.deepEqual(honest.receipt.outputs.map(e => e.pad), batchPads(tokenized, batches))
    const progress: number[] = []
    const direct = await runInferenceBatch({ cfg, base: model.params, adapter: null, prompts: tokenized.slice(0, 5), maxNewTokens: 4, stopToken: 256, maxBatch: 2, threads: 1, onProgress: p => progress.push(p.done) })
    assert.deepEqual(progress, [2, 4, 5])
    assert.equal(direct.batches.length, 3)
    await expectRejects(runInferenceBatch({ cfg, base: model.params, adapter: null, prompts: [], maxNewTokens: 4 }), InvalidRequestError)

    const engines = new InferenceEngineCache({ max: 1 })
    try {
      const cached = { ...deps, engines }
      const first = await runInferenceJob(cached, spec)
      assert.equal(first.result, honest.result, 'same outputs through a cached engine')
      assert.equal((await verifyInferenceJob(cached, spec, { result: first.result, receiptBytes: first.receiptBytes, verifier: VERIFIERS[2], k: 4 })).ok, true)
      assert.deepEqual(engines.stats(), { engines: 1, loads: 1, hits: 1, released: 0 })
      // Another adapter shape (the base alone) evicts it.
      await runInferenceJob(cached, { ...spec, adapter: undefined })
      assert.equal(engines.stats().loads, 2)
      // Concurrent jobs on one engine take turns and agree.
      const [x, y] = await Promise.all([runInferenceJob(cached, spec), runInferenceJob(cached, spec)])
      assert.equal(x.result, honest.result)
      assert.equal(y.result, honest.result)
    } finally {
      await engines.release()
    }
  })
})

describe('inference batch jobs on the shipped sotu-lm (BPE 4096, 4 layers, context 128) with a random rank-8 adapter', function () {
  this.timeout(120_000)
  const files = new Map<string, Uint8Array>()
  const deps = { ...memoryPeer(files, new Map()), threads: 2, maxBatch: 32 }
  const P = 64

  it('an honest job verifies with k = 4 at a small share of the worker\'s time; a 3-of-4-layer worker is caught', async () => {
    const baseBytes = new Uint8Array(readFileSync(SOTU_LM))
    const base = decodeModel(baseBytes)
    const sotuCfg = base.meta.config as LmConfig
    const baseCid = await deps.storeFile(baseBytes)
    const sotuLora = { rank: 8, alpha: 16, targets: defaultLoraTargets(sotuCfg) }
    const params = initParams(loraSpecs(lmParamSpecs(sotuCfg), sotuLora), 3)
    const rng = new Rng(3)
    for (const t of params.values()) for (let i = 0; i < t.data.length; i++) t.data[i] = (rng.uniform() - 0.5) * 0.1
    const adapter = await deps.storeFile(encodeAdapter({ meta: { format: ADAPTER_FORMAT, kind: 'lm', base: baseCid, lora: sotuLora }, params }, base.meta))
    const text = readSotuAddresses({ limit: 40 }).map(a => a.text).join(' ')
    const prompts = await deps.storeFile(encodePromptsFile(Array.from({ length: P }, (_, i) => text.slice(20000 + i * 1231, 20000 + i * 1231 + 40 + (i * 37) % 160))))
    const s: InferenceJobSpec = { job: JOB, base: baseCid, adapter, prompts, maxNewTokens: 32 }
    const honest = await runInferenceJob(deps, s)
    const claim = { result: honest.result, receiptBytes: honest.receiptBytes }
    const ks: string[] = []
    for (const k of [4, 8]) {
      const v = await verifyInferenceJob(deps, s, { ...claim, verifier: VERIFIERS[0], k })
      assert.equal(v.ok, true, JSON.stringify(v.evidence))
      ks.push(`k=${k}: ${v.computeMs.toFixed(0)} ms (${(v.computeMs / honest.ms).toFixed(2)})`)
    }
    const cheat = await runInferenceJob(deps, s, { truncateTo: 3 })
    const all = await verifyInferenceJob(deps, s, { result: cheat.result, receiptBytes: cheat.receiptBytes, verifier: VERIFIERS[0], k: P })
    assert.ok(all.mismatches.length >= P / 2, `only ${all.mismatches.length} of ${P} differ`)
    for (const v of VERIFIERS) assert.equal((await verifyInferenceJob(deps, s, { result: cheat.result, receiptBytes: cheat.receiptBytes, verifier: v, k: 4 })).ok, false)
    console.log(`      worker: ${P} prompts x <= 32 tokens, ${honest.ms.toFixed(0)} ms generating; verifier ${ks.join(', ')}; truncated 3/4: ${cheat.ms.toFixed(0)} ms, ${all.mismatches.length}/${P} differ`)
  })
})
