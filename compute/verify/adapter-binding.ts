// A receipt proves work was done; the adapter the worker hands the requester must be
// that work's product. Segment replays say nothing about the result file itself, so a
// worker could train honestly and deliver a random, stale or untouched adapter (or
// none). The binding is exact and cheap, and every verifier checks it on every job: the
// adapter names the run (job fingerprint and checkpoint chain) and its tensors are bit
// for bit the parameters of the receipt's last checkpoint.

import type { Adapter } from '../models/artifacts.ts'
import { checkpointHash, decodeCheckpoint } from '../train/checkpoint.ts'
import type { TrainTask } from '../train/trainer.ts'
import type { TrainingReceipt } from './sample.ts'
import { adapterMatchesCheckpoint } from './training.ts'

export interface BindingVerdict {
  ok: boolean
  /** Why the adapter is not the run's product, when it is not. */
  reason?: 'final-checkpoint-hash' | 'final-checkpoint-undecodable' | 'provenance-job' | 'provenance-chain' | 'tensor-values'
  details?: Record<string, unknown>
}

export function checkAdapterBinding (opts: { task: TrainTask, receipt: TrainingReceipt, adapter: Adapter, final: Uint8Array }): BindingVerdict {
  const { task, receipt, adapter, final } = opts
  const last = receipt.chain.at(-1)
  if (last === undefined || checkpointHash(final) !== last.hash) return { ok: false, reason: 'final-checkpoint-hash', details: { expected: last?.hash, actual: checkpointHash(final) } }
  try {
    decodeCheckpoint(final, task.specs)
  } catch (err) {
    return { ok: false, reason: 'final-checkpoint-undecodable', details: { cause: (err as Error).message } }
  }
  const provenance = (adapter.meta as { provenance?: { job?: unknown, checkpoints?: unknown } }).provenance
  if (provenance?.job !== task.job) return { ok: false, reason: 'provenance-job', details: { adapter: provenance?.job, task: task.job } }
  const chain = Array.isArray(provenance.checkpoints) ? provenance.checkpoints as Array<{ step?: unknown, hash?: unknown }> : []
  if (chain.length !== receipt.chain.length || chain.some((c, i) => c.step !== receipt.chain[i].step || c.hash !== receipt.chain[i].hash)) {
    return { ok: false, reason: 'provenance-chain', details: { adapter: chain.length, receipt: receipt.chain.length } }
  }
  if (!adapterMatchesCheckpoint(adapter.params, final, task.specs)) return { ok: false, reason: 'tensor-values' }
  return { ok: true }
}
