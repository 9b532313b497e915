import assert from 'node:assert/strict'
import { MalformedArtifactError, ShapeMismatchError } from '../compute/errors.ts'
import { adapterSpecs, decodeAdapter, decodeModel, encodeAdapter, encodeModel, type AdapterMeta, type ModelMeta } from '../compute/models/artifacts.ts'
import { classifierParamSpecs, type ClassifierConfig } from '../compute/models/classifier/config.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { decodeTensors, encodeTensors } from '../compute/tensors/tensor-file.ts'
import { expectThrows } from './helpers/expect-throws.ts'

const config: ClassifierConfig = { buckets: 64, maxFeatures: 8, maxChars: 1000, embed: 6, hidden: 5, classes: 2 }
const meta: ModelMeta = { format: 'openledger/model/1', kind: 'classifier', name: 'spam-test', config, labels: ['ham', 'spam'] }
const lora = { rank: 2, alpha: 4, targets: ['emb', 'w1', 'w2'] }

function model () {
  return { meta, params: initParams(classifierParamSpecs(config), 7) }
}

function adapter (baseCid: string) {
  const adapterMeta: AdapterMeta = { format: 'openledger/adapter/1', kind: 'classifier', base: baseCid, lora, hyper: { lr: 0.01 } }
  return { meta: adapterMeta, params: initParams(adapterSpecs(meta, lora), 3) }
}

/** Reads a safetensors header the way any safetensors reader does. */
function safetensorsHeader (bytes: Uint8Array): Record<string, any> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true))
  return JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8'))
}

describe('model and adapter files', () => {
  it('round-trip bit for bit, deterministically, in the safetensors layout', () => {
    const m = model()
    const bytes = encodeModel(m)
    assert.deepEqual(encodeModel(model()), bytes, 'same tensors and metadata give the same bytes')
    const header = safetensorsHeader(bytes)
    assert.deepEqual(header.emb, { dtype: 'F32', shape: [64, 6], data_offsets: [0, 64 * 6 * 4] })
    assert.equal(JSON.parse(header.__metadata__.openledger).name, 'spam-test')
    const back = decodeModel(bytes)
    assert.deepEqual(back.meta, meta)
    for (const [name, t] of m.params) assert.deepEqual(back.params.get(name)?.data, t.data, name)

    const a = adapter('bafybase')
    const decoded = decodeAdapter(encodeAdapter(a, meta), { cid: 'bafybase', meta })
    assert.deepEqual(decoded.meta, a.meta)
    assert.deepEqual(decoded.params.get('w1.lora_a')?.data, a.params.get('w1.lora_a')?.data)
  })

  it('decodes from an unaligned buffer (bytes read out of a larger block)', () => {
    const bytes = encodeModel(model())
    const shifted = new Uint8Array(bytes.length + 1)
    shifted.set(bytes, 1)
    const back = decodeModel(shifted.subarray(1))
    assert.deepEqual(back.params.get('w2')?.data, model().params.get('w2')?.data)
  })

  it('refuses malformed bytes with a typed error', () => {
    const good = encodeModel(model())
    const header = safetensorsHeader(good)
    const rebuild = (h: Record<string, unknown>, data = good.subarray(8 + Number(new DataView(good.buffer).getBigUint64(0, true)))) => {
      const json = Buffer.from(JSON.stringify(h))
      const out = new Uint8Array(8 + json.length + data.length)
      new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
      out.set(json, 8)
      out.set(data, 8 + json.length)
      return out
    }
    expectThrows(() => decodeModel(new Uint8Array(5)), MalformedArtifactError)
    const huge = Uint8Array.from(good)
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true)
    expectThrows(() => decodeModel(huge), MalformedArtifactError)
    expectThrows(() => decodeModel(good.subarray(0, good.length - 4)), MalformedArtifactError) // truncated data
    expectThrows(() => decodeModel(rebuild({ ...header, emb: { ...header.emb, dtype: 'F16' } })), MalformedArtifactError)
    expectThrows(() => decodeModel(rebuild({ ...header, w1: { ...header.w1, data_offsets: header.emb.data_offsets } })), MalformedArtifactError) // overlap
    expectThrows(() => decodeModel(rebuild({ ...header, w1: { ...header.w1, shape: [6, 4] } })), MalformedArtifactError) // range vs shape
    const trailing = new Uint8Array(good.length + 4)
    trailing.set(good)
    expectThrows(() => decodeModel(trailing), MalformedArtifactError)
    const { __metadata__: _, ...noMeta } = header
    expectThrows(() => decodeModel(rebuild(noMeta)), MalformedArtifactError)
    expectThrows(() => decodeModel(rebuild({ ...header, __metadata__: { openledger: JSON.stringify({ ...meta, kind: 'vision' }) } })), MalformedArtifactError)
    const junk = Uint8Array.from(good)
    junk[10] = 0xff // invalid UTF-8 inside the JSON header
    expectThrows(() => decodeModel(junk), MalformedArtifactError)
  })

  it('refuses non-finite weights, a missing tensor and tensors of the wrong shape', () => {
    const m = model()
    const nan = model()
    nan.params.get('b1')!.data[0] = Number.NaN
    expectThrows(() => decodeModel(encodeTensors(nan.params, meta)), MalformedArtifactError)
    const missing = new Map(m.params)
    missing.delete('b2')
    expectThrows(() => decodeModel(encodeTensors(missing, meta)), ShapeMismatchError)
    const wrong = new Map(m.params)
    wrong.set('w1', { shape: [5, 6], data: new Float32Array(30) })
    expectThrows(() => decodeModel(encodeTensors(wrong, meta)), ShapeMismatchError)
    // The metadata is valid JSON but another config: the tensors no longer fit it.
    expectThrows(() => decodeModel(encodeTensors(m.params, { ...meta, config: { ...config, hidden: 7 } })), ShapeMismatchError)
  })

  it('refuses an adapter trained on another base, or one whose LoRA shape does not match', () => {
    const bytes = encodeAdapter(adapter('bafybase'), meta)
    expectThrows(() => decodeAdapter(bytes, { cid: 'bafyother', meta }), ShapeMismatchError)
    const lmMeta: ModelMeta = { format: 'openledger/model/1', kind: 'lm', name: 'lm', config: { vocab: 16, dModel: 8, layers: 1, heads: 2, ffn: 16, context: 8 }, tokenizer: null }
    expectThrows(() => decodeAdapter(bytes, { cid: 'bafybase', meta: lmMeta }), ShapeMismatchError)
    const a = adapter('bafybase')
    const rank3 = encodeTensors(a.params, { ...a.meta, lora: { ...lora, rank: 3 } })
    expectThrows(() => decodeAdapter(rank3, { cid: 'bafybase', meta }), ShapeMismatchError)
  })

  it('round-trips tensors of any shape, including scalars and empty ones', () => {
    const params = new Map([
      ['s', { shape: [], data: Float32Array.of(2.5) }],
      ['e', { shape: [0, 3], data: new Float32Array(0) }],
      ['m', { shape: [2, 2], data: Float32Array.of(1, -0, Infinity, 4) }]
    ])
    const { params: back, meta: m } = decodeTensors(encodeTensors(params, { x: 1 }), { maxBytes: 1 << 20 })
    assert.deepEqual(m, { x: 1 })
    assert.deepEqual([...back.keys()], ['s', 'e', 'm'])
    assert.deepEqual(back.get('m')?.data, params.get('m')?.data)
    expectThrows(() => decodeTensors(encodeTensors(params, {}), { maxBytes: 10 }), MalformedArtifactError)
  })
})
