// The task market on one peer, for LoRA training jobs, inference batches and
// attributions (./attribution-market.ts): as a
// requester it escrows OPEN, announces the job, takes bids, assigns by the shared policy,
// releases the escrow once the assigned verifiers approved (and refunds a job that
// could not complete after its deadline); as a worker it bids, trains or generates,
// and reports the result with its receipt (the checkpoint hash chain, or the chain over
// every output), planting a forced error when its committed secret draws one; as a
// verifier it replays a sample fixed by its own beacon, binds a training result to its
// last checkpoint, publishes a verdict with the escrow's Completion signature or with
// evidence, and slashes proven faults on chain (a co-verifier's approval of a revealed
// forced error included). Anyone holding the verifiers' signatures can release: a
// requester that refuses to pay is not needed. Each job's state is a file under
// market/, written atomically; in-flight jobs resume from it after a restart.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { id as keccakText, keccak256, parseUnits, Wallet, hexlify } from 'ethers'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { decodeReceiptFile, encodePromptsFile } from '../../compute/jobs/infer-files.ts'
import { decodeAdapter } from '../../compute/models/artifacts.ts'
import { inferenceReceiptHash } from '../../compute/verify/inference-receipt.ts'
import { checkAdapterBinding, type BindingVerdict } from '../../compute/verify/adapter-binding.ts'
import { receiptHash, sampleSeed, sampleSegments, segmentsForFraction, type TrainingReceipt } from '../../compute/verify/sample.ts'
import { checkpointsNeeded, checkReceipt, segmentsOf, verifyTraining } from '../../compute/verify/training.ts'
import { checkpointHash } from '../../compute/train/checkpoint.ts'
import { sealEnvelope, type Envelope } from '../../protocols/envelope.ts'
import { topicValidator } from '../../protocols/gossip-validator.ts'
import { identityOf } from '../../protocols/identity.ts'
import type { Inbound } from '../../protocols/inbound.ts'
import {
  DisputeClaimMessage, DisputeQueryMessage, JobAnnounceMessage, JobAssignMessage, JobBidMessage, JobResultMessage, JobRevealMessage, JobRulingMessage, JobVerdictMessage,
  JobProgressMessage, type JobProgress, type DisputeQuery, type JobAnnounce, type JobAssign, type JobBid, type JobResult, type JobReveal, type JobRuling, type JobVerdict
} from '../../protocols/messages/index.ts'
import type { MessageRegistry } from '../../protocols/registry.ts'
import { sendTask, serveTask, type TaskAnswer } from '../../protocols/task/task.ts'
import { JOBS_TOPIC, topicName, VERDICTS_TOPIC } from '../../protocols/topics.ts'
import { fetchReceiptEntry, serveVerify } from '../../protocols/verify/verify.ts'
import { askDispute, NotADisputeError, serveDispute, type DisputeAnswer } from '../../protocols/dispute/dispute.ts'
import { ROLE } from '../../settlement/chain/client.ts'
import { packSignatures, signMessage, verifySigned } from '../../settlement/chain/signatures.ts'
import { assignJob, classifyFault, jobVerdict, releaseDecision, slashFor, type Bid, type CheckFindings, type Fault, type StakeRole } from '../../settlement/policy/index.ts'
import { readJsonIfExists, writeFileAtomic, writeJsonAtomic } from '../../storage/atomic-file.ts'
import { UsageError } from '../errors.ts'
import type { Identity } from '../identity/keystore.ts'
import { isWorkerCheat, type Cheat } from './adversaries/cheat-modes.ts'
import { cheatingWork, type CheatDeps, type Produced } from './adversaries/cheats.ts'
import { FileCheckpointStore } from '../models/checkpoint-files.ts'
import { InferenceEngineCache } from '../models/inference-engines.ts'
import { inferSpecOf, trainParams, trainRequestOf } from './job-spec.ts'
import { AttributionMarket, type AttributeSubmit, type AttributionDatanets } from './kinds/attribute.ts'
import { ReputationBook } from './reputation-book.ts'
import { canTransition, transition, type JobState } from './job-state.ts'
import { JobStore } from './job-store.ts'
import { runInferenceJob, verifyInferenceJob, type InferenceJobDeps, type InferenceJobSpec } from './kinds/inference-jobs.ts'
import { forcedCommit, forcedRate, forcedSecret, isForced, plantFault, plantInferenceFault, validReveal } from './forced-errors.ts'
import { heldStore, inheritCheckpoints, MAX_HELD, watchCheckpoints } from './handover.ts'
import { fabricatedHash, PartyReplays, playDispute, segmentBounds, type DisputeAsk, type Party, type PartySegment } from './disputes.ts'
import type { PeerLibp2p } from '../node/libp2p.ts'
import type { ModelFactory, TrainRequest } from '../models/model-factory.ts'
import type { ModelRegistry } from '../models/model-registry.ts'
import type { SettlementService } from '../settlement/settlement-service.ts'

export type { JobState, JobPhase } from './job-state.ts'

export { UnknownJobError } from './job-store.ts'

/** An inference batch: the base (name or CID), optionally an adapter, the prompts, and the new tokens per prompt. */
export interface InferSubmit { base: string, adapter?: string, prompts: string[], maxNewTokens: number }

export interface SubmitRequest {
  /** Exactly one of these: a LoRA training job, an inference batch, or an attribution of a market training job's adapter. */
  train?: TrainRequest
  infer?: InferSubmit
  attribute?: AttributeSubmit
  /** OPEN (decimal) put in escrow: the job's fee. */
  amount: string
  verifiers?: number
  bidWindowMs?: number
}

export interface MarketServiceOptions {
  identity: Identity
  network: string
  registry: MessageRegistry
  inbound: Inbound
  libp2p: PeerLibp2p
  settlement: SettlementService
  factory: ModelFactory
  /** The kind of a base model this peer holds (name or CID), or undefined: it bids only on jobs it can run. */
  modelKind: (nameOrCid: string) => string | undefined
  dataDir: string
  /** Fetching and storing adapters: a verifier reads the delivered adapter; cheats build theirs. */
  models: Pick<ModelRegistry, 'adapterBytes' | 'addAdapter' | 'model' | 'resolveModel' | 'fileBytes' | 'addFile' | 'listAdapters'>
  /** Datanet views and the credit map, for attribution jobs (without it this peer takes none). */
  datanets?: AttributionDatanets
  threads?: number
  /** A datanet's recorded training cycles (what a copying cheat copies from). */
  cycles: (datanet: string) => Promise<Array<{ reporter: string, model: string, adapter?: string }>>
  /** Demonstrations and tests only: work or verify as one of the adversaries in ./cheats.ts. */
  cheat?: Cheat
  /** Demonstrations and tests only: this forced-error rate instead of the policy's (every peer of the network must agree on it). */
  forcedErrorRate?: number
  log: (msg: string, fields?: Record<string, unknown>) => void
}

/** Steps per checkpoint of adapter jobs (their default): the unit a verifier replays. */
const CHECKPOINT_EVERY = 50
/** After every assigned verifier has spoken, how long a verifier that found a fault waits for a forced-error reveal before slashing. */
const REVEAL_GRACE_MS = 5_000
/** A forced-error worker reveals at the latest this long after delivering, whoever has not spoken. */
const REVEAL_AFTER_MS = 120_000
/** A requester with a quorum of approvals but a silent verifier releases after this long. */
const RELEASE_GRACE_MS = 60_000
/** Tries to hand a result to each of the job's peers (1, 2, 4, 8, 15 s apart: about half a minute). */
const RESULT_ATTEMPTS = 6
/** How often a requester looks for its failed or unassigned jobs whose escrow deadline passed, to take the fee back. */
const REFUND_SWEEP_MS = 10_000

export class MarketService {
  private readonly opts: MarketServiceOptions
  private readonly store: JobStore
  private readonly jobsTopic: string
  private readonly verdictsTopic: string
  private readonly dir: string
  private readonly busy = new Set<string>()
  private readonly book: ReputationBook
  private readonly evidence = new Map<string, object>()
  private readonly engines = new InferenceEngineCache({ max: 2 })
  /** As a party to a dispute: each questioned segment replayed once. As a referee: the disputes being ruled. */
  private readonly replays = new PartyReplays()
  private readonly ruling = new Set<string>()
  private readonly attributions: AttributionMarket
  private refunds?: NodeJS.Timeout

  constructor (opts: MarketServiceOptions) {
    this.opts = opts
    this.jobsTopic = topicName(opts.network, JOBS_TOPIC)
    this.verdictsTopic = topicName(opts.network, VERDICTS_TOPIC)
    this.dir = join(opts.dataDir, 'market')
    this.store = new JobStore(this.dir)
    this.book = new ReputationBook(join(this.dir, 'reputation.json'))
    this.attributions = new AttributionMarket({ libp2p: opts.libp2p, chain: () => opts.settlement.chain, factory: opts.factory, models: opts.models, datanets: opts.datanets, dir: this.dir, peerId: opts.identity.peerId, threads: opts.threads, log: opts.log })
  }

  /** An attribution job's own verified weights, for the aggregator's job receipt (./attribution-market.ts). */
  async attributionCredit (job: string): Promise<Awaited<ReturnType<AttributionMarket['creditLines']>>> {
    const state = await this.load(job)
    return state === undefined ? undefined : await this.attributions.creditLines(state)
  }

  async start (): Promise<void> {
    const { libp2p, inbound, registry } = this.opts
    const pubsub = libp2p.services.pubsub
    pubsub.topicValidators.set(this.jobsTopic, topicValidator(inbound, JOBS_TOPIC, this.jobsTopic, (env) => { void this.onJobsTopic(env) }))
    pubsub.topicValidators.set(this.verdictsTopic, topicValidator(inbound, VERDICTS_TOPIC, this.verdictsTopic, (env) => {
      if (env.type === JobRevealMessage.type) void this.onReveal(env as Envelope<JobReveal>)
      else if (env.type === JobRulingMessage.type) void this.onRuling(env as Envelope<JobRuling>)
      else void this.onVerdict(env as Envelope<JobVerdict>)
    }))
    pubsub.subscribe(this.jobsTopic)
    pubsub.subscribe(this.verdictsTopic)
    await serveTask(libp2p, inbound, registry, {
      onBid: async (env, from) => await this.onBid(env, from),
      onResult: async (env, from) => await this.onResult(env, from),
      onProgress: async (env, from) => await this.onProgress(env, from)
    })
    await serveVerify(libp2p, async (job, entry) => await this.receiptPart(job, entry))
    await serveDispute(libp2p, inbound, registry, async (env, from) => await this.onDisputeQuery(env, from))
    await this.resume()
    this.refunds = setInterval(() => { void this.refundExpired() }, REFUND_SWEEP_MS)
    this.refunds.unref()
  }

  /**
   * After a restart (a kill -9 included), pick up what was in flight: a worker trains on
   * (the factory resumes from its last checkpoint), a verifier verifies, a requester
   * whose bidding window passed assigns. Everything needed is in market/<job>.json.
   */
  private async resume (): Promise<void> {
    for (const { job } of await this.list()) {
      const state = await this.load(job)
      if (state === undefined) continue
      if (state.role === 'worker' && state.phase === 'training') void this.work(job)
      else if (state.role === 'worker' && state.forced !== undefined && state.forced.revealed !== true) this.revealLater(job, 0)
      else if (state.role === 'verifier' && state.phase === 'verifying' && state.assign !== undefined) void this.verify(job, state.assign.workers[0].peer)
      else if (state.role === 'requester' && state.phase === 'assigned' && state.result === undefined && state.resultDueAt !== undefined) this.watch(job, state.resultDueAt)
      else if (state.role === 'requester' && state.phase === 'bidding') {
        const wait = Math.max(0, state.announce.bidUntil - Date.now())
        setTimeout(() => { void this.assign(job).catch((err: Error) => this.opts.log('assignment failed', { job, error: err.message })) }, wait).unref()
      } else continue
      this.opts.log('job resumed', { job, role: state.role, phase: state.phase })
    }
  }

  async stop (): Promise<void> {
    clearInterval(this.refunds)
    const pubsub = this.opts.libp2p.services.pubsub
    pubsub.unsubscribe(this.jobsTopic)
    pubsub.unsubscribe(this.verdictsTopic)
  }

  /** Every job this peer took part in, newest first. */
  async list (): Promise<Array<Pick<JobState, 'job' | 'role' | 'phase' | 'updatedAt'>>> {
    return await this.store.list()
  }

  async status (job: string): Promise<JobState> {
    return await this.store.status(job)
  }

  // --- requester

  /** Escrows the fee, announces the job, takes bids for the window, assigns, and returns. */
  async submit (req: SubmitRequest): Promise<JobState> {
    const chain = this.opts.settlement.chain
    const fee = parseUnits(req.amount, 18)
    if (fee <= 0n) throw new UsageError('the job needs an amount of OPEN above 0')
    if ([req.train, req.infer, req.attribute].filter(x => x !== undefined).length !== 1) throw new UsageError('a job is one of a training job, an inference batch or an attribution')
    // Checked before any OPEN moves: a bad prompts file, or an adapter no released training job produced, is refused here, not by every worker.
    const spec = req.train !== undefined
      ? { params: trainParams(req.train) }
      : req.infer !== undefined ? await this.inferSpec(req.infer) : await this.attributions.spec(req.attribute!, { status: async (j) => await this.load(j), list: async () => await this.list() })
    const job = keccakText(`${this.opts.identity.address}:${Date.now()}:${Math.random()}`)
    // The escrow's deadline is in chain time (a devnet's clock may have been warped).
    const deadline = await this.opts.settlement.chainTime() + 3_600
    await chain.openJob(job, fee, deadline)
    const [minWorker] = await Promise.all([chain.read<bigint>('registry', 'minStake', [ROLE.worker])])
    const announce: JobAnnounce = {
      job,
      kind: req.train !== undefined ? 'train' : req.infer !== undefined ? 'infer' : 'attribute',
      spec,
      escrow: { chainId: chain.addresses.chainId, contract: chain.addresses.escrow, amount: fee.toString(), deadline: deadline * 1000 },
      maxPrice: fee.toString(),
      requiredStake: minWorker.toString(),
      workers: 1,
      verifiers: req.verifiers ?? 1,
      bidUntil: Date.now() + (req.bidWindowMs ?? 3_000)
    }
    const state: JobState = { job, role: 'requester', phase: 'bidding', announce, requester: this.opts.identity.address, bids: [], updatedAt: Date.now() }
    await this.save(state)
    await this.publish(this.jobsTopic, JobAnnounceMessage.type, announce)
    this.opts.log('job announced', { job, fee: fee.toString() })
    await new Promise(resolve => setTimeout(resolve, Math.max(0, announce.bidUntil - Date.now())))
    return await this.assign(job)
  }

  /** An inference batch's announce spec: the prompts stored as a file peers fetch by CID, the base by CID. */
  private async inferSpec (r: InferSubmit): Promise<JobAnnounce['spec']> {
    const prompts = await this.opts.models.addFile(encodePromptsFile(r.prompts))
    const base = this.opts.models.resolveModel(r.base).cid
    return { base, ...(r.adapter !== undefined ? { adapter: r.adapter } : {}), params: { prompts, maxNewTokens: r.maxNewTokens, count: r.prompts.length } }
  }

  private async assign (job: string): Promise<JobState> {
    const state = await this.status(job)
    const chain = this.opts.settlement.chain
    const minVerifier = await chain.read<bigint>('registry', 'minStake', [ROLE.verifier])
    // A worker that went silent on this job is not chosen again.
    const bids = (state.bids ?? []).filter(b => !(state.silent ?? []).includes(b.peer))
    const a = assignJob({
      id: job,
      maxPrice: BigInt(state.announce.maxPrice),
      requiredStake: BigInt(state.announce.requiredStake),
      requiredVerifierStake: minVerifier,
      workers: state.announce.workers,
      verifiers: state.announce.verifiers,
      referees: 1,
      requester: this.opts.identity.peerId
    }, await this.scored(bids))
    if (!a.complete) {
      transition(state, 'unassigned')
      state.error = `not enough eligible bids: ${a.workers.length} worker(s), ${a.verifiers.length} verifier(s)`
      await this.save(state)
      return state
    }
    const pick = (peer: string): JobAssign['workers'][number] => {
      const b = bids.find(x => x.peer === peer)!
      return { peer, address: b.address, price: b.price, ...(b.role === 'worker' && b.commit !== undefined ? { commit: b.commit } : {}) }
    }
    const digest = keccak256(Buffer.from(bids.map(b => `${b.peer}:${b.role}:${b.price}:${b.stake}:${b.commit ?? ''}`).sort().join('\n')))
    const assign: JobAssign = { job, workers: a.workers.map(pick), verifiers: a.verifiers.map(pick), ...(a.referees.length > 0 ? { referee: pick(a.referees[0]) } : {}), bidsDigest: digest }
    state.assign = assign
    transition(state, 'assigned')
    state.result = undefined
    // Twice the worker's own estimate, then it is replaced by the next-best bid.
    state.resultDueAt = Date.now() + 2 * (bids.find(b => b.peer === a.workers[0])?.etaMs ?? 60_000)
    await this.save(state)
    await this.publish(this.jobsTopic, JobAssignMessage.type, assign)
    this.opts.log('job assigned', { job, workers: a.workers, verifiers: a.verifiers, referee: a.referees[0] })
    this.watch(job, state.resultDueAt)
    return state
  }

  /**
   * A job that cannot complete (its result failed verification, or no bidder delivered)
   * is refunded once the escrow's deadline passes in chain time: nothing is released
   * for it, and the requester takes its fee back without anyone's signature. So is one
   * that never ended (a verifier that missed the assignment never verifies): after the
   * deadline the escrow cannot release it any more. The chain says which it was, since
   * our phase may lag (the worker released while our copy of the verdict was lost): a
   * job with a result that the escrow released shows as released at the next sweep.
   */
  private async refundExpired (): Promise<void> {
    try {
      const now = await this.opts.settlement.chainTime()
      for (const { job, role, phase } of await this.list()) {
        if (role !== 'requester' || phase === 'released' || phase === 'refunded') continue
        const state = await this.status(job)
        const expired = now * 1000 > state.announce.escrow.deadline
        if (!expired && phase !== 'submitted') continue
        const chain = this.opts.settlement.chain
        const status = (await chain.jobOf(job)).status
        if (!expired && status !== 2) continue
        if (status === 1) {
          const tx = await chain.refundJob(job)
          state.refund = { tx: tx.receipt.hash }
          this.opts.log('escrow refunded', { job, phase, tx: tx.receipt.hash })
        }
        transition(state, status === 2 ? 'released' : 'refunded')
        await this.save(state)
      }
    } catch (err) {
      this.opts.log('refund sweep failed', { error: (err as Error).name, message: (err as Error).message })
    }
  }

  /** At the due time, a requester still without a result replaces the worker (reputation: timeout). */
  private watch (job: string, dueAt: number): void {
    setTimeout(() => {
      void (async () => {
        const state = await this.load(job)
        if (state?.role !== 'requester' || state.phase !== 'assigned' || state.result !== undefined || state.assign === undefined || (state.resultDueAt ?? 0) > Date.now()) return
        const silent = state.assign.workers[0]
        state.silent = [...(state.silent ?? []), silent.peer]
        await this.save(state)
        await this.recordOutcome(silent.address, 'timeout', job)
        this.opts.log('worker went silent: reassigning', { job, worker: silent.address })
        await this.assign(job)
      })().catch((err: Error) => this.opts.log('reassignment failed', { job, error: err.message }))
    }, Math.max(0, dueAt - Date.now())).unref()
  }

  private async onBid (env: Envelope<JobBid>, from: string): Promise<TaskAnswer> {
    const state = await this.load(env.body.job)
    if (state === undefined || state.role !== 'requester') return { accepted: false, reason: 'no such job here' }
    if (state.phase !== 'bidding' || Date.now() > state.announce.bidUntil) return { accepted: false, reason: 'bidding is over' }
    const address = identityOf(env.signer).address
    // The stake is read from the chain, not taken from the bid.
    const stake = await this.opts.settlement.chain.stakeOf(address, env.body.role === 'worker' ? ROLE.worker : ROLE.verifier)
    state.bids = [...(state.bids ?? []).filter(b => b.peer !== from), { ...env.body, stake: stake.toString(), peer: from, address }]
    await this.save(state)
    return { accepted: true }
  }

  // --- worker and verifier

  private async onJobsTopic (env: Envelope): Promise<void> {
    try {
      if (env.type === JobAnnounceMessage.type) await this.onAnnounce(env as Envelope<JobAnnounce>)
      else if (env.type === JobAssignMessage.type) await this.onAssign(env as Envelope<JobAssign>)
    } catch (err) {
      this.opts.log('job message failed', { type: env.type, error: (err as Error).name, message: (err as Error).message })
    }
  }

  private async onAnnounce (env: Envelope<JobAnnounce>): Promise<void> {
    const a = env.body
    const requester = identityOf(env.signer)
    if (requester.peerId === this.opts.identity.peerId) return
    const baseRef = a.kind === 'train' ? a.spec.params.base : a.spec.base
    const kind = typeof baseRef === 'string' ? this.opts.modelKind(baseRef) : undefined
    // Inference batches are language-model generation.
    if (kind === undefined || (a.kind === 'infer' && kind !== 'lm')) return
    const chain = this.opts.settlement.chain
    // The payment must be in escrow as announced before anyone works for it.
    const onChain = await chain.jobOf(a.job)
    if (onChain.status !== 1 || onChain.amount !== BigInt(a.escrow.amount) || onChain.requester.toLowerCase() !== requester.address.toLowerCase()) {
      this.opts.log('job announce without matching escrow ignored', { job: a.job })
      return
    }
    if (a.kind === 'attribute' && !(await this.attributions.canWork(a))) return
    const me = this.opts.identity.address
    const [worker, verifier, minVerifier] = await Promise.all([chain.stakeOf(me, ROLE.worker), chain.stakeOf(me, ROLE.verifier), chain.read<bigint>('registry', 'minStake', [ROLE.verifier])])
    const role = worker >= BigInt(a.requiredStake) ? 'worker' : verifier >= minVerifier ? 'verifier' : undefined
    if (role === undefined) return
    // A conservative estimate (30 s, for a loaded machine running several jobs at once, plus
    // per step several times what bench train measured here: ~3 ms classifier, ~50 ms
    // shipped LM); the requester replaces a worker at twice it.
    const steps = typeof a.spec.params.steps === 'number' ? a.spec.params.steps : 300
    // A cheating worker saves the cost of the work, so it can undercut honest bids.
    const price = role === 'worker' && isWorkerCheat(this.opts.cheat) ? (BigInt(a.maxPrice) * 8n / 10n).toString() : a.maxPrice
    // Inference: a few ms per generated token (bench lora-serve), generously.
    const etaMs = a.kind === 'infer' ? 30_000 + 5 * Number(a.spec.params.count ?? 1) * Number(a.spec.params.maxNewTokens ?? 48) : a.kind === 'attribute' ? this.attributions.etaMs(a, kind) : 30_000 + (kind === 'lm' ? 200 : 10) * steps
    const bid: JobBid = { job: a.job, role, price, etaMs, stake: (role === 'worker' ? worker : verifier).toString(), ...(role === 'worker' ? { commit: forcedCommit(forcedSecret(this.wallet(), a.job)) } : {}) }
    await this.save({ job: a.job, role, phase: 'bidding', announce: a, requester: requester.address, requesterPeer: requester.peerId, updatedAt: Date.now() })
    const answer = await sendTask(this.opts.libp2p, this.opts.registry, peerIdFromString(requester.peerId), this.seal(JobBidMessage.type, bid))
    this.opts.log('bid sent', { job: a.job, role, accepted: answer.accepted, reason: answer.reason })
  }

  private async onAssign (env: Envelope<JobAssign>): Promise<void> {
    const state = await this.load(env.body.job)
    if (state === undefined || identityOf(env.signer).address.toLowerCase() !== state.requester.toLowerCase()) return
    // The requester repeats its assignment when the result comes in (onResult): the one we hold again changes nothing.
    if (state.assign?.bidsDigest === env.body.bidsDigest && state.assign.workers[0]?.peer === env.body.workers[0]?.peer) return
    const me = this.opts.identity.peerId
    state.assign = env.body
    const isWorker = env.body.workers.some(w => w.peer === me)
    const isVerifier = env.body.verifiers.some(v => v.peer === me)
    const isReferee = env.body.referee?.peer === me
    if (state.role === 'requester') return
    if (!isWorker && !isVerifier && !isReferee) { transition(state, 'unassigned'); await this.save(state); return }
    transition(state, isWorker ? 'training' : 'assigned', isWorker ? 'worker' : isVerifier ? 'verifier' : 'referee')
    await this.save(state)
    if (isWorker) void this.work(state.job)
  }

  private async work (job: string): Promise<void> {
    if (this.busy.has(job)) return
    this.busy.add(job)
    try {
      const state = await this.status(job)
      if (state.announce.kind === 'infer') { await this.workInfer(state); return }
      if (state.announce.kind === 'attribute') { await this.workAttribute(state); return }
      const req = trainRequestOf(state.announce)
      const cheat = this.opts.cheat
      const started = performance.now()
      const cheated = isWorkerCheat(cheat) ? await cheatingWork(cheat, this.cheatDeps(), job, req, CHECKPOINT_EVERY) : undefined
      const produced = cheated ?? await this.train(req, state)
      state.computeMs = performance.now() - started
      state.cheated = cheated !== undefined
      let delivered = produced
      if (!isWorkerCheat(cheat) && await this.drawsForcedError(state)) {
        delivered = await plantFault({ factory: this.opts.factory, models: this.opts.models, req, honest: produced, dir: this.dir, job })
        state.forced = { real: produced, resultHash: keccakText(delivered.adapter) }
        this.opts.log('forced error planted', { job })
        this.revealLater(job, REVEAL_AFTER_MS)
      }
      await this.deliver(state, delivered)
    } catch (err) {
      this.opts.log('job training failed', { job, error: (err as Error).message })
      const state = await this.load(job)
      if (state !== undefined && canTransition(state, 'failed')) { transition(state, 'failed'); state.error = (err as Error).message; await this.save(state) }
    } finally {
      this.busy.delete(job)
    }
  }

  // --- inference batches (./inference-jobs.ts)

  private inferenceDeps (): InferenceJobDeps {
    return {
      models: this.opts.models,
      fetchFile: async (cid, maxBytes) => await this.opts.models.fileBytes(cid, maxBytes, AbortSignal.timeout(120_000)),
      storeFile: async (bytes) => await this.opts.models.addFile(bytes),
      threads: this.opts.threads,
      engines: this.engines
    }
  }

  private async workInfer (state: JobState): Promise<void> {
    const spec = inferSpecOf(state.announce)
    const started = performance.now()
    // The smaller-model adversary: the same base with half its layers, about half the compute.
    let truncateTo: number | undefined
    if (this.opts.cheat === 'small') {
      const layers = ((await this.opts.models.model(this.opts.models.resolveModel(spec.base).cid)).meta.config as { layers: number }).layers
      truncateTo = Math.max(1, Math.floor(layers / 2))
      this.opts.log('cheating: generating with a smaller model', { job: state.job, layers: truncateTo })
    }
    const run = await runInferenceJob(this.inferenceDeps(), spec, { truncateTo })
    state.computeMs = performance.now() - started
    state.cheated = truncateTo !== undefined
    const resultOf = async (r: { result: string, receipt: { outputs: readonly unknown[], head: string }, receiptBytes: Uint8Array }): Promise<JobResult> => {
      const n = r.receipt.outputs.length
      return {
        job: state.job,
        worker: this.opts.identity.address,
        result: r.result,
        resultHash: keccakText(r.result),
        receipt: { head: '0x' + r.receipt.head, entries: n, every: 1, steps: n, chain: CID.createV1(raw.code, await sha256.digest(r.receiptBytes)).toString() }
      }
    }
    const real = await resultOf(run)
    // A forced error, as for training: every output planted with a fault; the real batch waits for the reveal.
    const planted = truncateTo === undefined && await this.drawsForcedError(state)
      ? await plantInferenceFault(run, spec.job, async (bytes) => await this.opts.models.addFile(bytes))
      : undefined
    if (planted !== undefined) {
      await writeFileAtomic(join(this.dir, `${state.job}.receipt.real.bin`), run.receiptBytes)
      await writeFileAtomic(join(this.dir, `${state.job}.receipt.bin`), planted.receiptBytes)
      const forged = await resultOf(planted)
      state.forced = { realInfer: real, resultHash: forged.resultHash }
      this.opts.log('forced error planted', { job: state.job })
      this.revealLater(state.job, REVEAL_AFTER_MS)
      await this.send(state, forged, 1)
      return
    }
    await writeFileAtomic(join(this.dir, `${state.job}.receipt.bin`), run.receiptBytes)
    await this.send(state, real, 1)
  }

  // --- attributions (./attribution-market.ts)

  private async workAttribute (state: JobState): Promise<void> {
    const started = performance.now()
    // The made-up-scores adversary: no gradients, scores of a plausible size.
    const madeUp = this.opts.cheat === 'scores'
    if (madeUp) this.opts.log('cheating: made-up attribution scores', { job: state.job })
    const { result, real, checkpointDir } = await this.attributions.work(state, { madeUp, address: this.opts.identity.address, forced: async () => await this.drawsForcedError(state) })
    state.computeMs = performance.now() - started
    state.cheated = madeUp
    state.checkpointDir = checkpointDir
    if (real !== undefined) {
      // A forced error, as for inference batches: the real result is sent after the reveal.
      state.forced = { realInfer: real, resultHash: result.resultHash }
      this.opts.log('forced error planted', { job: state.job })
      this.revealLater(state.job, REVEAL_AFTER_MS)
    }
    await this.send(state, result, RESULT_ATTEMPTS)
  }

  /** Attribution: the result holds together with its receipt and the job, and sampled scores recompute within the measured tolerance. */
  private async verifyAttribute (state: JobState, result: JobResult, receiptBytes: Uint8Array, beacon: { value?: string }): Promise<JobVerdict> {
    const job = state.job
    beacon.value = this.beacon(job, this.attributions.receiptHash(receiptBytes))
    if (this.opts.cheat === 'approve') return await this.approveUnchecked(job, result, beacon.value)
    const v = await this.attributions.verify(state, result, receiptBytes, { verifier: this.opts.identity.address, beacon: beacon.value, fraction: await this.auditRate() })
    state.computeMs = v.computeMs
    if (v.ok) return { job, worker: result.worker, resultHash: result.resultHash, ok: true, checked: v.checked, completion: await this.completion(job, result), beacon: beacon.value }
    return await this.failing(job, result, v.checked, v.evidence ?? { job }, beacon.value)
  }

  /** Builds the result and its receipt, keeps them, and sends the result to the requester and the verifiers. */
  private async deliver (state: JobState, produced: Produced, attempts = RESULT_ATTEMPTS): Promise<void> {
    const job = state.job
    const receipt: TrainingReceipt = { job: produced.job, chain: produced.checkpoints }
    const receiptBytes = Buffer.from(JSON.stringify(receipt))
    const result: JobResult = {
      job,
      worker: this.opts.identity.address,
      result: produced.adapter,
      resultHash: keccakText(produced.adapter),
      receipt: { head: '0x' + produced.checkpoints.at(-1)!.hash, entries: produced.checkpoints.length, every: CHECKPOINT_EVERY, steps: produced.checkpoints.at(-1)!.step, chain: CID.createV1(raw.code, await sha256.digest(receiptBytes)).toString() }
    }
    // Receipt first: a verifier asks for it as soon as it has the result.
    await writeJsonAtomic(join(this.dir, `${job}.receipt.json`), receipt)
    state.checkpointDir = produced.checkpointDir
    await this.send(state, result, attempts)
  }

  private async send (state: JobState, result: JobResult, attempts: number): Promise<void> {
    const job = state.job
    state.result = result
    transition(state, 'submitted')
    await this.save(state)
    const targets = [...(state.requesterPeer !== undefined ? [state.requesterPeer] : []), ...(state.assign?.verifiers.map(v => v.peer) ?? []), ...(state.assign?.referee !== undefined ? [state.assign.referee.peer] : [])]
    // Every target at once, each retried with backoff: a stream that dropped or a verifier
    // restarting must not leave the job without its result. A fresh envelope each time
    // (a refused one was opened, so its nonce is spent).
    await Promise.all([...new Set(targets)].map(async peer => {
      for (let i = 1; i <= attempts; i++) {
        const answer = await sendTask(this.opts.libp2p, this.opts.registry, peerIdFromString(peer), this.seal(JobResultMessage.type, result)).catch((err: Error) => ({ accepted: false, reason: err.message }))
        if (answer.accepted) return
        this.opts.log('result not delivered', { peer, reason: answer.reason, attempt: i })
        if (i < attempts) await new Promise(resolve => setTimeout(resolve, Math.min(15_000, 1_000 * 2 ** (i - 1))))
      }
    }))
    this.opts.log('job result sent', { job, result: result.result, to: targets.length })
  }

  // --- forced errors (./forced-errors.ts)

  private async forcedRateOf (state: JobState): Promise<number> {
    if (this.opts.forcedErrorRate !== undefined) return this.opts.forcedErrorRate
    const chain = this.opts.settlement.chain
    const [split, audit, slash] = await Promise.all([
      chain.read<bigint[]>('registry', 'rewardSplit'), chain.read<bigint>('registry', 'auditRateBps'), chain.read<bigint>('registry', 'slashAmount', [ROLE.verifier])
    ])
    return forcedRate({ fee: BigInt(state.announce.escrow.amount), workerBps: Number(split[0]), auditBps: Number(audit), verifierSlash: slash })
  }

  private async drawsForcedError (state: JobState): Promise<boolean> {
    const me = state.assign?.workers.find(w => w.peer === this.opts.identity.peerId)
    const secret = forcedSecret(this.wallet(), state.job)
    if (state.assign === undefined || me?.commit !== forcedCommit(secret)) return false
    return isForced({ secret, job: state.job, bidsDigest: state.assign.bidsDigest, rate: await this.forcedRateOf(state) })
  }

  private revealLater (job: string, ms: number): void {
    setTimeout(() => { void this.reveal(job) }, ms).unref()
  }

  /** The worker admits its forced error (publicly, so approvals of it are provable) and delivers the real result. */
  private async reveal (job: string): Promise<void> {
    try {
      const state = await this.load(job)
      if (state?.forced === undefined || state.forced.revealed === true) return
      state.forced.revealed = true
      await this.save(state)
      const reveal: JobReveal = { job, worker: this.opts.identity.address, secret: forcedSecret(this.wallet(), job), resultHash: state.forced.resultHash }
      await this.publish(this.verdictsTopic, JobRevealMessage.type, reveal)
      this.opts.log('forced error revealed', { job })
      // Gossip may reach the others after a direct stream would: they refuse a second result until they saw the reveal.
      await new Promise(resolve => setTimeout(resolve, 1_000))
      state.verdicts = []
      if (state.forced.realInfer !== undefined) {
        await writeFileAtomic(join(this.dir, `${job}.receipt.bin`), await readFile(join(this.dir, `${job}.receipt.real.bin`)))
        await this.send(state, state.forced.realInfer, 10)
      } else {
        await this.deliver(state, state.forced.real!, 10)
      }
    } catch (err) {
      this.opts.log('reveal failed', { job, error: (err as Error).message })
    }
  }

  /**
   * Everyone who knows the job checks a reveal against the bid's commitment and the
   * draw. Then the forced result's verdicts stop counting; a verifier that found the
   * fault proves on chain that each co-verifier that approved it approved a known fault.
   */
  private async onReveal (env: Envelope<JobReveal>): Promise<void> {
    try {
      const r = env.body
      const state = await this.load(r.job)
      if (state?.assign === undefined || state.role === 'worker') return
      const worker = state.assign.workers[0]
      if (identityOf(env.signer).peerId !== worker.peer || r.worker.toLowerCase() !== worker.address.toLowerCase()) return
      if (!validReveal({ secret: r.secret, commit: worker.commit, job: r.job, bidsDigest: state.assign.bidsDigest, rate: await this.forcedRateOf(state) })) {
        this.opts.log('invalid forced-error reveal ignored', { job: r.job })
        return
      }
      if ((state.revealed ?? []).includes(r.resultHash)) return
      state.revealed = [...(state.revealed ?? []), r.resultHash]
      const onForced = (state.verdicts ?? []).filter(d => d.resultHash === r.resultHash)
      state.verdicts = (state.verdicts ?? []).filter(d => d.resultHash !== r.resultHash)
      if (state.result?.resultHash === r.resultHash) state.result = undefined
      if (canTransition(state, 'assigned')) transition(state, 'assigned')
      await this.save(state)
      this.opts.log('forced error revealed by the worker', { job: r.job, approvals: onForced.filter(d => d.ok).map(d => d.by) })
      const me = this.opts.identity.address.toLowerCase()
      const mine = onForced.find(d => d.by.toLowerCase() === me)
      if (state.role !== 'verifier' || mine === undefined || mine.ok) return
      // Approvals count only with a Completion signature that really is the approver's.
      const domain = this.opts.settlement.chain.domain('escrow')
      const proven = onForced.filter(d => !d.ok || (d.completion !== undefined && verifySigned('Completion', domain, { jobId: r.job, worker: r.worker, resultHash: r.resultHash }, { signer: d.by, signature: d.completion })))
      const judged = jobVerdict({ worker: r.worker.toLowerCase(), verdicts: proven.map(d => ({ verifier: d.by.toLowerCase(), approved: d.ok })), forcedError: true })
      for (const s of judged.slashes.filter(x => x.prover === me)) {
        const lazy = proven.find(d => d.by.toLowerCase() === s.peer)!
        const bytes = Buffer.from(JSON.stringify({ job: r.job, fault: 'lazy-approval', verifier: lazy.by, resultHash: r.resultHash, completion: lazy.completion, secret: r.secret, commit: worker.commit, found: mine.evidence }))
        const slashed = await this.slash(state, { address: lazy.by, role: 'verifier', fault: s.fault }, keccak256(bytes))
        if (slashed !== undefined) {
          state.lazySlashes = [...(state.lazySlashes ?? []), { verifier: lazy.by, ...slashed }]
          await this.save(state)
        }
      }
    } catch (err) {
      this.opts.log('reveal handling failed', { error: (err as Error).name, message: (err as Error).message })
    }
  }

  /** The honest work: train the job (resuming from its own last checkpoint after a restart). */
  // --- disputes (./disputes.ts, protocols/dispute)

  /**
   * A party answering the job's referee: the worker from its own checkpoints and receipt,
   * the rejecting verifier from the worker's checkpoint at the segment's start (which it
   * replayed before). Each answers with its own replay, except at the segment's last
   * step, where it stands by what it signed (the receipt, or its verdict's claim).
   */
  private async onDisputeQuery (env: { body: DisputeQuery }, from: string): Promise<DisputeAnswer> {
    const q = env.body
    const state = await this.load(q.job)
    if (state?.assign?.referee === undefined || state.assign.referee.peer !== from) throw new NotADisputeError('only the job\'s referee asks', { job: q.job })
    if (state.result?.resultHash !== q.resultHash && state.forced?.resultHash !== q.resultHash) throw new NotADisputeError('no such result here', { job: q.job })
    const mine = (state.verdicts ?? []).find(d => d.by.toLowerCase() === this.opts.identity.address.toLowerCase() && d.resultHash === q.resultHash)
    if (state.role !== 'worker' && (state.role !== 'verifier' || mine?.dispute?.segment !== q.segment)) throw new NotADisputeError('this peer is no party to that dispute', { job: q.job, segment: q.segment })
    const load = async (): Promise<PartySegment & { release: () => Promise<void> }> => {
      const receipt = state.role === 'worker'
        ? await readJsonIfExists<TrainingReceipt>(join(this.dir, `${q.job}.receipt.json`))
        : await this.fetchTrainingReceipt(state)
      if (receipt === undefined) throw new NotADisputeError('no receipt for that job', { job: q.job })
      const { from: start } = segmentBounds(receipt, q.segment)
      const startBytes = start === 0
        ? null
        : state.role === 'worker'
          ? await new FileCheckpointStore(state.checkpointDir ?? '').load(start)
          : await this.fetchCheckpoint(state, receipt, q.segment)
      const replay = await this.opts.factory.replayTask(trainRequestOf(state.announce), AbortSignal.timeout(3_600_000))
      const claimAtEnd = state.role === 'worker' ? receipt.chain[q.segment].hash : mine!.dispute!.hash
      return { task: replay.task, receipt, segment: q.segment, start: startBytes, claimAtEnd, release: replay.release }
    }
    if (q.state) {
      const s = await load()
      try { return { state: await PartyReplays.stateAt(s, q.step) } } finally { await s.release() }
    }
    const hash = await this.replays.hashAt(`${q.job}:${q.resultHash}:${q.segment}`, q.step, load)
    return { claim: this.seal(DisputeClaimMessage.type, { job: q.job, resultHash: q.resultHash, step: q.step, hash }) }
  }

  /** The worker's receipt of a training job, checked against the CID its result names. */
  private async fetchTrainingReceipt (state: JobState): Promise<TrainingReceipt> {
    const bytes = await fetchReceiptEntry(this.opts.libp2p, peerIdFromString(state.assign!.workers[0].peer), state.job, 'receipt')
    const cid = CID.createV1(raw.code, await sha256.digest(bytes))
    if (cid.toString() !== state.result?.receipt.chain) throw new NotADisputeError('the receipt does not hash to the CID the result names', { job: state.job })
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as TrainingReceipt
  }

  /** The worker's checkpoint at the start of `segment`, checked against its receipt. */
  private async fetchCheckpoint (state: JobState, receipt: TrainingReceipt, segment: number): Promise<Uint8Array> {
    const step = receipt.chain[segment - 1].step
    const bytes = await fetchReceiptEntry(this.opts.libp2p, peerIdFromString(state.assign!.workers[0].peer), state.job, step)
    if (checkpointHash(bytes) !== receipt.chain[segment - 1].hash) throw new NotADisputeError('the checkpoint is not the receipt\'s', { job: state.job, step })
    return bytes
  }

  /**
   * The referee's part: on a verdict whose replay disagreed, bisect between worker and
   * verifier over the segment, recompute the one step left, publish the ruling, and
   * slash whoever it refutes by the shared verdict rule (a refuted verifier for a false
   * accusation, with the worker as prover; a refuted worker for skipped steps, with the
   * verifier as prover). A forced-error reveal first ends the matter.
   */
  private async rule (job: string, v: JobVerdict, challenger: { peerId: string, address: string }): Promise<void> {
    const key = `${job}:${v.resultHash}:${challenger.address.toLowerCase()}`
    if (this.ruling.has(key) || v.dispute === undefined) return
    this.ruling.add(key)
    const dispute = v.dispute
    try {
      let state = await this.status(job)
      if ((state.rulings ?? []).some(r => r.resultHash === v.resultHash && r.challenger.toLowerCase() === challenger.address.toLowerCase())) return
      if (state.result?.resultHash !== v.resultHash) { this.opts.log('dispute over a result the referee never got', { job }); return }
      if (state.assign?.workers[0].commit !== undefined && await this.revealedWhileWaiting(job, v.resultHash)) {
        this.opts.log('disputed result was a forced error: no ruling', { job })
        return
      }
      state = await this.status(job)
      transition(state, 'verifying')
      await this.save(state)
      const result = state.result!
      const workerPeer = peerIdFromString(state.assign!.workers[0].peer)
      const receipt = await this.fetchTrainingReceipt(state)
      const started = performance.now()
      const replay = await this.opts.factory.replayTask(trainRequestOf(state.announce), AbortSignal.timeout(3_600_000))
      let ruling: Awaited<ReturnType<typeof playDispute>>
      try {
        checkReceipt(replay.task, receipt)
        if (receipt.chain[dispute.segment]?.step !== dispute.step) throw new NotADisputeError('the dispute names no checkpoint of the receipt', { segment: dispute.segment })
        const peerOf = (p: Party) => p === 'worker' ? workerPeer : peerIdFromString(challenger.peerId)
        const query = (step: number, wantState: boolean): DisputeQuery => ({ job, resultHash: v.resultHash, segment: dispute.segment, step, state: wantState })
        const ask: DisputeAsk = {
          hash: async (party, step) => {
            const q = query(step, false)
            const r = await askDispute(this.opts.libp2p, this.opts.inbound, this.opts.registry, peerOf(party), q, this.seal(DisputeQueryMessage.type, q))
            return { hash: r.claim!.body.hash, claim: r.claimBytes! }
          },
          state: async (party, step) => {
            const q = query(step, true)
            return (await askDispute(this.opts.libp2p, this.opts.inbound, this.opts.registry, peerOf(party), q, this.seal(DisputeQueryMessage.type, q))).state!
          }
        }
        ruling = await playDispute({
          task: replay.task,
          receipt,
          segment: dispute.segment,
          challengerClaim: dispute.hash,
          start: async () => dispute.segment === 0 ? null : await this.fetchCheckpoint(state, receipt, dispute.segment),
          ask,
          log: (msg, fields) => this.opts.log(msg, { job, ...fields })
        })
      } finally {
        await replay.release()
      }
      const bytes = Buffer.from(JSON.stringify(ruling.evidence))
      const evidence = { hash: keccak256(bytes), cid: CID.createV1(raw.code, await sha256.digest(bytes)).toString() }
      const body: JobRuling = {
        job, worker: result.worker, resultHash: v.resultHash, challenger: challenger.address, step: ruling.step, rounds: ruling.rounds, faulty: ruling.faulty, evidence,
        ...(ruling.faulty === 'challenger' ? { completion: await this.completion(job, result) } : {})
      }
      const latest = await this.status(job)
      latest.rulings = [...(latest.rulings ?? []), { ...body, detail: ruling.evidence }]
      transition(latest, ruling.faulty === 'challenger' ? 'verified' : 'failed')
      latest.wallMs = performance.now() - started
      await this.save(latest)
      await this.publish(this.verdictsTopic, JobRulingMessage.type, body)
      this.opts.log('dispute ruled', { job, faulty: ruling.faulty, step: ruling.step, rounds: ruling.rounds })
      await this.recordOutcome(result.worker, ruling.faulty === 'challenger' ? 'verified' : 'failed', job)
      // Who is slashed, by the rule the simulator uses too.
      const verdicts = verdictsOn(latest, v.resultHash)
      const judged = ruling.faulty === 'challenger'
        ? jobVerdict({ worker: result.worker.toLowerCase(), verdicts, referee: 'clean', refuted: [challenger.address.toLowerCase()] })
        : jobVerdict({ worker: result.worker.toLowerCase(), verdicts, referee: 'fault', fault: 'skipped-steps' })
      for (const x of judged.slashes) {
        const target = x.peer === result.worker.toLowerCase() ? result.worker : x.peer === challenger.address.toLowerCase() ? challenger.address : undefined
        if (target === undefined) continue
        const slashed = await this.slash(latest, { address: target, role: x.role, fault: x.fault }, evidence.hash, x.prover ?? this.opts.identity.address)
        if (slashed !== undefined) {
          const s2 = await this.status(job)
          s2.slash = slashed
          await this.save(s2)
        }
      }
    } catch (err) {
      this.ruling.delete(key)
      this.opts.log('dispute failed', { job, error: (err as Error).name, message: (err as Error).message })
    }
  }

  /** Everyone who knows the job keeps the referee's rulings; a ruling for the worker lets requester and worker release. */
  private async onRuling (env: Envelope<JobRuling>): Promise<void> {
    try {
      const r = env.body
      const state = await this.load(r.job)
      if (state?.assign?.referee === undefined || state.role === 'referee') return
      if (identityOf(env.signer).peerId !== state.assign.referee.peer) return
      if ((state.rulings ?? []).some(x => x.resultHash === r.resultHash && x.challenger.toLowerCase() === r.challenger.toLowerCase())) return
      await this.recordOutcome(r.worker, r.faulty === 'challenger' ? 'verified' : 'failed', r.job)
      const fresh = await this.status(r.job)
      fresh.rulings = [...(fresh.rulings ?? []), r]
      if (r.faulty === 'challenger' && fresh.phase === 'failed' && fresh.role !== 'verifier') transition(fresh, 'submitted')
      await this.save(fresh)
      if (r.faulty === 'challenger' && (fresh.role === 'requester' || this.isAssignedWorker(fresh))) await this.maybeRelease(r.job, r.resultHash)
    } catch (err) {
      this.opts.log('ruling handling failed', { error: (err as Error).name, message: (err as Error).message })
    }
  }

  /**
   * Trains the job: first inheriting what a silent predecessor's verifiers hold (when
   * this peer has no checkpoints of its own for it), then telling the verifiers each new
   * checkpoint so that a replacement of this worker could do the same.
   */
  private async train (req: TrainRequest, state?: JobState): Promise<Produced> {
    const factory = this.opts.factory
    const signal = AbortSignal.timeout(3_600_000)
    let stop = (): void => {}
    if (state?.assign !== undefined) {
      const dir = factory.jobDir(await factory.folderOf(req, signal))
      // Served while training too: the verifiers fetch each checkpoint as it is announced.
      state.checkpointDir = dir
      await this.save(state)
      await this.inherit(state, req, dir)
      stop = watchCheckpoints(dir, async step => await this.sendProgress(state, step))
    }
    try {
      const t = await factory.train(req, () => {}, signal) as { adapter: string, checkpoints: Array<{ step: number, hash: string }>, job: string, folder: string }
      return { adapter: t.adapter, job: t.job, checkpoints: t.checkpoints, checkpointDir: factory.jobDir(t.folder) }
    } finally {
      stop()
    }
  }

  // --- worker replacement (./checkpoint-handover.ts)

  private async inherit (state: JobState, req: TrainRequest, dir: string): Promise<void> {
    const store = new FileCheckpointStore(dir)
    if ((await store.steps()).length > 0) return
    for (const v of state.assign!.verifiers) {
      const peer = peerIdFromString(v.peer)
      const fetch = async (step: number): Promise<Uint8Array | undefined> => await fetchReceiptEntry(this.opts.libp2p, peer, state.job, step).catch(() => undefined)
      // Only a verifier that holds the first checkpoint can hand anything over.
      if (await fetch(CHECKPOINT_EVERY) === undefined) continue
      const replay = await this.opts.factory.replayTask(req, AbortSignal.timeout(3_600_000))
      try {
        const from = await inheritCheckpoints({ task: replay.task, fetch, store, log: this.opts.log })
        if (from === 0) continue
        state.resumedFrom = from
        await this.save(state)
        this.opts.log('resuming from the last verified checkpoint', { job: state.job, step: from, from: v.address })
        return
      } finally {
        await replay.release()
      }
    }
  }

  private async sendProgress (state: JobState, step: number): Promise<void> {
    const envelope = this.seal(JobProgressMessage.type, { job: state.job, worker: this.opts.identity.address, step } satisfies JobProgress)
    for (const v of state.assign?.verifiers ?? []) {
      await sendTask(this.opts.libp2p, this.opts.registry, peerIdFromString(v.peer), envelope).catch(() => {})
    }
  }

  /** Verifier: fetch and hold the checkpoints the assigned worker announced (untrusted bytes; a replacement checks them). */
  private async onProgress (env: Envelope<JobProgress>, from: string): Promise<TaskAnswer> {
    const state = await this.load(env.body.job)
    if (state?.role !== 'verifier' || state.assign === undefined || state.result !== undefined) return { accepted: false, reason: 'not verifying that job\'s training' }
    const worker = state.assign.workers[0]
    if (worker.peer !== from || worker.address.toLowerCase() !== env.body.worker.toLowerCase()) return { accepted: false, reason: 'not the assigned worker' }
    if (env.body.step % CHECKPOINT_EVERY !== 0) return { accepted: false, reason: 'not a checkpoint step' }
    const key = `hold:${state.job}`
    if (this.busy.has(key)) return { accepted: true }
    this.busy.add(key)
    void (async () => {
      try {
        const held = heldStore(this.dir, state.job)
        const have = await held.steps()
        for (let step = (have.at(-1) ?? 0) + CHECKPOINT_EVERY; step <= env.body.step && have.length < MAX_HELD; step += CHECKPOINT_EVERY) {
          await held.save(step, await fetchReceiptEntry(this.opts.libp2p, peerIdFromString(from), state.job, step))
          have.push(step)
        }
        const latest = await this.status(state.job)
        latest.held = have.at(-1)
        await this.save(latest)
      } catch (err) {
        this.opts.log('could not hold a checkpoint', { job: state.job, error: (err as Error).message })
      } finally {
        this.busy.delete(key)
      }
    })()
    return { accepted: true }
  }

  private cheatDeps (): CheatDeps {
    return {
      factory: this.opts.factory,
      models: this.opts.models,
      cycles: this.opts.cycles,
      me: this.opts.identity.address,
      dir: this.dir,
      log: this.opts.log,
      past: async () => {
        const out = []
        for (const { job } of await this.list()) {
          const s = await this.load(job)
          const receipt = await readJsonIfExists<TrainingReceipt>(join(this.dir, `${job}.receipt.json`))
          if (s?.role === 'worker' && s.result !== undefined && receipt !== undefined) out.push({ adapter: s.result.result, receipt, checkpointDir: s.checkpointDir })
        }
        return out
      }
    }
  }

  /** What the worker serves a verifier: the receipt, or a checkpoint by step. */
  private async receiptPart (job: string, entry: number | 'receipt'): Promise<Uint8Array | undefined> {
    const state = await this.load(job)
    // A verifier hands the checkpoints it holds to a replacement worker.
    if (state?.role === 'verifier' && typeof entry === 'number') {
      const held = heldStore(this.dir, job)
      return (await held.steps()).includes(entry) ? await held.load(entry) : undefined
    }
    if (state?.role !== 'worker' || (state.result === undefined && typeof entry !== 'number')) return undefined
    if (entry === 'receipt' && state.announce.kind !== 'train') return await readFile(join(this.dir, `${job}.receipt.bin`)).catch(() => undefined)
    if (entry === 'receipt') {
      const r = await readJsonIfExists<TrainingReceipt>(join(this.dir, `${job}.receipt.json`))
      return r === undefined ? undefined : Buffer.from(JSON.stringify(r))
    }
    if (state.checkpointDir === undefined) return undefined
    const store = new FileCheckpointStore(state.checkpointDir)
    if (!(await store.steps()).includes(entry)) return undefined
    return await store.load(entry)
  }

  private async onResult (env: Envelope<JobResult>, from: string): Promise<TaskAnswer> {
    const state = await this.load(env.body.job)
    if (state === undefined || state.assign === undefined) return { accepted: false, reason: 'no such job here' }
    const worker = state.assign.workers[0]
    if (worker.peer !== from || worker.address.toLowerCase() !== env.body.worker.toLowerCase()) return { accepted: false, reason: 'not the assigned worker' }
    // One result per job, unless the worker revealed the one before as a forced error.
    if (state.result !== undefined) return state.result.resultHash === env.body.resultHash ? { accepted: true } : { accepted: false, reason: 'a result for this job is already being verified' }
    if ((state.revealed ?? []).includes(env.body.resultHash)) return { accepted: false, reason: 'that result was revealed as a forced error' }
    state.result = env.body
    if (state.role === 'verifier') transition(state, 'verifying')
    if (state.role === 'requester' && state.phase === 'assigned') transition(state, 'submitted')
    await this.save(state)
    // Assignments travel by gossip only: a verifier that missed this one (the message lost, the peer restarting)
    // refused the result; hearing it again now, it takes the worker's next try.
    if (state.role === 'requester') void this.publish(this.jobsTopic, JobAssignMessage.type, state.assign)
    if (state.role === 'verifier') void this.verify(state.job, from)
    return { accepted: true }
  }

  private async verify (job: string, workerPeer: string): Promise<void> {
    if (this.busy.has(job)) return
    this.busy.add(job)
    const state = await this.status(job)
    const result = state.result!
    const started = performance.now()
    let verdict: JobVerdict | undefined
    const beacon: { value?: string } = {}
    try {
      for (let attempt = 1; verdict === undefined; attempt++) {
        try {
          const peer = peerIdFromString(workerPeer)
          const receiptBytes = await fetchReceiptEntry(this.opts.libp2p, peer, job, 'receipt')
          const cid = CID.createV1(raw.code, await sha256.digest(receiptBytes))
          if (cid.toString() !== result.receipt.chain) throw new Error('the receipt does not hash to the CID the result names')
          verdict = state.announce.kind === 'infer'
            ? await this.verifyInfer(state, result, receiptBytes, beacon)
            : state.announce.kind === 'attribute'
              ? await this.verifyAttribute(state, result, receiptBytes, beacon)
              : await this.verifyTrain(state, result, peer, receiptBytes, beacon)
        } catch (err) {
          // A network failure may be this verifier's own or passing: try again before judging.
          const transient = isTransient(err as Error)
          if (transient && attempt < VERIFY_ATTEMPTS) {
            this.opts.log('verification interrupted: trying again', { job, attempt, error: (err as Error).name })
            await new Promise(resolve => setTimeout(resolve, 5_000 * attempt))
            continue
          }
          // A worker that cannot show its work fails verification; only what its own bytes prove is slashed.
          verdict = await this.failing(job, result, [], { job, error: (err as Error).name, message: (err as Error).message, ...(transient ? { unproven: true } : {}) }, beacon.value)
        }
      }
    } finally {
      this.busy.delete(job)
    }
    const me = this.opts.identity.address
    state.verdicts = [...(state.verdicts ?? []).filter(d => !(d.by.toLowerCase() === me.toLowerCase() && d.resultHash === verdict.resultHash)), { ...verdict, by: me }]
    state.evidence = this.evidence.get(job)
    this.evidence.delete(job)
    state.wallMs = performance.now() - started
    transition(state, verdict.ok ? 'verified' : 'failed')
    await this.save(state)
    await this.publish(this.verdictsTopic, JobVerdictMessage.type, verdict)
    this.opts.log('verdict published', { job, ok: verdict.ok, checked: verdict.checked })
    if (verdict.evidence === undefined) return
    // A replay that disagrees goes to the job's referee, which bisects and slashes whoever it refutes.
    if (verdict.dispute !== undefined && state.assign?.referee !== undefined) {
      this.opts.log('the referee rules on the dispute', { job, referee: state.assign.referee.address })
      return
    }
    // The fault the evidence proves, by the shared rule; a failure the network may have caused proves none: not paid, not slashed.
    const fault = classifyFault(findingsOf(state.evidence))
    if (fault === null) {
      this.opts.log('verification failed on the network: the worker is not slashed', { job })
      return
    }
    // The fault may be a forced error: give the worker its chance to reveal before slashing it.
    if (state.assign?.workers[0].commit !== undefined && await this.revealedWhileWaiting(job, verdict.resultHash)) {
      this.opts.log('fault was a forced error: not slashed', { job })
      return
    }
    // The shared verdict rule says who proves it: one verifier submits, not each that found it.
    const latest = await this.status(job)
    const judged = jobVerdict({ worker: result.worker.toLowerCase(), verdicts: verdictsOn(latest, verdict.resultHash), referee: 'fault', fault })
    const proof = judged.slashes.find(x => x.role === 'worker' && x.prover === this.opts.identity.address.toLowerCase())
    if (proof === undefined) { this.opts.log('another verifier proves the fault', { job }); return }
    const slashed = await this.slash(state, { address: result.worker, role: 'worker', fault: proof.fault }, verdict.evidence.hash)
    if (slashed !== undefined) {
      latest.slash = slashed
      await this.save(latest)
    }
  }

  /** Training: the receipt is this job's run, sampled segments replay, and the adapter is the last checkpoint. */
  private async verifyTrain (state: JobState, result: JobResult, peer: PeerId, receiptBytes: Uint8Array, beacon: { value?: string }): Promise<JobVerdict> {
    const job = state.job
    const receipt = JSON.parse(Buffer.from(receiptBytes).toString('utf8')) as TrainingReceipt
    const rHash = receiptHash(receipt)
    beacon.value = this.beacon(job, rHash)
    if (this.opts.cheat === 'approve') return await this.approveUnchecked(job, result, beacon.value)
    const replay = await this.opts.factory.replayTask(trainRequestOf(state.announce), AbortSignal.timeout(3_600_000))
    try {
      const { task } = replay
      // Before asking for any bytes: a receipt of another run (stale, copied) is refused outright.
      checkReceipt(task, receipt)
      const n = segmentsOf(task).length
      // The registry's audit rate, at least one segment; the sample is fixed by this verifier's beacon, which the worker cannot know.
      const k = Math.min(n, Math.max(1, segmentsForFraction(n, await this.auditRate())))
      const segments = sampleSegments(sampleSeed({ job, receipt: rHash, verifier: this.opts.identity.address, beacon: beacon.value }), n, k)
      const checkpoints = new Map<number, Uint8Array>()
      for (const step of checkpointsNeeded(task, segments)) checkpoints.set(step, await fetchReceiptEntry(this.opts.libp2p, peer, job, step))
      const v = await verifyTraining({ task, receipt, segments, checkpoints })
      state.computeMs = v.computeMs
      if (this.opts.cheat === 'accuse' && v.ok) {
        // The adversary: a segment that replayed is claimed not to, with a made-up hash.
        const seg = segments[0]
        const fake = fabricatedHash(job, seg)
        this.opts.log('cheating: accusing an honest worker', { job, segment: seg })
        return await this.failing(job, result, segments, { job, receipt: rHash, mismatches: [{ segment: seg, step: receipt.chain[seg].step, claimed: receipt.chain[seg].hash, recomputed: fake }], headOk: true }, beacon.value, { segment: seg, step: receipt.chain[seg].step, hash: fake })
      }
      const headOk = '0x' + receipt.chain.at(-1)!.hash === result.receipt.head && result.resultHash === keccakText(result.result)
      // Every job, not a sample: the delivered adapter must be this run's last checkpoint.
      let binding: BindingVerdict | undefined
      if (v.ok && headOk) {
        const final = await fetchReceiptEntry(this.opts.libp2p, peer, job, task.steps)
        const adapter = decodeAdapter(await this.opts.models.adapterBytes(result.result, AbortSignal.timeout(120_000)), replay.base)
        binding = checkAdapterBinding({ task, receipt, adapter, final })
      }
      if (v.ok && headOk && binding?.ok === true) return { job, worker: result.worker, resultHash: result.resultHash, ok: true, checked: segments, completion: await this.completion(job, result), beacon: beacon.value }
      // The first segment that did not replay is what this verifier will defend in a dispute.
      const m = v.mismatches[0]
      return await this.failing(job, result, segments, { job, receipt: rHash, mismatches: v.mismatches, headOk, binding }, beacon.value, m === undefined ? undefined : { segment: m.segment, step: m.step, hash: m.recomputed })
    } finally {
      await replay.release()
    }
  }

  /** Inference: the outputs match the receipt, and sampled requests re-generate to the same tokens on the real model. */
  private async verifyInfer (state: JobState, result: JobResult, receiptBytes: Uint8Array, beacon: { value?: string }): Promise<JobVerdict> {
    const job = state.job
    const receipt = decodeReceiptFile(receiptBytes)
    beacon.value = this.beacon(job, inferenceReceiptHash(receipt))
    if (this.opts.cheat === 'approve') return await this.approveUnchecked(job, result, beacon.value)
    const headOk = '0x' + receipt.head === result.receipt.head && result.resultHash === keccakText(result.result)
    const v = await verifyInferenceJob(this.inferenceDeps(), inferSpecOf(state.announce), { result: result.result, receiptBytes, verifier: this.opts.identity.address, beacon: beacon.value, fraction: await this.auditRate() })
    state.computeMs = v.computeMs
    if (v.ok && headOk) return { job, worker: result.worker, resultHash: result.resultHash, ok: true, checked: v.checked, completion: await this.completion(job, result), beacon: beacon.value }
    return await this.failing(job, result, v.checked, { ...(v.evidence ?? { job }), headOk, mismatches: v.mismatches }, beacon.value)
  }

  private async approveUnchecked (job: string, result: JobResult, beacon: string): Promise<JobVerdict> {
    this.opts.log('cheating: approved without checking', { job })
    return { job, worker: result.worker, resultHash: result.resultHash, ok: true, checked: [], completion: await this.completion(job, result), beacon }
  }

  /** The registry's audit rate, as a share. */
  private async auditRate (): Promise<number> {
    return Number(await this.opts.settlement.chain.read<bigint>('registry', 'auditRateBps')) / 10_000
  }

  /** Waits until every assigned verifier spoke on the result (then a grace period), at most REVEAL_AFTER_MS; true once a reveal names it. */
  private async revealedWhileWaiting (job: string, resultHash: string): Promise<boolean> {
    const until = Date.now() + REVEAL_AFTER_MS + REVEAL_GRACE_MS
    let allSpokeAt: number | undefined
    while (Date.now() < until) {
      const s = await this.status(job)
      if ((s.revealed ?? []).includes(resultHash)) return true
      const spoke = (s.assign?.verifiers ?? []).every(x => (s.verdicts ?? []).some(d => d.resultHash === resultHash && d.by.toLowerCase() === x.address.toLowerCase()))
      if (spoke && allSpokeAt === undefined) allSpokeAt = Date.now()
      if (allSpokeAt !== undefined && Date.now() - allSpokeAt > REVEAL_GRACE_MS) return false
      await new Promise(resolve => setTimeout(resolve, 250))
    }
    return false
  }

  /** The EIP-712 Completion the escrow releases on. */
  private async completion (job: string, result: JobResult): Promise<string> {
    return (await signMessage(this.wallet(), 'Completion', this.opts.settlement.chain.domain('escrow'), { jobId: job, worker: result.worker, resultHash: result.resultHash })).signature
  }

  /** A failing verdict: the evidence is what the slash commits to (its keccak) and names (its CID). */
  private async failing (job: string, result: JobResult, checked: number[], evidence: object, beacon?: string, dispute?: JobVerdict['dispute']): Promise<JobVerdict> {
    this.evidence.set(job, evidence)
    const bytes = Buffer.from(JSON.stringify(evidence))
    return { job, worker: result.worker, resultHash: result.resultHash, ok: false, checked, evidence: { hash: keccak256(bytes), cid: CID.createV1(raw.code, await sha256.digest(bytes)).toString() }, ...(beacon !== undefined ? { beacon } : {}), ...(dispute !== undefined ? { dispute } : {}) }
  }

  /**
   * The sample's beacon: this verifier's signature over the job and the committed
   * receipt. The worker cannot compute it, so it cannot grind its receipt for a sample
   * that misses its lies; anyone can check it (it recovers to the verifier's address)
   * and so recompute the sample. Deterministic (RFC 6979): the same after a restart.
   */
  private beacon (job: string, receipt: string): string {
    return this.wallet().signMessageSync(`openledger/verify-beacon/1 ${job} ${receipt}`)
  }

  /** A proven fault costs the peer its stake for the role by the shared policy; this verifier proves it on chain. */
  private async slash (state: JobState, target: { address: string, role: StakeRole, fault: Fault }, evidence: string, prover: string = this.opts.identity.address): Promise<{ tx: string, amount: string, evidence: string } | undefined> {
    try {
      const chain = this.opts.settlement.chain
      const role = ROLE[target.role]
      const [bonded, unbonding, amount, share, quorum] = await Promise.all([
        chain.stakeOf(target.address, role), chain.unbondingOf(target.address, role),
        chain.read<bigint>('registry', 'slashAmount', [role]), chain.read<bigint>('registry', 'proverShareBps'), chain.read<bigint>('registry', 'verifierQuorum')
      ])
      const s = slashFor({ fault: target.fault, role: target.role, stake: bonded + unbonding.amount, registrySlashAmount: amount, proverShareBps: Number(share) })
      // With a quorum above one, the other verifiers' signatures are needed: a later step.
      if (!s.submit || Number(quorum) > 1) return undefined
      const signed = await signMessage(this.wallet(), 'Slash', chain.domain('staking'), { peer: target.address, role, amount: s.slashed, evidence, prover })
      const tx = await chain.slash(target.address, role, s.slashed, evidence, prover, packSignatures([signed]))
      this.opts.log('peer slashed', { job: state.job, peer: target.address, role: target.role, fault: target.fault, amount: s.slashed.toString(), tx: tx.receipt.hash })
      return { tx: tx.receipt.hash, amount: s.slashed.toString(), evidence }
    } catch (err) {
      this.opts.log('slash failed', { job: state.job, error: (err as Error).name, message: (err as Error).message })
      return undefined
    }
  }

  /**
   * Everyone who knows the job keeps the assigned verifiers' verdicts (a verifier, to
   * prove a co-verifier approved a forced error; a forced-error worker, to know when to
   * reveal). Requester and worker release the escrow once a quorum approved the result,
   * no assigned verifier found a fault in it, and every one spoke (or a grace passed).
   */
  private async onVerdict (env: Envelope<JobVerdict>): Promise<void> {
    try {
      const v = env.body
      const state = await this.load(v.job)
      if (state === undefined || state.assign === undefined) return
      const signer = identityOf(env.signer)
      if (!state.assign.verifiers.some(x => x.peer === signer.peerId)) return
      if ((state.revealed ?? []).includes(v.resultHash)) return
      // Every peer that saw the assignment learns from the verdict: reputation feeds the next assignment.
      await this.recordOutcome(v.worker, v.ok ? 'verified' : 'failed', v.job)
      const fresh = await this.status(v.job)
      // A reveal may have been handled while the outcome was being written.
      if ((fresh.revealed ?? []).includes(v.resultHash)) return
      fresh.verdicts = [...(fresh.verdicts ?? []).filter(x => !(x.by.toLowerCase() === signer.address.toLowerCase() && x.resultHash === v.resultHash)), { ...v, by: signer.address }]
      if (!v.ok && fresh.role !== 'verifier' && fresh.role !== 'referee' && canTransition(fresh, 'failed')) transition(fresh, 'failed')
      await this.save(fresh)
      if (fresh.role === 'referee' && !v.ok && v.dispute !== undefined) void this.rule(v.job, v, signer)
      if (fresh.role === 'worker' && fresh.forced !== undefined && fresh.forced.revealed !== true && v.resultHash === fresh.forced.resultHash) {
        if (this.allSpoke(fresh, v.resultHash)) void this.reveal(v.job)
        return
      }
      if (fresh.role === 'requester' || this.isAssignedWorker(fresh)) await this.maybeRelease(v.job, v.resultHash)
    } catch (err) {
      this.opts.log('verdict handling failed', { error: (err as Error).name, message: (err as Error).message })
    }
  }

  /** A bidder keeps role 'worker' when another was assigned: only the assigned one releases (and spends gas on it). */
  private isAssignedWorker (state: JobState): boolean {
    return state.role === 'worker' && state.assign?.workers.some(w => w.peer === this.opts.identity.peerId) === true
  }

  private allSpoke (state: JobState, resultHash: string): boolean {
    return (state.assign?.verifiers ?? []).every(x => (state.verdicts ?? []).some(d => d.resultHash === resultHash && d.by.toLowerCase() === x.address.toLowerCase()))
  }

  private async maybeRelease (job: string, resultHash: string, anyway = false): Promise<void> {
    const state = await this.status(job)
    if (state.phase === 'released' || state.assign === undefined) return
    const worker = state.assign.workers[0].address
    const chain = this.opts.settlement.chain
    const domain = chain.domain('escrow')
    const [quorum, minStake] = await Promise.all([chain.read<bigint>('registry', 'verifierQuorum').then(Number), chain.read<bigint>('registry', 'minStake', [ROLE.verifier])])
    // Valid: a Completion the verifier really signed, for this worker and result, and a verifier still staked
    // (the escrow takes staked signers only: one slashed since, a lazy approver, must not spoil the release).
    const staked = new Map<string, Promise<boolean>>()
    const valid = async (by: string, w: string, completion: string | undefined): Promise<boolean> => {
      if (completion === undefined || w.toLowerCase() !== worker.toLowerCase()) return false
      if (!verifySigned('Completion', domain, { jobId: job, worker: w, resultHash }, { signer: by, signature: completion })) return false
      const key = by.toLowerCase()
      if (!staked.has(key)) staked.set(key, chain.stakeOf(by, ROLE.verifier).then(s => s >= minStake))
      return await staked.get(key)!
    }
    // A rejection the referee refuted does not hold the payment; its ruling's completion counts as an approval.
    const cleared = (state.rulings ?? []).filter(r => r.resultHash === resultHash && r.faulty === 'challenger')
    const referee = state.assign.referee?.address
    const onResult = (state.verdicts ?? []).filter(d => d.resultHash === resultHash)
    const signatures = new Map<string, string>()
    const verdicts = await Promise.all(onResult.map(async d => {
      const ok = d.ok && await valid(d.by, d.worker, d.completion)
      if (ok && !signatures.has(d.by.toLowerCase())) signatures.set(d.by.toLowerCase(), d.completion!)
      return { verifier: d.by, approved: d.ok, valid: ok }
    }))
    let refereeApproval: { address: string, valid: boolean } | undefined
    for (const r of referee !== undefined ? cleared : []) {
      if (refereeApproval?.valid === true) break
      refereeApproval = { address: referee!, valid: await valid(referee!, r.worker, r.completion) }
      if (refereeApproval.valid && !signatures.has(referee!.toLowerCase())) signatures.set(referee!.toLowerCase(), r.completion!)
    }
    const decision = releaseDecision({
      assigned: state.assign.verifiers.map(v => v.address),
      verdicts,
      refuted: cleared.map(r => r.challenger),
      referee: refereeApproval,
      quorum,
      forcedError: (state.revealed ?? []).includes(resultHash),
      graceOver: anyway
    })
    if (decision.wait === 'silent-verifiers') {
      // A silent verifier cannot hold the payment forever.
      setTimeout(() => { void this.maybeRelease(job, resultHash, true).catch((err: Error) => this.opts.log('release failed', { job, error: err.message })) }, RELEASE_GRACE_MS).unref()
      return
    }
    if (!decision.release) return
    await this.release(state, worker, resultHash, decision.signers.map(signer => ({ signer, signature: signatures.get(signer.toLowerCase())! })))
  }

  private async release (state: JobState, worker: string, resultHash: string, signed: Array<{ signer: string, signature: string }>): Promise<void> {
    const chain = this.opts.settlement.chain
    const onChain = await chain.jobOf(state.job)
    if (onChain.status !== 1) {
      // Released by the other party, or refunded after its deadline.
      transition(state, onChain.status === 2 ? 'released' : state.role === 'requester' ? 'refunded' : 'failed')
      await this.save(state)
      if (onChain.status === 2) await this.afterRelease(state)
      return
    }
    try {
      const tx = await chain.releaseJob(state.job, worker, resultHash, packSignatures(signed))
      state.release = { tx: tx.receipt.hash, by: this.opts.identity.address }
      this.opts.log('escrow released', { job: state.job, tx: tx.receipt.hash })
    } catch (err) {
      // Requester and worker both release; whoever is second finds it done.
      if ((await chain.jobOf(state.job)).status !== 2) throw err
    }
    transition(state, 'released')
    await this.save(state)
    await this.afterRelease(state)
  }

  /** A requester's verified attribution goes into the datanet's credit map. */
  private async afterRelease (state: JobState): Promise<void> {
    if (state.role === 'requester' && state.announce.kind === 'attribute') await this.attributions.recordVerified(state)
  }

  // --- reputation (./reputation-book.ts)

  private async recordOutcome (worker: string, kind: 'verified' | 'failed' | 'timeout', job: string): Promise<void> {
    await this.book.record(worker, kind, job)
  }

  private async scored (bids: NonNullable<JobState['bids']>): Promise<Bid[]> {
    return await this.book.scored(bids)
  }

  // --- plumbing

  private wallet (): Wallet {
    return new Wallet(hexlify(this.opts.identity.libp2pKey.raw))
  }

  private seal (type: string, body: unknown): Uint8Array {
    return sealEnvelope({ network: this.opts.network, type, body, signer: this.opts.identity.signer, registry: this.opts.registry })
  }

  private async publish (topic: string, type: string, body: unknown): Promise<void> {
    await this.opts.libp2p.services.pubsub.publish(topic, this.seal(type, body)).catch((err: Error) => this.opts.log('publish failed', { topic, error: err.message }))
  }

  private async load (job: string): Promise<JobState | undefined> {
    return await this.store.load(job)
  }

  private async save (state: JobState): Promise<void> {
    await this.store.save(state)
  }
}

/** A verification that failed this many times on the network is judged (unproven: no slash). */
const VERIFY_ATTEMPTS = 3

/**
 * Failures that say nothing about the worker's work: timeouts, dials, streams, blocks
 * not found in time, a peer's internal error. A refusal to serve an entry (the worker
 * withholding its work) or bytes that do not check out are not among them.
 */
function isTransient (err: Error & { details?: { remoteName?: string } }): boolean {
  const names = ['RequestTimeoutError', 'LoadBlockFailedError', 'AbortError', 'TimeoutError', 'DialError', 'NoValidAddressesError', 'ConnectionFailedError', 'StreamResetError', 'StreamStateError', 'MuxerClosedError', 'ConnectionClosedError', 'UnsupportedProtocolError']
  return names.includes(err?.name) || (err?.name === 'RemoteError' && err.details?.remoteName === 'InternalError')
}

/** One verdict per assigned verifier on this result, as the shared verdict rule takes them (addresses lowercase: one order everywhere). */
function verdictsOn (state: JobState, resultHash: string): Array<{ verifier: string, approved: boolean }> {
  const by = new Map<string, boolean>()
  for (const d of state.verdicts ?? []) if (d.resultHash === resultHash) by.set(d.by.toLowerCase(), d.ok)
  return [...by].map(([verifier, approved]) => ({ verifier, approved }))
}

/** What a verifier's evidence establishes, as the shared fault rule takes it. */
function findingsOf (evidence: unknown): CheckFindings {
  const e = evidence as { mismatches?: unknown[], binding?: { ok: boolean }, error?: string, unproven?: boolean } | undefined
  return {
    unproven: e?.unproven === true,
    replayMismatch: (e?.mismatches?.length ?? 0) > 0,
    notThisRun: e?.binding?.ok === false || e?.error === 'BadReceiptError'
  }
}

