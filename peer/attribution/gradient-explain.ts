// The second half of an answer's explanation: which training contributions the answer
// resembles in gradient space. `openledger attribute` leaves, next to the job's
// checkpoints, a sketch of each contribution's summed gradient at the final adapter;
// here the answer's own gradient is sketched the same way and compared by cosine.
// Shares: the base model gets 1 - (the best positive similarity); the rest is split in
// proportion to each contribution's positive similarity. No sketches (the adapter was
// not attributed on this peer): the gradient part says so instead of guessing.
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import { AnswerGradients } from '../../compute/attribution/answer-gradient.ts'
import { CountSketch, cosine } from '../../compute/attribution/sketch.ts'
import type { Adapter, Model } from '../../compute/models/artifacts.ts'
import type { LmConfig } from '../../compute/models/lm/config.ts'
import { decodeTensors, encodeTensors } from '../../compute/tensors/tensor-file.ts'
import { writeFileAtomic } from '../../storage/atomic-file.ts'
import type { ModelRegistry } from '../models/model-registry.ts'

export const SKETCHES_FORMAT = 'openledger/gradient-sketches/1'
const SKETCHES_FILE = 'sketches.safetensors'
const MAX_SKETCH_BYTES = 64 * 1024 * 1024

interface SketchMeta { format: string, adapter: string, k: number, seed: number, dims: number, contributors: Record<string, string> }

export interface GradientExplanation {
  method: 'countsketch-cosine'
  baseShare: number
  shares: Array<{ contribution: string, contributor: string, similarity: number, share: number }>
}

/** Written by attribute: one sketch per contribution, named by its CID. */
export async function saveSketches (jobDir: string, meta: SketchMeta, sketches: Map<string, Float32Array<ArrayBufferLike>>): Promise<void> {
  const tensors = new Map([...sketches].map(([cid, v]) => [cid, { shape: [v.length], data: Float32Array.from(v) }]))
  await writeFileAtomic(join(jobDir, SKETCHES_FILE), encodeTensors(tensors, meta))
}

export interface GradientExplainerOptions {
  registry: ModelRegistry
  jobDir: (job: string) => string
  threads?: number
}

export class GradientExplainer {
  private readonly opts: GradientExplainerOptions
  private readonly engines = new Map<string, Promise<AnswerGradients>>()

  constructor (opts: GradientExplainerOptions) {
    this.opts = opts
  }

  async explain (adapterCid: string, adapter: Adapter, base: Model, prompt: ArrayLike<number>, answer: ArrayLike<number>, top = 20): Promise<GradientExplanation | { unavailable: string }> {
    const entry = this.opts.registry.listAdapters().find(a => a.cid === adapterCid)
    if (entry?.job === undefined) return { unavailable: 'this adapter was not trained on this peer, so its contributions\' gradient sketches are not here' }
    let bytes: Uint8Array
    try { bytes = new Uint8Array(await readFile(join(this.opts.jobDir(entry.job), SKETCHES_FILE))) } catch { return { unavailable: 'no gradient sketches yet: run openledger attribute on this adapter first' } }
    const { params: sketches, meta } = decodeTensors(bytes, { maxBytes: MAX_SKETCH_BYTES })
    const m = meta as SketchMeta
    if (m.format !== SKETCHES_FORMAT || m.adapter !== adapterCid) return { unavailable: 'the gradient sketches on disk belong to another adapter' }
    if (answer.length === 0) return { method: 'countsketch-cosine', baseShare: 1, shares: [] }
    const key = `${adapter.meta.base}|${adapter.meta.lora.rank}|${adapter.meta.lora.targets.join(',')}`
    let p = this.engines.get(key)
    if (p == null) {
      p = AnswerGradients.create(base.meta.config as LmConfig, base.params, adapter.meta.lora, this.opts.threads)
      this.engines.set(key, p)
      p.catch(() => this.engines.delete(key))
    }
    const engine = await p
    if (engine.dims !== m.dims) return { unavailable: 'the sketches were made for another adapter shape' }
    const context = engine.cfg.context
    // Keep the end of a long prompt: the answer's tokens are what is explained.
    const keep = Math.max(1, context + 1 - answer.length)
    const g = await engine.of(adapter.params, Array.from(prompt).slice(-keep), Array.from(answer).slice(0, context))
    const s = new CountSketch(m.dims, m.k, m.seed).apply(g)
    const sims = [...sketches].map(([cid, t]) => ({ contribution: cid, contributor: m.contributors[cid] ?? '', similarity: cosine(s, t.data) }))
    const best = Math.max(0, ...sims.map(x => x.similarity))
    const total = sims.reduce((acc, x) => acc + Math.max(0, x.similarity), 0)
    const shares = sims
      .map(x => ({ ...x, share: total > 0 ? best * Math.max(0, x.similarity) / total : 0 }))
      .sort((a, b) => b.share - a.share || (a.contribution < b.contribution ? -1 : 1))
    return { method: 'countsketch-cosine', baseShare: 1 - best, shares: shares.slice(0, top) }
  }

  async stop (): Promise<void> {
    for (const p of this.engines.values()) await (await p.catch(() => undefined))?.release()
    this.engines.clear()
  }
}
