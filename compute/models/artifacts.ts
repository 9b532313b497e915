// Model and adapter files: a tensor file whose metadata says what the tensors are.
// A base model carries its architecture (and, for a language model, its tokenizer);
// an adapter names the base model it was trained on by CID, with its LoRA shape, the
// datanet version and hyper-parameters it came from. Decoding checks every tensor's
// name and shape against that description, so a file for another model is refused
// before any tensor reaches onnxruntime.

import { z } from 'zod'
import { MalformedArtifactError, ShapeMismatchError } from '../errors.ts'
import { decodeTensors, encodeTensors } from '../tensors/tensor-file.ts'
import { assertSameLayout, type ParamSet } from '../tensors/param-set.ts'
import { classifierParamSpecs, checkClassifierConfig, type ClassifierConfig } from './classifier/config.ts'
import { checkLmConfig, type LmConfig } from './lm/config.ts'
import { lmParamSpecs } from './lm/params.ts'
import { checkLoraConfig, loraSpecs, type LoraConfig } from './lora.ts'
import type { ParamSpec } from './param-spec.ts'

export const MODEL_FORMAT = 'openledger/model/1'
export const ADAPTER_FORMAT = 'openledger/adapter/1'
/** Files larger than this are refused before decoding. */
export const MAX_MODEL_BYTES = 256 * 1024 * 1024
export const MAX_ADAPTER_BYTES = 32 * 1024 * 1024

const positive = z.number().int().positive()
const LmConfigSchema = z.strictObject({ vocab: positive, dModel: positive, layers: positive, heads: positive, ffn: positive, context: positive })
const ClassifierConfigSchema = z.strictObject({ buckets: positive, maxFeatures: positive, maxChars: positive, embed: positive, hidden: positive, classes: positive })
const LoraSchema = z.strictObject({ rank: positive, alpha: z.number().positive(), targets: z.array(z.string().min(1).max(200)).min(1).max(1000) })

const ModelMetaSchema = z.discriminatedUnion('kind', [
  z.object({ format: z.literal(MODEL_FORMAT), kind: z.literal('lm'), name: z.string().max(200), config: LmConfigSchema, tokenizer: z.unknown(), provenance: z.record(z.string(), z.unknown()).optional() }),
  z.object({ format: z.literal(MODEL_FORMAT), kind: z.literal('classifier'), name: z.string().max(200), config: ClassifierConfigSchema, labels: z.array(z.string().max(100)).min(2), provenance: z.record(z.string(), z.unknown()).optional() })
])

const AdapterMetaSchema = z.object({
  format: z.literal(ADAPTER_FORMAT),
  kind: z.enum(['lm', 'classifier']),
  /** CID of the base model file. */
  base: z.string().min(1).max(200),
  lora: LoraSchema,
  datanet: z.object({ id: z.string().max(200), version: z.string().max(200) }).optional(),
  hyper: z.record(z.string(), z.unknown()).optional(),
  metrics: z.record(z.string(), z.unknown()).optional(),
  provenance: z.record(z.string(), z.unknown()).optional()
})

export type ModelMeta = z.infer<typeof ModelMetaSchema>
export type LmModelMeta = Extract<ModelMeta, { kind: 'lm' }>
export type ClassifierModelMeta = Extract<ModelMeta, { kind: 'classifier' }>
export type AdapterMeta = z.infer<typeof AdapterMetaSchema>

export interface Model {
  meta: ModelMeta
  params: ParamSet
}

export interface Adapter {
  meta: AdapterMeta
  params: ParamSet
}

export function modelSpecs (meta: ModelMeta): ParamSpec[] {
  if (meta.kind === 'lm') {
    checkLmConfig(meta.config as LmConfig)
    return lmParamSpecs(meta.config as LmConfig)
  }
  checkClassifierConfig(meta.config as ClassifierConfig)
  return classifierParamSpecs(meta.config as ClassifierConfig)
}

/** The adapter tensors a LoRA config implies for a base model. */
export function adapterSpecs (base: ModelMeta, lora: LoraConfig): ParamSpec[] {
  checkLoraConfig(lora)
  return loraSpecs(modelSpecs(base), lora, base.kind === 'classifier' ? new Set(['emb']) : new Set())
}

export function encodeModel (model: Model): Uint8Array {
  const meta = parseMeta(ModelMetaSchema, model.meta, 'model')
  checkLayout(modelSpecs(meta), model.params, 'model')
  return encodeTensors(model.params, meta)
}

export function decodeModel (bytes: Uint8Array): Model {
  if (bytes.byteLength > MAX_MODEL_BYTES) throw new MalformedArtifactError('model file too large', { bytes: bytes.byteLength, max: MAX_MODEL_BYTES })
  const { params, meta } = decodeTensors(bytes, { maxBytes: MAX_MODEL_BYTES })
  const parsed = parseMeta(ModelMetaSchema, meta, 'model')
  checkLayout(modelSpecs(parsed), params, 'model')
  return { meta: parsed, params }
}

export function encodeAdapter (adapter: Adapter, base: ModelMeta): Uint8Array {
  const meta = parseMeta(AdapterMetaSchema, adapter.meta, 'adapter')
  checkAdapterFits(meta, base)
  checkLayout(adapterSpecs(base, meta.lora), adapter.params, 'adapter')
  return encodeTensors(adapter.params, meta)
}

/**
 * Decodes an adapter and checks it against the base model it will run on: the same
 * base CID and kind, and exactly the tensors its LoRA config implies.
 */
export function decodeAdapter (bytes: Uint8Array, base: { cid: string, meta: ModelMeta }): Adapter {
  if (bytes.byteLength > MAX_ADAPTER_BYTES) throw new MalformedArtifactError('adapter file too large', { bytes: bytes.byteLength, max: MAX_ADAPTER_BYTES })
  const { params, meta } = decodeTensors(bytes, { maxBytes: MAX_ADAPTER_BYTES })
  const parsed = parseMeta(AdapterMetaSchema, meta, 'adapter')
  if (parsed.base !== base.cid) throw new ShapeMismatchError('adapter was trained on another base model', { adapterBase: parsed.base, base: base.cid })
  checkAdapterFits(parsed, base.meta)
  checkLayout(adapterSpecs(base.meta, parsed.lora), params, 'adapter')
  return { meta: parsed, params }
}

function checkAdapterFits (meta: AdapterMeta, base: ModelMeta): void {
  if (meta.kind !== base.kind) throw new ShapeMismatchError('adapter is for another kind of model', { adapter: meta.kind, base: base.kind })
}

function checkLayout (specs: readonly ParamSpec[], params: ParamSet, what: string): void {
  // Shapes only: zero-length stand-ins, not allocations the size of the model.
  const expected: ParamSet = new Map(specs.map(s => [s.name, { shape: s.shape, data: new Float32Array(0) }]))
  assertSameLayout(expected, params, what)
  for (const [name, t] of params) {
    for (const v of t.data) {
      if (!Number.isFinite(v)) throw new MalformedArtifactError(`${what} tensor ${name} holds a non-finite value`, { name })
    }
  }
}

function parseMeta<S extends z.ZodType> (schema: S, meta: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(meta)
  if (!r.success) throw new MalformedArtifactError(`${what} metadata is invalid`, { issues: r.error.issues.slice(0, 5).map(i => `${i.path.join('.')}: ${i.message}`) })
  return r.data
}

/** The base-model CID an adapter file names, read before the base is loaded to check it against. */
export function adapterBaseOf (bytes: Uint8Array): string {
  return adapterMetaOf(bytes).base
}

/** An adapter file's metadata (base, datanet version, hyper-parameters, provenance), checked against its schema only. */
export function adapterMetaOf (bytes: Uint8Array): AdapterMeta {
  if (bytes.byteLength > MAX_ADAPTER_BYTES) throw new MalformedArtifactError('adapter file too large', { bytes: bytes.byteLength, max: MAX_ADAPTER_BYTES })
  return parseMeta(AdapterMetaSchema, decodeTensors(bytes, { maxBytes: MAX_ADAPTER_BYTES }).meta, 'adapter')
}
