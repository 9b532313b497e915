// The transformer's forward pass as graph nodes, shared by every graph the model needs
// (training, evaluation, prefill and KV-cached decoding), so they cannot drift apart.

import type { Graph } from '../../graph/graph.ts'
import { add, concat, gather, gelu, layerNorm, matmul, reshape, scale, softmax, transpose, transposeLast2 } from '../../graph/ops.ts'
import { linear, type LoraBinding } from '../lora.ts'
import type { LmConfig } from './config.ts'

export interface ForwardInputs {
  /** int64 [B, T] token ids. */
  tokens: string
  /** int64 [B, T] positions (0-based, < context). */
  positions: string
  /** Float [T, T+P] or [B, 1, T, T+P]: 0 where attention is allowed, a large negative number where not. */
  attnBias: string
  /** Per layer [B, H, P, hd] keys and values already computed (KV cache); omit for no cache. */
  past?: { keys: string[], values: string[] }
  lora?: LoraBinding
}

export interface ForwardOutputs {
  /** Final-norm hidden states [B, T, d]. */
  hidden: string
  /** Per layer keys and values including this call's tokens [B, H, P+T, hd]. */
  present: { keys: string[], values: string[] }
}

export function lmForward (g: Graph, cfg: LmConfig, w: ReadonlyMap<string, string>, inp: ForwardInputs): ForwardOutputs {
  const p = (name: string) => w.get(name) as string
  const hd = cfg.dModel / cfg.heads
  const lin = (x: string, name: string) => linear(g, x, name, p(name), inp.lora)
  // [B, T, d] -> [B, H, T, hd]
  const heads = (x: string) => transpose(g, reshape(g, x, [0, 0, cfg.heads, hd]), [0, 2, 1, 3])

  let x = add(g, gather(g, p('tok_emb'), inp.tokens), gather(g, p('pos_emb'), inp.positions))
  const present = { keys: [] as string[], values: [] as string[] }
  for (let l = 0; l < cfg.layers; l++) {
    const pre = `l${l}`
    const h = layerNorm(g, x, p(`${pre}.ln1.scale`), p(`${pre}.ln1.bias`))
    let k = heads(lin(h, `${pre}.attn.wk`))
    let v = heads(lin(h, `${pre}.attn.wv`))
    const q = heads(lin(h, `${pre}.attn.wq`))
    if (inp.past !== undefined) {
      k = concat(g, [inp.past.keys[l], k], 2)
      v = concat(g, [inp.past.values[l], v], 2)
    }
    present.keys.push(k)
    present.values.push(v)
    const scores = add(g, scale(g, matmul(g, q, transposeLast2(g, k)), 1 / Math.sqrt(hd)), inp.attnBias)
    const attended = transpose(g, matmul(g, softmax(g, scores, -1), v), [0, 2, 1, 3])
    x = add(g, x, lin(reshape(g, attended, [0, 0, cfg.dModel]), `${pre}.attn.wo`))
    const h2 = layerNorm(g, x, p(`${pre}.ln2.scale`), p(`${pre}.ln2.bias`))
    const up = gelu(g, add(g, lin(h2, `${pre}.mlp.up`), p(`${pre}.mlp.up_bias`)))
    x = add(g, x, add(g, lin(up, `${pre}.mlp.down`), p(`${pre}.mlp.down_bias`)))
  }
  return { hidden: layerNorm(g, x, p('ln_f.scale'), p('ln_f.bias')), present }
}

/** Logits over the vocabulary from [N, d] rows, through the tied token table. */
export function lmHead (g: Graph, w: ReadonlyMap<string, string>, rows: string): string {
  return g.op('Gemm', [rows, w.get('tok_emb') as string], { transB: 1 })
}
