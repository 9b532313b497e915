// A job's announce and the requests it stands for, both ways: a training request as
// flat announce parameters and back (with the job id mixed into the seed), an inference
// batch's spec and an attribution job's. Pure, so requester, worker and verifier read a
// job alike.
import { id as keccakText } from 'ethers'
import type { JobAnnounce } from '../../protocols/messages/index.ts'
import { UsageError } from '../errors.ts'
import type { AttributionJobSpec } from './kinds/attribution-jobs.ts'
import type { InferenceJobSpec } from './kinds/inference-jobs.ts'
import type { TrainRequest } from '../models/model-factory.ts'

/** Steps per checkpoint of adapter jobs (their default): the unit a verifier replays and a replacement worker inherits. */
export const CHECKPOINT_EVERY = 50

/** The training request's fields as announce parameters (flat, typed). */
export function trainParams (t: TrainRequest): Record<string, number | string | boolean> {
  const out: Record<string, number | string | boolean> = { datanet: t.datanet, base: t.base }
  for (const k of ['rank', 'alpha', 'steps', 'batch', 'lr', 'seq', 'seed', 'label', 'heldOut'] as const) if (t[k] !== undefined) out[k] = t[k] as number | string
  return out
}

export function inferSpecOf (a: JobAnnounce): InferenceJobSpec {
  const p = a.spec.params
  if (a.spec.base === undefined || typeof p.prompts !== 'string' || typeof p.maxNewTokens !== 'number') throw new UsageError('the inference job names no base, prompts or maxNewTokens')
  return { job: a.job, base: a.spec.base, ...(a.spec.adapter !== undefined ? { adapter: a.spec.adapter } : {}), prompts: p.prompts, maxNewTokens: p.maxNewTokens }
}

/** An attribution job: the adapter, base and datanet version by CID; the training job, its worker and its file filter in the parameters. */
export function attributionSpecOf (a: JobAnnounce): AttributionJobSpec {
  const { adapter, base, datanet, version, params: p } = a.spec
  if (adapter === undefined || base === undefined || datanet === undefined || version === undefined || typeof p.trainJob !== 'string') throw new UsageError('the attribution job names no adapter, base, datanet version or training job')
  if (!/^0x[0-9a-f]{64}$/.test(p.trainJob)) throw new UsageError('the attribution job\'s training job is not a job id')
  return {
    job: a.job, adapter, base, datanet, version, trainJob: p.trainJob,
    ...(typeof p.trainer === 'string' ? { trainer: p.trainer } : {}),
    ...(typeof p.label === 'string' ? { label: p.label } : {}),
    ...(typeof p.heldOut === 'number' ? { heldOut: p.heldOut } : {})
  }
}

export function trainRequestOf (a: JobAnnounce): TrainRequest {
  const p = a.spec.params
  const num = (k: string): number | undefined => typeof p[k] === 'number' ? p[k] as number : undefined
  if (typeof p.datanet !== 'string' || typeof p.base !== 'string') throw new UsageError('the job names no datanet or base')
  return { datanet: p.datanet, base: p.base, rank: num('rank'), alpha: num('alpha'), steps: num('steps'), batch: num('batch'), lr: num('lr'), seq: num('seq'), seed: jobSeed(a.job, num('seed')), label: typeof p.label === 'string' ? p.label : undefined, heldOut: num('heldOut') }
}

/**
 * The training seed of a market job: the requester's seed mixed with the job id. Two
 * jobs never share a run (initial adapter, batch order, fingerprint), so another job's
 * result, however identical its spec, is never this job's: copying does not verify.
 */
export function jobSeed (job: string, seed: number | undefined): number {
  return Number.parseInt(keccakText(`openledger/job-seed/1 ${job} ${seed ?? 0}`).slice(2, 10), 16)
}
