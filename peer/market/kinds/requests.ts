// What a requester submits: exactly one of a LoRA training job, an inference batch or an
// attribution of a market training job's adapter, with the OPEN it escrows.
import type { TrainRequest } from '../../models/model-factory.ts'
import type { DeviceNeeds } from '../../../protocols/messages/index.ts'

/** An inference batch: the base (name or CID), optionally an adapter, the prompts, and the new tokens per prompt. */
export interface InferSubmit { base: string, adapter?: string, prompts: string[], maxNewTokens: number }

/** An attribution: the adapter, or the market training job that produced it (or both, which must agree). */
export interface AttributeSubmit { adapter?: string, trainJob?: string }

export interface SubmitRequest {
  /** Exactly one of these. */
  train?: TrainRequest
  infer?: InferSubmit
  attribute?: AttributeSubmit
  /** OPEN (decimal) put in escrow: the job's fee. */
  amount: string
  /** Verifiers to assign: at least the registry's verifier quorum, which is the default. */
  verifiers?: number
  bidWindowMs?: number
  /** What the worker's device must be: a kind (cpu, webgpu, cuda) and/or a least measured MatMul rate. */
  needs?: DeviceNeeds
}
