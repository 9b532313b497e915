// The task market's messages, one per step of a job's life: a requester announces a
// job whose OPEN is already in escrow (job-announce/1, gossip); peers bid (job-bid/1,
// request/response to the requester); the requester publishes who works and who
// verifies (job-assign/1, gossip); the worker reports its result with the receipt
// that lets any step be replayed (job-result/1); each verifier publishes its verdict,
// carrying the EIP-712 Completion signature the escrow releases on (job-verdict/1).
// Every one travels in a signed envelope: the signer is the requester, bidder, worker
// or verifier, and its Ethereum address is the one paid or slashed.
import { CID } from 'multiformats/cid'
import { z } from 'zod'
import { defineMessage } from '../registry.ts'
import { bidDeviceSchema, deviceNeedsSchema } from './device.ts'

const hash32 = z.string().regex(/^0x[0-9a-f]{64}$/, 'expected 0x + 32 bytes of lowercase hex')
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'expected a 0x address')
const signature65 = z.string().regex(/^0x[0-9a-fA-F]{130}$/, 'expected a 65-byte signature')
const cidString = z.string().max(128).refine((s) => { try { CID.parse(s); return true } catch { return false } }, 'expected a CID')
/** OPEN in wei as a decimal string: msgpack has no bigint that every peer decodes alike. */
const wei = z.string().regex(/^(0|[1-9][0-9]{0,77})$/, 'expected wei as a decimal string')
const peerId = z.string().min(40).max(128)
/** A training state's sha256 as the checkpoint encoding has it (no 0x, as in receipts). */
const stateHash = z.string().regex(/^[0-9a-f]{64}$/, 'expected 32 bytes of lowercase hex')
const ms = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)

export const JOB_KINDS = ['train', 'attribute', 'infer'] as const

export const jobAnnounceSchema = z.object({
  /** bytes32 id the escrow holds the payment under. */
  job: hash32,
  kind: z.enum(JOB_KINDS),
  /** What to run: the datanet version, the base model, the hyperparameters (kind-specific, checked by the worker). */
  spec: z.object({
    datanet: cidString.optional(),
    version: cidString.optional(),
    base: cidString.optional(),
    adapter: cidString.optional(),
    params: z.record(z.string().max(32), z.union([z.number(), z.string().max(256), z.boolean()])).refine(r => Object.keys(r).length <= 32, 'too many parameters')
  }),
  /** Where the payment waits: verifiable on chain before anyone bids. */
  escrow: z.object({ chainId: z.number().int().positive(), contract: address, amount: wei, deadline: ms }),
  maxPrice: wei,
  requiredStake: wei,
  workers: z.number().int().min(1).max(16),
  verifiers: z.number().int().min(1).max(16),
  /** Bids are taken until then (ms since epoch). */
  bidUntil: ms,
  /** What the worker's device must be (the assignment rule refuses other worker bids); absent: any. */
  needs: deviceNeedsSchema.optional()
})
export type JobAnnounce = z.infer<typeof jobAnnounceSchema>
export const JobAnnounceMessage = defineMessage({ type: 'job-announce/1', maxBodyBytes: 4 * 1024, schema: jobAnnounceSchema })

export const jobBidSchema = z.object({
  job: hash32,
  role: z.enum(['worker', 'verifier']),
  price: wei,
  etaMs: ms,
  /** The bidder's stake for that role as it claims it; the requester checks the chain. */
  stake: wei,
  /** Worker: keccak256 of its forced-error secret for this job, committed before the assignment it is drawn against. */
  commit: hash32.optional(),
  /** The device the bidder's work runs on, as it states it (its class decides how its work is checked). */
  device: bidDeviceSchema.optional()
})
export type JobBid = z.infer<typeof jobBidSchema>
export const JobBidMessage = defineMessage({ type: 'job-bid/1', maxBodyBytes: 1024, schema: jobBidSchema })

export const jobAssignSchema = z.object({
  job: hash32,
  workers: z.array(z.object({ peer: peerId, address, price: wei, commit: hash32.optional() })).min(1).max(16),
  verifiers: z.array(z.object({ peer: peerId, address, price: wei })).min(1).max(16),
  /** Who rules if a verifier rejects the result (the next-best verifier bid); none when there was no bid left for it. */
  referee: z.object({ peer: peerId, address, price: wei }).optional(),
  /** The bids considered (digest of their envelopes, sorted): anyone can recompute the rule's choice. */
  bidsDigest: hash32,
  /**
   * What the escrow pays on: the requester's EIP-712 Assignment(jobId, worker, verifiers,
   * referee, spec) signature, and `spec`, the keccak of the announce as canonical JSON.
   */
  escrow: z.object({ spec: hash32, signature: signature65 })
})
export type JobAssign = z.infer<typeof jobAssignSchema>
export const JobAssignMessage = defineMessage({ type: 'job-assign/1', maxBodyBytes: 8 * 1024, schema: jobAssignSchema })

export const jobResultSchema = z.object({
  job: hash32,
  worker: address,
  /** The adapter, attribution result or output batch, by CID. */
  result: cidString,
  /** keccak256 of the result's bytes: what verifiers sign in the Completion. */
  resultHash: hash32,
  /**
   * The receipt: the hash chain over checkpoints (training) or intermediate outputs.
   * Its last hash commits to the whole chain (each entry names the previous one); the
   * full list is a file fetched by CID, so the message stays small however long the job.
   */
  receipt: z.object({ head: hash32, entries: z.number().int().min(1).max(1_000_000), every: z.number().int().min(1).max(1_000_000), steps: z.number().int().min(1).max(100_000_000), chain: cidString }),
  /** The worker's EIP-712 Participation(jobId, resultHash): it answers for this result (a slash on chain needs it). */
  participation: signature65
})
export type JobResult = z.infer<typeof jobResultSchema>
export const JobResultMessage = defineMessage({ type: 'job-result/1', maxBodyBytes: 2 * 1024, schema: jobResultSchema })

export const jobVerdictSchema = z.object({
  job: hash32,
  worker: address,
  resultHash: hash32,
  ok: z.boolean(),
  /** Which receipt entries the verifier replayed. */
  checked: z.array(z.number().int().nonnegative()).max(1_000),
  /** On ok: the EIP-712 Completion(jobId, worker, resultHash) signature for the escrow. */
  completion: signature65.optional(),
  /** On a fault: keccak256 of the evidence (what on-chain slashing commits to), and where to get it. */
  evidence: z.object({ hash: hash32, cid: cidString }).optional(),
  /** The verifier's signature that seeded its sample (EIP-191 over job and receipt hash): anyone can recompute which entries it had to check. */
  beacon: signature65.optional(),
  /**
   * On a replay that disagrees: the segment, and the state hash the verifier got at its
   * checkpoint step (its claim in a dispute). `tolerance`: it replayed on another device
   * class and compared within that pair's tolerance, so its hashes are not the worker's
   * to bisect against: the referee replays the whole segment instead.
   */
  dispute: z.object({ segment: z.number().int().nonnegative().max(1_000_000), step: z.number().int().min(1).max(100_000_000), hash: stateHash, tolerance: z.boolean().optional() }).optional(),
  /** A failing verdict that claims no fault: the check failed on the network. Nobody is paid; the referee is not asked; nobody is slashed. */
  unproven: z.boolean().optional(),
  /** The verifier's EIP-712 Participation(jobId, resultHash): it answers for this verdict (a slash on chain needs it). */
  participation: signature65
}).refine(v => v.ok ? v.completion !== undefined && v.evidence === undefined : v.evidence !== undefined && v.completion === undefined,
  'a passing verdict carries the completion signature, a failing one the evidence')
export type JobVerdict = z.infer<typeof jobVerdictSchema>
export const JobVerdictMessage = defineMessage({ type: 'job-verdict/1', maxBodyBytes: 8 * 1024, schema: jobVerdictSchema })

export const jobRevealSchema = z.object({
  job: hash32,
  worker: address,
  /** The secret whose keccak256 the worker's bid committed to: with the assignment it proves the job drew a forced error. */
  secret: hash32,
  /** The result that carried the planted fault: any verifier that approved it approved a known fault. */
  resultHash: hash32
})
export type JobReveal = z.infer<typeof jobRevealSchema>
/** A worker's admission that its result was a forced error (published on the verdicts topic once its verifiers have spoken). */
export const JobRevealMessage = defineMessage({ type: 'job-reveal/1', maxBodyBytes: 512, schema: jobRevealSchema })

/** A worker's newest checkpoint on disk (to its verifiers, over the task protocol): they fetch and hold it, so a replacement can resume from it if the worker goes silent. */
export const jobProgressSchema = z.object({
  job: hash32,
  worker: address,
  step: z.number().int().min(1).max(100_000_000)
})
export type JobProgress = z.infer<typeof jobProgressSchema>
export const JobProgressMessage = defineMessage({ type: 'job-progress/1', maxBodyBytes: 256, schema: jobProgressSchema })

// A dispute (protocols/dispute): the job's referee asks the worker and the rejecting
// verifier for their state hash at one step (or the state's bytes), each answering with a
// signed claim, and bisects until one step is left; it recomputes that step and publishes
// the ruling, which names the loser and the evidence its slash commits to.
export const disputeQuerySchema = z.object({
  job: hash32,
  resultHash: hash32,
  segment: z.number().int().nonnegative().max(1_000_000),
  step: z.number().int().nonnegative().max(100_000_000),
  /** The state's bytes instead of its hash (what the referee recomputes the step from). */
  state: z.boolean()
})
export type DisputeQuery = z.infer<typeof disputeQuerySchema>
export const DisputeQueryMessage = defineMessage({ type: 'dispute-query/1', maxBodyBytes: 512, schema: disputeQuerySchema })

export const disputeClaimSchema = z.object({
  job: hash32,
  resultHash: hash32,
  step: z.number().int().nonnegative().max(100_000_000),
  /** The hash of the party's state after `step` steps. */
  hash: stateHash
})
export type DisputeClaim = z.infer<typeof disputeClaimSchema>
export const DisputeClaimMessage = defineMessage({ type: 'dispute-claim/1', maxBodyBytes: 512, schema: disputeClaimSchema })

export const jobRulingSchema = z.object({
  job: hash32,
  worker: address,
  resultHash: hash32,
  /** The verifier whose rejection was disputed. */
  challenger: address,
  /** The disputed step runs from state `step` to `step + 1`. */
  step: z.number().int().nonnegative().max(100_000_000),
  rounds: z.number().int().nonnegative().max(64),
  /** Whose claim the referee's recomputation refutes (a party that did not answer loses). */
  faulty: z.enum(['worker', 'challenger', 'both']),
  /** keccak256 of the evidence (the claims and the recomputation: what the slash commits to), and where to get it. */
  evidence: z.object({ hash: hash32, cid: cidString }),
  /** When the worker's result stands: the referee's own Completion signature, so the escrow can release. */
  completion: signature65.optional()
}).refine(r => (r.faulty === 'challenger') === (r.completion !== undefined), 'a ruling for the worker carries the completion, any other none')
export type JobRuling = z.infer<typeof jobRulingSchema>
export const JobRulingMessage = defineMessage({ type: 'job-ruling/1', maxBodyBytes: 1024, schema: jobRulingSchema })

export const JOB_MESSAGES = [JobAnnounceMessage, JobBidMessage, JobAssignMessage, JobResultMessage, JobVerdictMessage, JobRevealMessage, JobProgressMessage, DisputeQueryMessage, DisputeClaimMessage, JobRulingMessage] as const
