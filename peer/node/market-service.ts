// The task market on one peer, for LoRA training jobs: as a requester it escrows OPEN,
// announces the job, takes bids, assigns by the shared policy and releases the escrow
// once a verifier quorum signed; as a worker it bids, trains, and reports the result
// with its receipt (the checkpoint hash chain); as a verifier it bids, replays sampled
// segments of the receipt from the worker's checkpoints, and publishes a verdict that
// carries the escrow's Completion signature, or evidence. Anyone holding the quorum's
// signatures can release: a requester that refuses to pay is not needed (the worker
// releases too). Each job's state is a file under market/, written atomically.
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { id as keccakText, keccak256, parseUnits, Wallet, hexlify } from 'ethers'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { receiptHash, sampleSeed, sampleSegments, segmentsForFraction, type TrainingReceipt } from '../../compute/verify/sample.ts'
import { checkpointsNeeded, segmentsOf, verifyTraining } from '../../compute/verify/training.ts'
import { sealEnvelope, type Envelope } from '../../protocols/envelope.ts'
import { topicValidator } from '../../protocols/gossip-validator.ts'
import { identityOf } from '../../protocols/identity.ts'
import type { Inbound } from '../../protocols/inbound.ts'
import {
  JobAnnounceMessage, JobAssignMessage, JobBidMessage, JobResultMessage, JobVerdictMessage,
  type JobAnnounce, type JobAssign, type JobBid, type JobResult, type JobVerdict
} from '../../protocols/messages/index.ts'
import type { MessageRegistry } from '../../protocols/registry.ts'
import { sendTask, serveTask, type TaskAnswer } from '../../protocols/task/task.ts'
import { JOBS_TOPIC, topicName, VERDICTS_TOPIC } from '../../protocols/topics.ts'
import { fetchReceiptEntry, serveVerify } from '../../protocols/verify/verify.ts'
import { ROLE } from '../../settlement/chain/client.ts'
import { packSignatures, signMessage, verifySigned } from '../../settlement/chain/signatures.ts'
import { assignJob, reputation, slashFor, type Bid, type Outcome } from '../../settlement/policy/index.ts'
import { readJsonIfExists, writeJsonAtomic } from '../../storage/atomic-file.ts'
import { PeerError, EXIT, UsageError } from '../errors.ts'
import type { Identity } from '../identity/keystore.ts'
import { FileCheckpointStore } from './checkpoint-files.ts'
import type { PeerLibp2p } from './libp2p.ts'
import type { ModelFactory, TrainRequest } from './model-factory.ts'
import type { SettlementService } from './settlement-service.ts'

export class UnknownJobError extends PeerError {
  constructor (job: string) { super(`no job ${job} on this peer`, EXIT.notFound, { job }) }
}

export type JobPhase = 'bidding' | 'assigned' | 'training' | 'submitted' | 'verifying' | 'verified' | 'released' | 'failed' | 'unassigned'

/** market/<job>.json: everything this peer knows and did about one job. */
export interface JobState {
  job: string
  role: 'requester' | 'worker' | 'verifier'
  phase: JobPhase
  announce: JobAnnounce
  requester: string
  requesterPeer?: string
  bids?: Array<JobBid & { peer: string, address: string }>
  assign?: JobAssign
  result?: JobResult
  /** Worker: the factory job whose folder holds the checkpoints. */
  factoryJob?: string
  /** Verdicts from the assigned verifiers, each with the address that signed its envelope. */
  verdicts?: Array<JobVerdict & { by: string }>
  /** Requester: when the assigned worker's result is due, and the workers replaced for silence. */
  resultDueAt?: number
  silent?: string[]
  release?: { tx: string, by: string }
  /** Verifier: the slash it proved on chain. */
  slash?: { tx: string, amount: string, evidence: string }
  error?: string
  updatedAt: number
}

export interface SubmitRequest {
  train: TrainRequest
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
  /**
   * Demonstrations and tests only: 'lazy' trains half the steps and claims the rest by
   * relabelling its last checkpoint, the cheapest lie a worker can tell.
   */
  cheat?: 'lazy'
  log: (msg: string, fields?: Record<string, unknown>) => void
}

/** Share of a receipt's segments a verifier replays. */
const AUDIT_FRACTION = 0.25
/** Steps per checkpoint of adapter jobs (their default): the unit a verifier replays. */
const CHECKPOINT_EVERY = 50

export class MarketService {
  private readonly opts: MarketServiceOptions
  private readonly jobs = new Map<string, JobState>()
  private readonly jobsTopic: string
  private readonly verdictsTopic: string
  private readonly dir: string
  private readonly busy = new Set<string>()
  private reputationWrites: Promise<void> = Promise.resolve()

  constructor (opts: MarketServiceOptions) {
    this.opts = opts
    this.jobsTopic = topicName(opts.network, JOBS_TOPIC)
    this.verdictsTopic = topicName(opts.network, VERDICTS_TOPIC)
    this.dir = join(opts.dataDir, 'market')
  }

  async start (): Promise<void> {
    const { libp2p, inbound, registry } = this.opts
    const pubsub = libp2p.services.pubsub
    pubsub.topicValidators.set(this.jobsTopic, topicValidator(inbound, JOBS_TOPIC, this.jobsTopic, (env) => { void this.onJobsTopic(env) }))
    pubsub.topicValidators.set(this.verdictsTopic, topicValidator(inbound, VERDICTS_TOPIC, this.verdictsTopic, (env) => { void this.onVerdict(env as Envelope<JobVerdict>) }))
    pubsub.subscribe(this.jobsTopic)
    pubsub.subscribe(this.verdictsTopic)
    await serveTask(libp2p, inbound, registry, {
      onBid: async (env, from) => await this.onBid(env, from),
      onResult: async (env, from) => await this.onResult(env, from)
    })
    await serveVerify(libp2p, async (job, entry) => await this.receiptPart(job, entry))
    await this.resume()
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
    const pubsub = this.opts.libp2p.services.pubsub
    pubsub.unsubscribe(this.jobsTopic)
    pubsub.unsubscribe(this.verdictsTopic)
  }

  /** Every job this peer took part in, newest first. */
  async list (): Promise<Array<Pick<JobState, 'job' | 'role' | 'phase' | 'updatedAt'>>> {
    const names = await readdir(this.dir).catch(() => [] as string[])
    const out: Array<Pick<JobState, 'job' | 'role' | 'phase' | 'updatedAt'>> = []
    for (const n of names) {
      const m = /^(0x[0-9a-f]{64})\.json$/.exec(n)
      const s = m === null ? undefined : await this.load(m[1])
      if (s !== undefined) out.push({ job: s.job, role: s.role, phase: s.phase, updatedAt: s.updatedAt })
    }
    return out.sort((a, b) => b.updatedAt - a.updatedAt)
  }

  async status (job: string): Promise<JobState> {
    const s = await this.load(job)
    if (s === undefined) throw new UnknownJobError(job)
    return s
  }

  // --- requester

  /** Escrows the fee, announces the job, takes bids for the window, assigns, and returns. */
  async submit (req: SubmitRequest): Promise<JobState> {
    const chain = this.opts.settlement.chain
    const fee = parseUnits(req.amount, 18)
    if (fee <= 0n) throw new UsageError('the job needs an amount of OPEN above 0')
    const job = keccakText(`${this.opts.identity.address}:${Date.now()}:${Math.random()}`)
    // The escrow's deadline is in chain time (a devnet's clock may have been warped).
    const deadline = await this.opts.settlement.chainTime() + 3_600
    await chain.openJob(job, fee, deadline)
    const [minWorker] = await Promise.all([chain.read<bigint>('registry', 'minStake', [ROLE.worker])])
    const announce: JobAnnounce = {
      job,
      kind: 'train',
      spec: { params: trainParams(req.train) },
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
      requester: this.opts.identity.peerId
    }, await this.scored(bids))
    if (!a.complete) {
      state.phase = 'unassigned'
      state.error = `not enough eligible bids: ${a.workers.length} worker(s), ${a.verifiers.length} verifier(s)`
      await this.save(state)
      return state
    }
    const pick = (peer: string): { peer: string, address: string, price: string } => {
      const b = bids.find(x => x.peer === peer)!
      return { peer, address: b.address, price: b.price }
    }
    const digest = keccak256(Buffer.from(bids.map(b => `${b.peer}:${b.role}:${b.price}:${b.stake}`).sort().join('\n')))
    const assign: JobAssign = { job, workers: a.workers.map(pick), verifiers: a.verifiers.map(pick), bidsDigest: digest }
    state.assign = assign
    state.phase = 'assigned'
    state.result = undefined
    // Twice the worker's own estimate, then it is replaced by the next-best bid.
    state.resultDueAt = Date.now() + 2 * (bids.find(b => b.peer === a.workers[0])?.etaMs ?? 60_000)
    await this.save(state)
    await this.publish(this.jobsTopic, JobAssignMessage.type, assign)
    this.opts.log('job assigned', { job, workers: a.workers, verifiers: a.verifiers })
    this.watch(job, state.resultDueAt)
    return state
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
    if (requester.peerId === this.opts.identity.peerId || a.kind !== 'train') return
    const kind = typeof a.spec.params.base === 'string' ? this.opts.modelKind(a.spec.params.base) : undefined
    if (kind === undefined) return
    const chain = this.opts.settlement.chain
    // The payment must be in escrow as announced before anyone works for it.
    const onChain = await chain.jobOf(a.job)
    if (onChain.status !== 1 || onChain.amount !== BigInt(a.escrow.amount) || onChain.requester.toLowerCase() !== requester.address.toLowerCase()) {
      this.opts.log('job announce without matching escrow ignored', { job: a.job })
      return
    }
    const me = this.opts.identity.address
    const [worker, verifier, minVerifier] = await Promise.all([chain.stakeOf(me, ROLE.worker), chain.stakeOf(me, ROLE.verifier), chain.read<bigint>('registry', 'minStake', [ROLE.verifier])])
    const role = worker >= BigInt(a.requiredStake) ? 'worker' : verifier >= minVerifier ? 'verifier' : undefined
    if (role === undefined) return
    // A conservative estimate (10 s, plus per step several times what bench train measured
    // here: ~3 ms classifier, ~50 ms shipped LM); the requester replaces a worker at twice it.
    const steps = typeof a.spec.params.steps === 'number' ? a.spec.params.steps : 300
    const bid: JobBid = { job: a.job, role, price: a.maxPrice, etaMs: 10_000 + (kind === 'lm' ? 200 : 10) * steps, stake: (role === 'worker' ? worker : verifier).toString() }
    await this.save({ job: a.job, role, phase: 'bidding', announce: a, requester: requester.address, requesterPeer: requester.peerId, updatedAt: Date.now() })
    const answer = await sendTask(this.opts.libp2p, this.opts.registry, peerIdFromString(requester.peerId), this.seal(JobBidMessage.type, bid))
    this.opts.log('bid sent', { job: a.job, role, accepted: answer.accepted, reason: answer.reason })
  }

  private async onAssign (env: Envelope<JobAssign>): Promise<void> {
    const state = await this.load(env.body.job)
    if (state === undefined || identityOf(env.signer).address.toLowerCase() !== state.requester.toLowerCase()) return
    const me = this.opts.identity.peerId
    state.assign = env.body
    const isWorker = env.body.workers.some(w => w.peer === me)
    const isVerifier = env.body.verifiers.some(v => v.peer === me)
    if (state.role === 'requester') return
    if (!isWorker && !isVerifier) { state.phase = 'unassigned'; await this.save(state); return }
    state.role = isWorker ? 'worker' : 'verifier'
    state.phase = isWorker ? 'training' : 'assigned'
    await this.save(state)
    if (isWorker) void this.work(state.job)
  }

  private async work (job: string): Promise<void> {
    if (this.busy.has(job)) return
    this.busy.add(job)
    try {
      const state = await this.status(job)
      const req = trainRequestOf(state.announce)
      const lazy = this.opts.cheat === 'lazy'
      const steps = req.steps ?? 0
      const trained = await this.opts.factory.train(lazy ? { ...req, steps: Math.max(1, Math.floor(steps / 2)) } : req, () => {}, AbortSignal.timeout(3_600_000)) as { adapter: string, checkpoints: Array<{ step: number, hash: string }>, job: string, folder: string }
      if (lazy) {
        const last = trained.checkpoints.at(-1)!
        for (let step = last.step + CHECKPOINT_EVERY; step <= steps; step += CHECKPOINT_EVERY) trained.checkpoints.push({ step, hash: last.hash })
        this.opts.log('cheating: half the steps trained, the rest claimed', { job })
      }
      const receipt: TrainingReceipt = { job: trained.job, chain: trained.checkpoints }
      const receiptBytes = Buffer.from(JSON.stringify(receipt))
      const result: JobResult = {
        job,
        worker: this.opts.identity.address,
        result: trained.adapter,
        resultHash: keccakText(trained.adapter),
        receipt: { head: '0x' + trained.checkpoints.at(-1)!.hash, entries: trained.checkpoints.length, every: CHECKPOINT_EVERY, steps: trained.checkpoints.at(-1)!.step, chain: CID.createV1(raw.code, await sha256.digest(receiptBytes)).toString() }
      }
      state.factoryJob = trained.folder
      state.result = result
      state.phase = 'submitted'
      await this.save(state)
      await writeJsonAtomic(join(this.dir, `${job}.receipt.json`), receipt)
      const targets = [...(state.requesterPeer !== undefined ? [state.requesterPeer] : []), ...(state.assign?.verifiers.map(v => v.peer) ?? [])]
      const envelope = this.seal(JobResultMessage.type, result)
      for (const peer of new Set(targets)) {
        await sendTask(this.opts.libp2p, this.opts.registry, peerIdFromString(peer), envelope).catch((err: Error) => this.opts.log('result not delivered', { peer, error: err.message }))
      }
      this.opts.log('job result sent', { job, adapter: trained.adapter, to: targets.length })
    } catch (err) {
      this.opts.log('job training failed', { job, error: (err as Error).message })
      const state = await this.load(job)
      if (state !== undefined) { state.phase = 'failed'; state.error = (err as Error).message; await this.save(state) }
    } finally {
      this.busy.delete(job)
    }
  }

  /** What the worker serves a verifier: the receipt, or a checkpoint by step. */
  private async receiptPart (job: string, entry: number | 'receipt'): Promise<Uint8Array | undefined> {
    const state = await this.load(job)
    if (state?.role !== 'worker' || state.factoryJob === undefined) return undefined
    if (entry === 'receipt') {
      const r = await readJsonIfExists<TrainingReceipt>(join(this.dir, `${job}.receipt.json`))
      return r === undefined ? undefined : Buffer.from(JSON.stringify(r))
    }
    const store = new FileCheckpointStore(this.opts.factory.jobDir(state.factoryJob))
    if (!(await store.steps()).includes(entry)) return undefined
    return await store.load(entry)
  }

  private async onResult (env: Envelope<JobResult>, from: string): Promise<TaskAnswer> {
    const state = await this.load(env.body.job)
    if (state === undefined || state.assign === undefined) return { accepted: false, reason: 'no such job here' }
    const worker = state.assign.workers[0]
    if (worker.peer !== from || worker.address.toLowerCase() !== env.body.worker.toLowerCase()) return { accepted: false, reason: 'not the assigned worker' }
    state.result = env.body
    if (state.role === 'verifier') state.phase = 'verifying'
    if (state.role === 'requester' && state.phase === 'assigned') state.phase = 'submitted'
    await this.save(state)
    if (state.role === 'verifier') void this.verify(state.job, from)
    return { accepted: true }
  }

  private async verify (job: string, workerPeer: string): Promise<void> {
    if (this.busy.has(job)) return
    this.busy.add(job)
    const state = await this.status(job)
    const result = state.result!
    let verdict: JobVerdict
    try {
      const peer = peerIdFromString(workerPeer)
      const receiptBytes = await fetchReceiptEntry(this.opts.libp2p, peer, job, 'receipt')
      const cid = CID.createV1(raw.code, await sha256.digest(receiptBytes))
      if (cid.toString() !== result.receipt.chain) throw new Error('the receipt does not hash to the CID the result names')
      const receipt = JSON.parse(Buffer.from(receiptBytes).toString('utf8')) as TrainingReceipt
      const replay = await this.opts.factory.replayTask(trainRequestOf(state.announce), AbortSignal.timeout(3_600_000))
      try {
        const n = segmentsOf(replay.task).length
        const k = Math.max(segmentsForFraction(n, AUDIT_FRACTION), 1)
        const segments = sampleSegments(sampleSeed({ job, receipt: receiptHash(receipt), verifier: this.opts.identity.address }), n, Math.min(k, n))
        const checkpoints = new Map<number, Uint8Array>()
        for (const step of checkpointsNeeded(replay.task, segments)) checkpoints.set(step, await fetchReceiptEntry(this.opts.libp2p, peer, job, step))
        const v = await verifyTraining({ task: replay.task, receipt, segments, checkpoints })
        const headOk = '0x' + receipt.chain.at(-1)!.hash === result.receipt.head
        if (v.ok && headOk) {
          const completion = await signMessage(this.wallet(), 'Completion', this.opts.settlement.chain.domain('escrow'), { jobId: job, worker: result.worker, resultHash: result.resultHash })
          verdict = { job, worker: result.worker, resultHash: result.resultHash, ok: true, checked: segments, completion: completion.signature }
        } else {
          const evidence = { job, receipt: receiptHash(receipt), mismatches: v.mismatches, headOk }
          const bytes = Buffer.from(JSON.stringify(evidence))
          verdict = { job, worker: result.worker, resultHash: result.resultHash, ok: false, checked: segments, evidence: { hash: keccak256(bytes), cid: CID.createV1(raw.code, await sha256.digest(bytes)).toString() } }
        }
      } finally {
        await replay.release()
      }
    } catch (err) {
      // A worker that cannot show its work fails verification.
      const bytes = Buffer.from(JSON.stringify({ job, error: (err as Error).message }))
      verdict = { job, worker: result.worker, resultHash: result.resultHash, ok: false, checked: [], evidence: { hash: keccak256(bytes), cid: CID.createV1(raw.code, await sha256.digest(bytes)).toString() } }
    } finally {
      this.busy.delete(job)
    }
    state.verdicts = [{ ...verdict, by: this.opts.identity.address }]
    state.phase = verdict.ok ? 'verified' : 'failed'
    await this.save(state)
    await this.publish(this.verdictsTopic, JobVerdictMessage.type, verdict)
    this.opts.log('verdict published', { job, ok: verdict.ok, checked: verdict.checked })
    if (verdict.evidence !== undefined) await this.slash(state, verdict.evidence.hash)
  }

  /** A proven fault costs the worker its stake by the shared policy; this verifier proves it on chain. */
  private async slash (state: JobState, evidence: string): Promise<void> {
    try {
      const chain = this.opts.settlement.chain
      const worker = state.result!.worker
      const [bonded, unbonding, amount, share, quorum] = await Promise.all([
        chain.stakeOf(worker, ROLE.worker), chain.unbondingOf(worker, ROLE.worker),
        chain.read<bigint>('registry', 'slashAmount', [ROLE.worker]), chain.read<bigint>('registry', 'proverShareBps'), chain.read<bigint>('registry', 'verifierQuorum')
      ])
      const s = slashFor({ fault: 'skipped-steps', role: 'worker', stake: bonded + unbonding.amount, registrySlashAmount: amount, proverShareBps: Number(share) })
      // With a quorum above one, the other verifiers' signatures are needed: a later step.
      if (!s.submit || Number(quorum) > 1) return
      const me = this.opts.identity.address
      const signed = await signMessage(this.wallet(), 'Slash', chain.domain('staking'), { peer: worker, role: ROLE.worker, amount: s.slashed, evidence, prover: me })
      const tx = await chain.slash(worker, ROLE.worker, s.slashed, evidence, me, packSignatures([signed]))
      state.slash = { tx: tx.receipt.hash, amount: s.slashed.toString(), evidence }
      await this.save(state)
      this.opts.log('worker slashed', { job: state.job, worker, amount: s.slashed.toString(), tx: tx.receipt.hash })
    } catch (err) {
      this.opts.log('slash failed', { job: state.job, error: (err as Error).name, message: (err as Error).message })
    }
  }

  /** Requester and worker collect passing verdicts; at quorum either releases the escrow. */
  private async onVerdict (env: Envelope<JobVerdict>): Promise<void> {
    try {
      const v = env.body
      const state = await this.load(v.job)
      if (state === undefined || state.assign === undefined) return
      const signer = identityOf(env.signer)
      if (!state.assign.verifiers.some(x => x.peer === signer.peerId)) return
      // Every peer that saw the assignment learns from the verdict: reputation feeds the next assignment.
      await this.recordOutcome(v.worker, v.ok ? 'verified' : 'failed', v.job)
      if (state.role !== 'requester' && state.role !== 'worker') return
      const verdicts = [...(state.verdicts ?? []).filter(x => x.by.toLowerCase() !== signer.address.toLowerCase()), { ...v, by: signer.address }]
      state.verdicts = verdicts
      if (!v.ok) state.phase = 'failed'
      await this.save(state)
      if (!v.ok || state.phase === 'released') return
      const chain = this.opts.settlement.chain
      const domain = chain.domain('escrow')
      // Only completions the assigned verifiers really signed, for this worker and result.
      const signed = verdicts.flatMap(d => {
        if (!d.ok || d.completion === undefined || d.worker !== v.worker || d.resultHash !== v.resultHash) return []
        const s = { signer: d.by, signature: d.completion }
        return verifySigned('Completion', domain, { jobId: v.job, worker: v.worker, resultHash: v.resultHash }, s) ? [s] : []
      })
      const quorum = Number(await chain.read<bigint>('registry', 'verifierQuorum'))
      if (signed.length < quorum) return
      const onChain = await chain.jobOf(v.job)
      if (onChain.status !== 1) { state.phase = 'released'; await this.save(state); return }
      try {
        const tx = await chain.releaseJob(v.job, v.worker, v.resultHash, packSignatures(signed))
        state.release = { tx: tx.receipt.hash, by: this.opts.identity.address }
        this.opts.log('escrow released', { job: v.job, tx: tx.receipt.hash })
      } catch (err) {
        // Requester and worker both release; whoever is second finds it done.
        if ((await chain.jobOf(v.job)).status !== 2) throw err
      }
      state.phase = 'released'
      await this.save(state)
    } catch (err) {
      this.opts.log('verdict handling failed', { error: (err as Error).name, message: (err as Error).message })
    }
  }

  // --- reputation

  /** One outcome per job and worker, kept in market/reputation.json (newest 1,000 per address). */
  private async recordOutcome (worker: string, kind: 'verified' | 'failed' | 'timeout', job: string): Promise<void> {
    // One writer at a time: verdicts of several jobs may arrive together.
    const write = this.reputationWrites.then(async () => await this.writeOutcome(worker, kind, job))
    this.reputationWrites = write.catch(() => {})
    await write
  }

  private async writeOutcome (worker: string, kind: 'verified' | 'failed' | 'timeout', job: string): Promise<void> {
    const path = join(this.dir, 'reputation.json')
    const book = await readJsonIfExists<Record<string, Array<Outcome & { job: string }>>>(path) ?? {}
    const key = worker.toLowerCase()
    const list = (book[key] ?? []).filter(o => o.job !== job)
    list.push({ kind, at: Date.now(), job })
    book[key] = list.slice(-1_000)
    await writeJsonAtomic(path, book)
  }

  /** Bids as the assignment policy takes them, each with its bidder's score from what this peer saw verified. */
  private async scored (bids: NonNullable<JobState['bids']>): Promise<Bid[]> {
    const book = await readJsonIfExists<Record<string, Outcome[]>>(join(this.dir, 'reputation.json')) ?? {}
    const now = Date.now()
    return bids.map(b => ({
      peer: b.peer,
      price: BigInt(b.price),
      stake: BigInt(b.stake),
      reputation: reputation((book[b.address.toLowerCase()] ?? []).map(o => ({ kind: o.kind, at: o.at })), now).score,
      etaMs: b.etaMs,
      role: b.role
    }))
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
    if (!/^0x[0-9a-f]{64}$/.test(job)) return undefined
    const cached = this.jobs.get(job)
    if (cached !== undefined) return cached
    const s = await readJsonIfExists<JobState>(join(this.dir, `${job}.json`))
    if (s !== undefined) this.jobs.set(job, s)
    return s
  }

  private async save (state: JobState): Promise<void> {
    state.updatedAt = Date.now()
    this.jobs.set(state.job, state)
    await writeJsonAtomic(join(this.dir, `${state.job}.json`), state)
  }
}

/** The training request's fields as announce parameters (flat, typed). */
function trainParams (t: TrainRequest): Record<string, number | string | boolean> {
  const out: Record<string, number | string | boolean> = { datanet: t.datanet, base: t.base }
  for (const k of ['rank', 'alpha', 'steps', 'batch', 'lr', 'seq', 'seed', 'label', 'heldOut'] as const) if (t[k] !== undefined) out[k] = t[k] as number | string
  return out
}

function trainRequestOf (a: JobAnnounce): TrainRequest {
  const p = a.spec.params
  const num = (k: string): number | undefined => typeof p[k] === 'number' ? p[k] as number : undefined
  if (typeof p.datanet !== 'string' || typeof p.base !== 'string') throw new UsageError('the job names no datanet or base')
  return { datanet: p.datanet, base: p.base, rank: num('rank'), alpha: num('alpha'), steps: num('steps'), batch: num('batch'), lr: num('lr'), seq: num('seq'), seed: num('seed'), label: typeof p.label === 'string' ? p.label : undefined, heldOut: num('heldOut') }
}
