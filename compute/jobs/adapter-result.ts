// What every adapter job returns: the adapter file's contents, with the metadata that
// names its base, its LoRA shape, the datanet version and hyper-parameters it came
// from, its held-out metrics and its checkpoint chain (what a verifier replays).

import type { Adapter } from '../models/artifacts.ts'
import type { LoraConfig } from '../models/lora.ts'
import type { TrainResult } from '../train/trainer.ts'

export interface AdapterJobResult<M> {
  adapter: Adapter
  before: M
  after: M
  /** Fingerprint of the job; its checkpoints carry it. */
  job: string
  run: TrainResult
}

export function adapterResult<M> (opts: {
  kind: 'lm' | 'classifier'
  baseCid: string
  lora: LoraConfig
  datanet?: { id: string, version: string }
  hyper: object
  job: string
  run: TrainResult
  before: M
  after: M
  /** How much data the job trained on, e.g. { trainTokens } or { trainExamples }. */
  data: Record<string, number>
}): AdapterJobResult<M> {
  const { lora, run, before, after } = opts
  const adapter: Adapter = {
    meta: {
      format: 'openledger/adapter/1',
      kind: opts.kind,
      base: opts.baseCid,
      lora: { rank: lora.rank, alpha: lora.alpha, targets: [...lora.targets] },
      ...(opts.datanet !== undefined ? { datanet: opts.datanet } : {}),
      hyper: { ...opts.hyper },
      metrics: { before, after, ...opts.data },
      provenance: { job: opts.job, checkpoints: run.chain }
    },
    params: run.params
  }
  return { adapter, before, after, job: opts.job, run }
}
