// Training checkpoints: the trainable parameters, the optimizer's moments and the step,
// in the tensor-file format. Each checkpoint names the hash of the one before it and
// carries the losses of the steps in between, so the list of checkpoint hashes is a
// hash chain over the whole run: a verifier replays any segment from checkpoint i and
// must arrive at checkpoint i+1 (bit for bit on the same machine and thread count).

import { createHash } from 'node:crypto'
import { z } from 'zod'
import { MalformedArtifactError, ShapeMismatchError } from '../errors.ts'
import type { ParamSpec } from '../models/param-spec.ts'
import { decodeTensors, encodeTensors } from '../tensors/tensor-file.ts'
import type { ParamSet } from '../tensors/param-set.ts'
import type { AdamWState } from './adamw.ts'

export const CHECKPOINT_FORMAT = 'openledger/checkpoint/1'
export const MAX_CHECKPOINT_BYTES = 1024 * 1024 * 1024

const hex64 = z.string().regex(/^[0-9a-f]{64}$/)
const MetaSchema = z.strictObject({
  format: z.literal(CHECKPOINT_FORMAT),
  /** Fingerprint of the job (data, model, hyper-parameters, seed): a checkpoint of another job is refused. */
  job: hex64,
  step: z.number().int().nonnegative(),
  prev: hex64.nullable(),
  /** Loss of every step since the previous checkpoint, in order. */
  losses: z.array(z.number()).max(1_000_000)
})

export type CheckpointMeta = z.infer<typeof MetaSchema>

export interface Checkpoint {
  meta: CheckpointMeta
  params: ParamSet
  optimizer: AdamWState
}

export function checkpointHash (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export function encodeCheckpoint (c: Checkpoint): Uint8Array {
  const tensors: ParamSet = new Map()
  for (const [name, t] of c.params) tensors.set(`p:${name}`, t)
  for (const [name, t] of c.optimizer.m) tensors.set(`m:${name}`, t)
  for (const [name, t] of c.optimizer.v) tensors.set(`v:${name}`, t)
  return encodeTensors(tensors, { ...c.meta, adamT: c.optimizer.t })
}

/** Decodes and checks a checkpoint against the trainable parameters it must hold. */
export function decodeCheckpoint (bytes: Uint8Array, specs: readonly ParamSpec[]): Checkpoint {
  const { params: tensors, meta: raw } = decodeTensors(bytes, { maxBytes: MAX_CHECKPOINT_BYTES })
  const { adamT, ...rest } = (raw ?? {}) as Record<string, unknown>
  const parsed = MetaSchema.safeParse(rest)
  if (!parsed.success || !Number.isSafeInteger(adamT)) throw new MalformedArtifactError('checkpoint metadata is invalid', { issues: parsed.error?.issues.slice(0, 3).map(i => `${i.path.join('.')}: ${i.message}`) })
  const pick = (prefix: string): ParamSet => {
    const out: ParamSet = new Map()
    for (const spec of specs) {
      const t = tensors.get(`${prefix}:${spec.name}`)
      if (t === undefined || t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
        throw new ShapeMismatchError(`checkpoint lacks ${prefix}:${spec.name} or has it in the wrong shape`, { name: spec.name, expected: spec.shape, actual: t?.shape })
      }
      out.set(spec.name, t)
    }
    return out
  }
  const params = pick('p')
  if (tensors.size !== 3 * specs.length) throw new ShapeMismatchError('checkpoint holds tensors this job does not train', { tensors: tensors.size, expected: 3 * specs.length })
  return { meta: parsed.data, params, optimizer: { t: adamT as number, m: pick('m'), v: pick('v') } }
}
