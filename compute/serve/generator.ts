// Batched generation on one loaded base model with a KV cache. In adapter mode every
// sequence of a batch brings its own LoRA factors: they are gathered into per-sequence
// tensors once per batch, and every step of the batch is one ORT call (the CPU form of
// Punica's / S-LoRA's batched LoRA). In plain mode the graph has no adapter path: the
// base alone, or a base with one adapter merged into its weights (the baseline).

import { Tensor } from 'onnxruntime-node'
import { InvalidRequestError, ShapeMismatchError } from '../errors.ts'
import { buildLmDecodeGraph, MASKED } from '../models/lm/graphs.ts'
import type { LmConfig } from '../models/lm/config.ts'
import type { LoraConfig } from '../models/lora.ts'
import type { ParamSpec } from '../models/param-spec.ts'
import { Session } from '../onnx/session.ts'
import { Rng } from '../random.ts'
import { sizeOf, type ParamSet } from '../tensors/param-set.ts'

export interface GenerationRequest {
  prompt: Int32Array
  maxNewTokens: number
  /** LoRA factors (adapter mode only); undefined or null runs the base model. */
  adapter?: ParamSet | null
  /** 0 (default): greedy. */
  temperature?: number
  seed?: number
  /** Generation stops after this token (it is included). */
  stopToken?: number
}

export interface GenerationResult {
  tokens: Int32Array
}

export interface GeneratorOptions {
  cfg: LmConfig
  base: ParamSet
  /** The adapters this generator serves (their rank, alpha and targets); omit for plain mode. */
  lora?: LoraConfig
  threads?: number
}

export class LmGenerator {
  readonly cfg: LmConfig
  readonly lora: LoraConfig | undefined
  private readonly session: Session
  private readonly bank: ParamSpec[]
  private readonly names: { pastKeys: string[], pastValues: string[], presentKeys: string[], presentValues: string[] }

  private constructor (opts: GeneratorOptions, session: Session, graph: ReturnType<typeof buildLmDecodeGraph>) {
    this.cfg = opts.cfg
    this.lora = opts.lora
    this.session = session
    this.bank = graph.bank
    this.names = graph
  }

  static async create (opts: GeneratorOptions): Promise<LmGenerator> {
    const graph = buildLmDecodeGraph(opts.cfg, opts.base, opts.lora, 'perSequence')
    return new LmGenerator(opts, await Session.create(graph.model, { threads: opts.threads }), graph)
  }

  /** Runs the requests as one batch; all of them step together. */
  async generate (requests: readonly GenerationRequest[]): Promise<GenerationResult[]> {
    const B = requests.length
    if (B === 0) return []
    const { cfg } = this
    const L = Math.max(...requests.map(r => r.prompt.length))
    const maxNew = Math.max(...requests.map(r => r.maxNewTokens))
    for (const r of requests) {
      if (r.prompt.length === 0) throw new InvalidRequestError('empty prompt')
      if (!Number.isInteger(r.maxNewTokens) || r.maxNewTokens < 1) throw new InvalidRequestError('maxNewTokens must be a positive integer', { maxNewTokens: r.maxNewTokens })
      if (r.prompt.length + r.maxNewTokens > cfg.context) throw new InvalidRequestError('prompt plus generation exceeds the model context', { prompt: r.prompt.length, maxNewTokens: r.maxNewTokens, context: cfg.context })
      for (const t of r.prompt) if (!Number.isInteger(t) || t < 0 || t >= cfg.vocab) throw new InvalidRequestError('prompt token out of vocabulary', { token: t, vocab: cfg.vocab })
    }
    const adapterFeeds = this.gatherAdapters(requests)
    const pads = requests.map(r => L - r.prompt.length)
    const rngs = requests.map(r => new Rng(r.seed ?? 0))
    const out: number[][] = requests.map(() => [])
    const done = requests.map(() => false)
    const hd = cfg.dModel / cfg.heads
    let past: Tensor[] = []
    for (let l = 0; l < 2 * cfg.layers; l++) past.push(new Tensor('float32', new Float32Array(0), [B, cfg.heads, 0, hd]))

    // Prefill: left-padded prompts, pad keys masked.
    let tokens = new BigInt64Array(B * L)
    let positions = new BigInt64Array(B * L)
    let bias = new Float32Array(B * L * L)
    requests.forEach((r, i) => {
      for (let t = 0; t < L; t++) {
        const real = t - pads[i]
        tokens[i * L + t] = BigInt(real >= 0 ? r.prompt[real] : 0)
        positions[i * L + t] = BigInt(Math.max(0, real))
        for (let j = 0; j < L; j++) if (j > t || (j < pads[i] && t >= pads[i])) bias[(i * L + t) * L + j] = MASKED
      }
    })
    let seqLen = L
    let total = L
    for (let step = 0; step < maxNew; step++) {
      const feeds: Record<string, Tensor> = {
        tokens: new Tensor('int64', tokens, [B, seqLen]),
        positions: new Tensor('int64', positions, [B, seqLen]),
        attn_bias: new Tensor('float32', bias, [B, 1, seqLen, total]),
        ...adapterFeeds
      }
      for (let l = 0; l < cfg.layers; l++) {
        feeds[this.names.pastKeys[l]] = past[2 * l]
        feeds[this.names.pastValues[l]] = past[2 * l + 1]
      }
      const result = await this.session.run(feeds)
      past = []
      for (let l = 0; l < cfg.layers; l++) past.push(result[this.names.presentKeys[l]], result[this.names.presentValues[l]])
      const logits = result.logits.data as Float32Array
      const next = new BigInt64Array(B)
      requests.forEach((r, i) => {
        const row = logits.subarray(i * cfg.vocab, (i + 1) * cfg.vocab)
        const token = pick(row, r.temperature ?? 0, rngs[i])
        next[i] = BigInt(token)
        if (done[i] || out[i].length >= r.maxNewTokens) return
        out[i].push(token)
        if (token === r.stopToken || out[i].length >= r.maxNewTokens) done[i] = true
      })
      if (done.every(Boolean)) break
      // Next step: one new token per sequence at its own position; pad keys stay masked.
      total += 1
      seqLen = 1
      tokens = next
      positions = BigInt64Array.from(requests, (r, i) => BigInt(r.prompt.length + out[i].length - 1))
      bias = new Float32Array(B * total)
      for (let i = 0; i < B; i++) for (let j = 0; j < pads[i]; j++) bias[i * total + j] = MASKED
    }
    return out.map(tokensOut => ({ tokens: Int32Array.from(tokensOut) }))
  }

  /** Each request's factors copied into per-sequence tensors [B, ...] (zeros: no adapter). */
  private gatherAdapters (requests: readonly GenerationRequest[]): Record<string, Tensor> {
    const feeds: Record<string, Tensor> = {}
    if (this.lora === undefined) {
      if (requests.some(r => r.adapter != null)) throw new ShapeMismatchError('this generator serves no adapters')
      return feeds
    }
    const B = requests.length
    for (const spec of this.bank) {
      const size = sizeOf(spec.shape)
      const data = new Float32Array(B * size)
      requests.forEach((r, i) => {
        if (r.adapter == null) return
        const t = r.adapter.get(spec.name)
        if (t === undefined || t.data.length !== size) throw new ShapeMismatchError('adapter does not fit this base model', { tensor: spec.name, expected: spec.shape, actual: t?.shape })
        data.set(t.data, i * size)
      })
      feeds[spec.name] = new Tensor('float32', data, [B, ...spec.shape])
    }
    return feeds
  }

  async release (): Promise<void> {
    await this.session.release()
  }
}

function pick (logits: Float32Array, temperature: number, rng: Rng): number {
  let best = 0
  for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v
  if (temperature <= 0) return best
  let sum = 0
  const probs = new Float64Array(logits.length)
  for (let v = 0; v < logits.length; v++) sum += (probs[v] = Math.exp((logits[v] - logits[best]) / temperature))
  let u = rng.uniform() * sum
  for (let v = 0; v < logits.length; v++) if ((u -= probs[v]) <= 0) return v
  return best
}
