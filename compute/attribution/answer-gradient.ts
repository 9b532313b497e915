// The gradient of one answer's loss (its tokens given the prompt) with respect to the
// adapter's LoRA factors: what an answer "pulls on". Compared, as a sketch, with the
// sketches of the training contributions' gradients, it says which contributions the
// answer resembles in the model's own terms, beyond the words it copies.

import { InvalidRequestError } from '../errors.ts'
import type { LmConfig } from '../models/lm/config.ts'
import type { LoraConfig } from '../models/lora.ts'
import type { ParamSet } from '../tensors/param-set.ts'
import { buildLmExampleGrads, ExampleGradients } from './example-grads.ts'

export class AnswerGradients {
  readonly cfg: LmConfig
  private readonly grads: ExampleGradients

  private constructor (cfg: LmConfig, grads: ExampleGradients) {
    this.cfg = cfg
    this.grads = grads
  }

  static async create (cfg: LmConfig, base: ParamSet, lora: LoraConfig, threads?: number): Promise<AnswerGradients> {
    return new AnswerGradients(cfg, await ExampleGradients.create(buildLmExampleGrads(cfg, base, lora, 1, cfg.context), threads))
  }

  get dims (): number { return this.grads.graph.dims }

  /** d-vector: gradient of the summed loss of `answer`'s tokens after `prompt`. */
  async of (adapter: ParamSet, prompt: ArrayLike<number>, answer: ArrayLike<number>): Promise<Float32Array> {
    const T = this.cfg.context
    const all = [...Array.from(prompt), ...Array.from(answer)]
    if (prompt.length < 1 || answer.length < 1 || all.length > T + 1) throw new InvalidRequestError('prompt and answer must be non-empty and fit the context', { prompt: prompt.length, answer: answer.length, context: T })
    const tokens = new BigInt64Array(T)
    const targets = new BigInt64Array(T)
    const mask = new Float32Array(T)
    for (let t = 0; t + 1 < all.length; t++) {
      tokens[t] = BigInt(all[t])
      targets[t] = BigInt(all[t + 1])
      // Only the answer's tokens count: position t predicts token t + 1.
      if (t + 1 >= prompt.length) mask[t] = 1
    }
    const dims = [1, T]
    const r = await this.grads.run(adapter, { tokens: { data: tokens, dims }, targets: { data: targets, dims }, mask: { data: mask, dims } }, 1)
    return r.grads
  }

  async release (): Promise<void> {
    await this.grads.release()
  }
}
