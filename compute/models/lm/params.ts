// The language model's parameters, GPT-2 style: token and position embeddings (the
// token table doubles as the output projection), pre-norm blocks, a final norm.

import type { ParamSpec } from '../param-spec.ts'
import type { LmConfig } from './config.ts'

export function lmParamSpecs (cfg: LmConfig): ParamSpec[] {
  const { vocab, dModel: d, layers, ffn, context } = cfg
  const std = 0.02
  const residualStd = std / Math.sqrt(2 * layers)
  const specs: ParamSpec[] = [
    { name: 'tok_emb', shape: [vocab, d], init: { kind: 'normal', std }, decay: true },
    { name: 'pos_emb', shape: [context, d], init: { kind: 'normal', std: 0.01 }, decay: false }
  ]
  for (let l = 0; l < layers; l++) {
    const p = `l${l}`
    specs.push(
      { name: `${p}.ln1.scale`, shape: [d], init: { kind: 'ones' }, decay: false },
      { name: `${p}.ln1.bias`, shape: [d], init: { kind: 'zeros' }, decay: false },
      { name: `${p}.attn.wq`, shape: [d, d], init: { kind: 'normal', std }, decay: true },
      { name: `${p}.attn.wk`, shape: [d, d], init: { kind: 'normal', std }, decay: true },
      { name: `${p}.attn.wv`, shape: [d, d], init: { kind: 'normal', std }, decay: true },
      { name: `${p}.attn.wo`, shape: [d, d], init: { kind: 'normal', std: residualStd }, decay: true },
      { name: `${p}.ln2.scale`, shape: [d], init: { kind: 'ones' }, decay: false },
      { name: `${p}.ln2.bias`, shape: [d], init: { kind: 'zeros' }, decay: false },
      { name: `${p}.mlp.up`, shape: [d, ffn], init: { kind: 'normal', std }, decay: true },
      { name: `${p}.mlp.up_bias`, shape: [ffn], init: { kind: 'zeros' }, decay: false },
      { name: `${p}.mlp.down`, shape: [ffn, d], init: { kind: 'normal', std: residualStd }, decay: true },
      { name: `${p}.mlp.down_bias`, shape: [d], init: { kind: 'zeros' }, decay: false }
    )
  }
  specs.push(
    { name: 'ln_f.scale', shape: [d], init: { kind: 'ones' }, decay: false },
    { name: 'ln_f.bias', shape: [d], init: { kind: 'zeros' }, decay: false }
  )
  return specs
}
