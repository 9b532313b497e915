import assert from 'node:assert/strict'
import { LmGenerator } from '../compute/serve/generator.ts'
import { lmParamSpecs } from '../compute/models/lm/params.ts'
import type { LmConfig } from '../compute/models/lm/config.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { loraSpecs, mergeAdapter, type LoraConfig } from '../compute/models/lora.ts'
import { Rng } from '../compute/random.ts'
import type { ParamSet } from '../compute/tensors/param-set.ts'
import { InvalidRequestError, ShapeMismatchError } from '../compute/errors.ts'
import { expectRejects } from './helpers/expect-throws.ts'

const cfg: LmConfig = { vocab: 40, dModel: 16, layers: 2, heads: 2, ffn: 32, context: 24 }
const lora: LoraConfig = { rank: 4, alpha: 8, targets: ['l0.attn.wq', 'l0.attn.wv', 'l1.attn.wq', 'l1.attn.wv'] }
const base = initParams(lmParamSpecs(cfg), 1)
// A sharper random model, so greedy choices are not near-ties.
for (const t of base.values()) for (let i = 0; i < t.data.length; i++) t.data[i] *= 8

function randomAdapter (seed: number): ParamSet {
  const a = initParams(loraSpecs(lmParamSpecs(cfg), lora), seed)
  const rng = new Rng(seed)
  for (const t of a.values()) for (let i = 0; i < t.data.length; i++) t.data[i] = (rng.uniform() - 0.5)
  return a
}

function merged (adapter: ParamSet): ParamSet {
  const out = new Map(base)
  for (const target of lora.targets) {
    const w = base.get(target)!
    out.set(target, { shape: w.shape, data: mergeAdapter(w.data, w.shape[0], w.shape[1], adapter.get(`${target}.lora_a`)!.data, adapter.get(`${target}.lora_b`)!.data, lora.rank, lora.alpha / lora.rank) })
  }
  return out
}

const prompts = [Int32Array.of(1, 2, 3, 4, 5, 6), Int32Array.of(7), Int32Array.of(9, 8, 7)]

describe('LoRA generator (batched, KV cache)', function () {
  this.timeout(60_000)

  it('a batch of different prompt lengths gives each sequence what it gets alone', async () => {
    const gen = await LmGenerator.create({ cfg, base })
    const together = await gen.generate(prompts.map(prompt => ({ prompt, maxNewTokens: 8 })))
    for (let i = 0; i < prompts.length; i++) {
      const [alone] = await gen.generate([{ prompt: prompts[i], maxNewTokens: 8 }])
      assert.deepEqual(Array.from(together[i].tokens), Array.from(alone.tokens), `sequence ${i}`)
      assert.equal(alone.tokens.length, 8)
    }
    await gen.release()
  })

  it('one batch mixing three adapters and the bare base matches each merged model alone', async () => {
    const adapters = [randomAdapter(11), randomAdapter(12), randomAdapter(13)]
    const gen = await LmGenerator.create({ cfg, base, lora })
    const mixed = await gen.generate([
      { prompt: prompts[0], maxNewTokens: 10, adapter: adapters[0] },
      { prompt: prompts[1], maxNewTokens: 10, adapter: adapters[1] },
      { prompt: prompts[2], maxNewTokens: 10, adapter: null },
      { prompt: prompts[0], maxNewTokens: 10, adapter: adapters[2] }
    ])
    const expectations: [number, ParamSet, Int32Array][] = [[0, merged(adapters[0]), prompts[0]], [1, merged(adapters[1]), prompts[1]], [2, base, prompts[2]], [3, merged(adapters[2]), prompts[0]]]
    const outputs = new Set<string>()
    for (const [row, weights, prompt] of expectations) {
      const plain = await LmGenerator.create({ cfg, base: weights })
      const [alone] = await plain.generate([{ prompt, maxNewTokens: 10 }])
      assert.deepEqual(Array.from(mixed[row].tokens), Array.from(alone.tokens), `row ${row}`)
      outputs.add(alone.tokens.join(','))
      await plain.release()
    }
    assert.ok(outputs.size >= 3, 'the adapters actually change what is generated')
    await gen.release()
  })

  it('stops at the stop token, samples reproducibly by seed, and refuses bad requests', async () => {
    const gen = await LmGenerator.create({ cfg, base, lora })
    const [greedy] = await gen.generate([{ prompt: prompts[0], maxNewTokens: 6 }])
    const stop = greedy.tokens[2]
    const [stopped] = await gen.generate([{ prompt: prompts[0], maxNewTokens: 6, stopToken: stop }])
    assert.ok(stopped.tokens.length <= 3 && stopped.tokens[stopped.tokens.length - 1] === stop)
    const s1 = await gen.generate([{ prompt: prompts[1], maxNewTokens: 12, temperature: 1, seed: 5 }])
    const s2 = await gen.generate([{ prompt: prompts[1], maxNewTokens: 12, temperature: 1, seed: 5 }])
    assert.deepEqual(s1[0].tokens, s2[0].tokens)
    await expectRejects(gen.generate([{ prompt: new Int32Array(0), maxNewTokens: 1 }]), InvalidRequestError)
    await expectRejects(gen.generate([{ prompt: prompts[0], maxNewTokens: 30 }]), InvalidRequestError)
    await expectRejects(gen.generate([{ prompt: Int32Array.of(cfg.vocab), maxNewTokens: 1 }]), InvalidRequestError)
    const wrong = randomAdapter(3)
    wrong.set('l0.attn.wq.lora_a', { shape: [16, 2], data: new Float32Array(32) })
    await expectRejects(gen.generate([{ prompt: prompts[0], maxNewTokens: 2, adapter: wrong }]), ShapeMismatchError)
    await gen.release()
  })
})
