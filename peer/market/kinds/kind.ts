// A kind of market job (train a LoRA adapter, run an inference batch, attribute an
// adapter) as the market's roles need it, behind one interface: the requester's announce
// spec, the bidder's can-I and how-long, the worker's work (with the forced error it
// plants when its draw asks), and the verifier's check of a result against its receipt.
// The roles never ask which kind a job is; they ask its kind.
import { id as keccakText, keccak256 } from 'ethers'
import { BadReceiptError } from '../../../compute/verify/errors.ts'
import type { JobAnnounce, JobResult, JobVerdict } from '../../../protocols/messages/index.ts'
import type { TrainRequest } from '../../models/model-factory.ts'
import type { MarketBehaviour } from '../adversaries/behaviour.ts'
import type { JobState } from '../job-state.ts'
import { receiptCid } from '../receipts.ts'
import type { AttributeSubmit, InferSubmit } from './requests.ts'

export type KindName = JobAnnounce['kind']

/** A result message before its worker signs its Participation (the worker does, as it sends it). */
export type UnsignedResult = Omit<JobResult, 'participation'>

/** A result as delivered: the message, the exact receipt bytes it names, and the checkpoints its worker serves (training). */
export interface Delivery {
  result: UnsignedResult
  receiptBytes: Uint8Array
  checkpointDir?: string
}

export interface Work {
  delivered: Delivery
  /** When the job drew a forced error: the honest result, held back until the reveal (`delivered` carries the planted fault). */
  real?: Delivery
  /** How long producing the result took. */
  computeMs: number
  /** The delivered result is an adversary's lie (demonstrations). */
  cheated: boolean
}

/** A verifier's finding on one result: approved, or the evidence (and, for a replay that disagreed, the claim it defends in a dispute). */
export interface Check {
  ok: boolean
  /** Segments, requests or examples recomputed. */
  checked: number[]
  computeMs?: number
  evidence?: object
  dispute?: JobVerdict['dispute']
}

export interface WorkTools {
  state: JobState
  behaviour: MarketBehaviour
  /** Whether the job drew a forced error for this worker. */
  drawsForcedError: () => Promise<boolean>
}

export interface CheckTools {
  state: JobState
  result: JobResult
  receiptBytes: Uint8Array
  /** The assigned worker's peer id: where receipt entries come from. */
  workerPeer: string
  /** This verifier's address and its beacon over the job and the receipt: the sample's seed. */
  verifier: string
  beacon: string
  /** The registry's audit rate, as a share. */
  fraction: number
  behaviour: MarketBehaviour
}

export interface JobKind<Request> {
  readonly name: KindName
  /** Requester: the announce spec of a request, checked before any OPEN moves. */
  announceSpec: (req: Request) => Promise<JobAnnounce['spec']>
  /** Bidder: whether this peer can take the job, holding a base model of kind `baseKind`. */
  canTake: (a: JobAnnounce, baseKind: string) => Promise<boolean>
  /** Bidder: a generous time to deliver (the requester replaces a worker at twice it). */
  etaMs: (a: JobAnnounce, baseKind: string, slowdown?: number) => number
  work: (t: WorkTools) => Promise<Work>
  /** Verifier: what its beacon signs, from the receipt bytes; bytes that do not decode hash raw (check refuses them). */
  beaconSubject: (receiptBytes: Uint8Array) => string
  check: (t: CheckTools) => Promise<Check>
  /** Requester: after the job's escrow was released. */
  afterRelease?: (state: JobState) => Promise<void>
}

/** The kinds this peer knows; a request names exactly one. */
export interface Kinds {
  train: JobKind<TrainRequest>
  infer: JobKind<InferSubmit>
  attribute: JobKind<AttributeSubmit>
}

/**
 * What a verifier's beacon signs of a receipt: its own hash, or, for bytes that do not
 * decode (the check refuses them), their keccak: a beacon exists either way.
 */
export function receiptSubject (bytes: Uint8Array, hashOfDecoded: (bytes: Uint8Array) => string): string {
  try {
    return hashOfDecoded(bytes)
  } catch (err) {
    if (!(err instanceof BadReceiptError)) throw err
    return keccak256(bytes).slice(2)
  }
}

/** The job-result/1 message for a result and its receipt bytes (the receipt named by CID, its head and length). */
export async function resultMessage (r: { job: string, worker: string, result: string, receiptBytes: Uint8Array, head: string, entries: number, every: number, steps: number }): Promise<UnsignedResult> {
  return {
    job: r.job,
    worker: r.worker,
    result: r.result,
    resultHash: keccakText(r.result),
    receipt: { head: '0x' + r.head, entries: r.entries, every: r.every, steps: r.steps, chain: await receiptCid(r.receiptBytes) }
  }
}
