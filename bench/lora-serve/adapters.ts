// The adapters the lora-serve bench serves: random LoRA factors for one base model,
// encoded as adapter files (compute/models/artifacts.ts) and kept by CID in memory,
// the way a peer's blockstore would hold them; an AdapterCache whose load function
// fetches those bytes and decodes them; and the merged weights of the baseline.

import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { decodeAdapter, encodeAdapter, type AdapterMeta, type ModelMeta } from '../../compute/models/artifacts.ts'
import type { LmConfig } from '../../compute/models/lm/config.ts'
import { lmParamSpecs } from '../../compute/models/lm/params.ts'
import { loraA, loraB, loraSpecs, mergeAdapter, type LoraConfig } from '../../compute/models/lora.ts'
import { Rng } from '../../compute/random.ts'
import { AdapterCache } from '../../compute/serve/adapter-cache.ts'
import { tensor, type ParamSet } from '../../compute/tensors/param-set.ts'

export async function cidOf (bytes: Uint8Array): Promise<string> {
  return CID.createV1(raw.code, await sha256.digest(bytes)).toString()
}

/**
 * Factors uniform in +-sqrt(3/fan-in) (A) and +-0.5 sqrt(3/rank) (B): both non-zero, so
 * the adapter really changes every target's output (a fresh B = 0 adapter would not).
 */
export function randomAdapter (cfg: LmConfig, lora: LoraConfig, seed: number): ParamSet {
  const rng = new Rng(seed)
  const out: ParamSet = new Map()
  for (const spec of loraSpecs(lmParamSpecs(cfg), lora)) {
    const t = tensor(spec.shape)
    const bound = spec.name.endsWith('.lora_a') ? Math.sqrt(3 / spec.shape[0]) : 0.5 * Math.sqrt(3 / spec.shape[0])
    for (let i = 0; i < t.data.length; i++) t.data[i] = (rng.uniform() * 2 - 1) * bound
    out.set(spec.name, t)
  }
  return out
}

export function tensorBytes (params: ParamSet): number {
  let n = 0
  for (const t of params.values()) n += t.data.byteLength
  return n
}

export interface AdapterStore {
  cids: string[]
  bytes: Map<string, Uint8Array>
  /** Encoded size of one adapter file (all are alike). */
  fileBytes: number
}

/** `count` distinct adapters as files, keyed by the CID of their bytes. */
export async function makeStore (cfg: LmConfig, lora: LoraConfig, baseCid: string, count: number, seed: number): Promise<AdapterStore> {
  const base: ModelMeta = baseMeta(cfg)
  const cids: string[] = []
  const bytes = new Map<string, Uint8Array>()
  for (let i = 0; i < count; i++) {
    const meta: AdapterMeta = { format: 'openledger/adapter/1', kind: 'lm', base: baseCid, lora: { rank: lora.rank, alpha: lora.alpha, targets: [...lora.targets] }, provenance: { bench: 'lora-serve', index: i } }
    const file = encodeAdapter({ meta, params: randomAdapter(cfg, lora, seed + i) }, base)
    const cid = await cidOf(file)
    cids.push(cid)
    bytes.set(cid, file)
  }
  return { cids, bytes, fileBytes: bytes.get(cids[0])?.byteLength ?? 0 }
}

export function baseMeta (cfg: LmConfig): ModelMeta {
  return { format: 'openledger/model/1', kind: 'lm', name: 'bench-lm', config: { ...cfg }, tokenizer: null }
}

/** The server's cache: a miss fetches the file from the store and decodes it (every tensor checked). */
export function adapterCache (store: AdapterStore, base: { cid: string, meta: ModelMeta }, maxBytes: number): AdapterCache<ParamSet> {
  return new AdapterCache<ParamSet>({
    maxBytes,
    load: async cid => {
      const file = store.bytes.get(cid)
      if (file === undefined) throw new Error(`no adapter ${cid} in the store`)
      const { params } = decodeAdapter(file, base)
      return { value: params, bytes: tensorBytes(params) }
    }
  })
}

/** The base with one adapter merged into every target weight: what a single-adapter deployment runs. */
export function mergedBase (base: ParamSet, adapter: ParamSet, lora: LoraConfig): ParamSet {
  const out: ParamSet = new Map(base)
  for (const target of lora.targets) {
    const w = base.get(target)
    const a = adapter.get(loraA(target))
    const b = adapter.get(loraB(target))
    if (w === undefined || a === undefined || b === undefined) throw new Error(`cannot merge ${target}`)
    out.set(target, { shape: w.shape, data: mergeAdapter(w.data, w.shape[0], w.shape[1], a.data, b.data, lora.rank, lora.alpha / lora.rank) })
  }
  return out
}
