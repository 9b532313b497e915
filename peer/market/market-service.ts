// The task market on one peer, for LoRA training jobs, inference batches and
// attributions. One facade over the roles a peer plays, each in its own file:
//   requester.ts   escrow, announce, bids, assignment by the shared policy, replacing a
//                  silent worker, refunds after the deadline
//   bidder.ts      bids on what it can take; takes the role it is assigned
//   worker.ts      produces the result through its kind, keeps and serves its receipt,
//                  hands the result over with retries
//   verifier.ts    checks a result against its receipt on a beacon-seeded sample,
//                  publishes its verdict, slashes what its evidence proves
//   referee.ts     bisects a disputed replay to one step and rules (dispute-party.ts
//                  answers as worker or challenger)
//   forced-reveals.ts  forced errors: the draw, the reveal, lazy approvals slashed
//   verdicts.ts, release.ts  verdicts and rulings kept; the escrow released
//   handover.ts    a replacement worker resumes from the checkpoints verifiers held
//   kinds/         train, infer and attribute behind one JobKind interface
// Money-deciding rules are the shared policies (settlement/policy); adversaries are an
// injected behaviour (adversaries/behaviour.ts). Each job's state is a file under
// market/, written atomically; in-flight jobs resume from it after a restart.
import { join } from 'node:path'
import type { Envelope } from '../../protocols/envelope.ts'
import type { Inbound } from '../../protocols/inbound.ts'
import { JobAnnounceMessage, JobAssignMessage, JobRevealMessage, JobRulingMessage, type JobAnnounce, type JobAssign, type JobReveal, type JobRuling, type JobVerdict } from '../../protocols/messages/index.ts'
import type { MessageRegistry } from '../../protocols/registry.ts'
import type { Identity } from '../identity/keystore.ts'
import type { ModelFactory } from '../models/model-factory.ts'
import type { ModelRegistry } from '../models/model-registry.ts'
import type { PeerLibp2p } from '../net/peer-libp2p.ts'
import type { SettlementService } from '../settlement/settlement-service.ts'
import { HONEST, type MarketBehaviour } from './adversaries/behaviour.ts'
import { Bidder } from './bidder.ts'
import { clientChain, type MarketChain } from './chain.ts'
import { sealer, walletOf, type Log, type MarketContext } from './context.ts'
import { DisputeParty } from './dispute-party.ts'
import { cosignSlash } from './slash-cosigner.ts'
import { ForcedErrors } from './forced-reveals.ts'
import { Handover } from './handover.ts'
import type { JobState } from './job-state.ts'
import { JobStore, type JobSummary } from './job-store.ts'
import { AttributeKind, type AttributionDatanets } from './kinds/attribute.ts'
import { InferKind } from './kinds/infer.ts'
import type { Kinds } from './kinds/kind.ts'
import type { SubmitRequest } from './kinds/requests.ts'
import { TrainKind } from './kinds/train.ts'
import { ReceiptFiles } from './receipts.ts'
import { Referee } from './referee.ts'
import { Release } from './release.ts'
import { Requester } from './requester.ts'
import { ReputationBook } from './reputation-book.ts'
import { DEFAULT_TIMING, type MarketTiming } from './timing.ts'
import { Verdicts } from './verdicts.ts'
import { Verifier } from './verifier.ts'
import { Worker } from './worker.ts'
import { libp2pWire, type MarketWire } from './wire.ts'
import { currentDevice, type Device } from '../../compute/onnx/devices.ts'

export { UnknownJobError } from './job-store.ts'
export type { JobState, JobPhase } from './job-state.ts'
export type { SubmitRequest, InferSubmit, AttributeSubmit } from './kinds/requests.ts'

export interface MarketServiceOptions {
  identity: Identity
  network: string
  registry: MessageRegistry
  /** The wire: libp2p through the node's Inbound door (or `wire`, for tests). */
  libp2p?: PeerLibp2p
  inbound?: Inbound
  wire?: MarketWire
  /** The chain: the peer's settlement client (or `chain`, for tests). */
  settlement?: SettlementService
  chain?: MarketChain
  factory: ModelFactory
  /** The kind of a base model this peer holds (name or CID), or undefined: it bids only on jobs it can run. */
  modelKind: (nameOrCid: string) => string | undefined
  dataDir: string
  /** Fetching and storing adapters and files: a verifier reads the delivered result; adversaries build theirs. */
  models: Pick<ModelRegistry, 'adapterBytes' | 'addAdapter' | 'model' | 'resolveModel' | 'fileBytes' | 'addFile' | 'listAdapters'>
  /** Datanet views and the credit map, for attribution jobs (without it this peer takes none). */
  datanets?: AttributionDatanets
  threads?: number
  /** A datanet's recorded training cycles (what a copying adversary copies from). */
  cycles: (datanet: string) => Promise<Array<{ reporter: string, model: string, adapter?: string }>>
  /** How this peer plays: honestly (the default), or, in demonstrations and tests, as an adversary (adversaries/behaviour.ts). */
  behaviour?: MarketBehaviour
  /** Tests only: shorter clocks than the live network's (./timing.ts). */
  timing?: Partial<MarketTiming>
  /** Tests only: job kinds in place of the real ones (a kind that needs no model runs the market's logic in memory). */
  kinds?: Partial<Kinds>
  /** Demonstrations and tests only: this forced-error rate instead of the policy's (every peer of the network must agree on it). */
  forcedErrorRate?: number
  /** Where this peer's graphs run (default: the process's, compute/onnx/devices.ts). */
  device?: Device
  /** Its MatMul rate there, as measured at start-up (bids state it). */
  deviceGflops?: number
  /** How many times slower than the CPU that device is (>= 1): stretches its bids' time estimates. */
  deviceSlowdown?: number
  log: Log
}

export class MarketService {
  private readonly ctx: MarketContext
  private readonly attribute: AttributeKind
  private readonly requester: Requester
  private readonly bidder: Bidder
  private readonly worker: Worker
  private readonly verifier: Verifier
  private readonly forced: ForcedErrors
  private readonly handover: Handover
  private readonly verdicts: Verdicts
  private readonly party: DisputeParty

  constructor (opts: MarketServiceOptions) {
    const dir = join(opts.dataDir, 'market')
    const wire = opts.wire ?? libp2pWire({ libp2p: required(opts.libp2p, 'libp2p'), inbound: required(opts.inbound, 'inbound'), registry: opts.registry, network: opts.network })
    const settlement = opts.settlement
    const chain = opts.chain ?? clientChain(() => required(settlement, 'settlement').chain, async () => await required(settlement, 'settlement').chainTime())
    const seal = sealer({ network: opts.network, signer: opts.identity.signer, registry: opts.registry })
    const ctx: MarketContext = {
      me: { address: opts.identity.address, peerId: opts.identity.peerId },
      wallet: walletOf(opts.identity.libp2pKey.raw),
      store: new JobStore(dir),
      receipts: new ReceiptFiles(dir),
      wire,
      chain,
      kinds: undefined as unknown as MarketContext['kinds'],
      behaviour: opts.behaviour ?? HONEST,
      book: new ReputationBook(join(dir, 'reputation.json')),
      dir,
      forcedErrorRate: opts.forcedErrorRate,
      device: opts.device ?? currentDevice(),
      deviceGflops: opts.deviceGflops,
      deviceSlowdown: opts.deviceSlowdown ?? 1,
      timing: { ...DEFAULT_TIMING, ...opts.timing },
      seal,
      publish: async (topic, type, body) => await wire.publish(topic, seal(type, body)).catch((err: Error) => opts.log('publish failed', { topic, error: err.message })),
      log: opts.log
    }
    this.ctx = ctx
    this.handover = new Handover(ctx, opts.factory)
    this.attribute = new AttributeKind({ ctx, factory: opts.factory, models: opts.models, datanets: opts.datanets, threads: opts.threads })
    ctx.kinds = {
      train: new TrainKind({ ctx, factory: opts.factory, models: opts.models, handover: this.handover, cycles: opts.cycles }),
      infer: new InferKind({ ctx, models: opts.models, threads: opts.threads }),
      attribute: this.attribute,
      ...opts.kinds
    }
    this.forced = new ForcedErrors(ctx, async (state, result, attempts) => { await this.worker.send(state, result, attempts) })
    this.worker = new Worker(ctx, this.handover, this.forced)
    this.requester = new Requester(ctx, opts.modelKind)
    this.bidder = new Bidder(ctx, opts.modelKind, async (job) => { await this.worker.work(job) })
    this.verifier = new Verifier(ctx, this.forced, async (state) => { await this.requester.repeatAssignment(state) })
    this.verdicts = new Verdicts(ctx, this.forced, new Referee(ctx, opts.factory, this.forced), new Release(ctx))
    this.party = new DisputeParty(ctx, opts.factory)
  }

  async start (): Promise<void> {
    await this.ctx.wire.start({
      onGossip: (topic, env) => { void this.onGossip(topic, env) },
      onBid: async (env, from) => await this.requester.onBid(env, from),
      onResult: async (env, from) => await this.verifier.onResult(env, from),
      onProgress: async (env, from) => await this.handover.onProgress(env, from),
      serveEntry: async (job, entry, from) => await this.worker.serveEntry(job, entry, from),
      onDisputeQuery: async (env, from) => await this.party.onQuery(env, from),
      onSlashCosign: async (req) => await cosignSlash(this.ctx, req)
    })
    await this.resume()
    this.requester.start()
  }

  async stop (): Promise<void> {
    this.requester.stop()
    await this.ctx.wire.stop()
  }

  /** Every job this peer took part in, newest first. */
  async list (): Promise<JobSummary[]> {
    return await this.ctx.store.list()
  }

  async status (job: string): Promise<JobState> {
    return await this.ctx.store.status(job)
  }

  /** Escrows the fee, announces the job, takes bids for the window, assigns, and returns. */
  async submit (req: SubmitRequest): Promise<JobState> {
    return await this.requester.submit(req)
  }

  /** An attribution job's own verified weights, for the aggregator's job receipt (kinds/attribute.ts). */
  async attributionCredit (job: string): Promise<Awaited<ReturnType<AttributeKind['creditLines']>>> {
    const state = await this.ctx.store.load(job)
    return state === undefined ? undefined : await this.attribute.creditLines(state)
  }

  private async onGossip (topic: 'jobs' | 'verdicts', env: Envelope): Promise<void> {
    try {
      if (env.type === JobAnnounceMessage.type) await this.bidder.onAnnounce(env as Envelope<JobAnnounce>)
      else if (env.type === JobAssignMessage.type) await this.bidder.onAssign(env as Envelope<JobAssign>)
      else if (env.type === JobRevealMessage.type) await this.forced.onReveal(env as Envelope<JobReveal>)
      else if (env.type === JobRulingMessage.type) await this.verdicts.onRuling(env as Envelope<JobRuling>)
      else await this.verdicts.onVerdict(env as Envelope<JobVerdict>)
    } catch (err) {
      this.ctx.log('job message failed', { topic, type: env.type, error: (err as Error).name, message: (err as Error).message })
    }
  }

  /**
   * After a restart (a kill -9 included), pick up what was in flight: a worker works on
   * (the factory resumes from its last checkpoint) or reveals its forced error, a
   * verifier verifies, a requester whose bidding window passed assigns or watches for
   * the result. Everything needed is in market/<job>.json.
   */
  private async resume (): Promise<void> {
    for (const { job } of await this.ctx.store.list()) {
      const state = await this.ctx.store.load(job)
      if (state === undefined) continue
      if (state.role === 'worker' && state.phase === 'training') void this.worker.work(job)
      else if (state.role === 'worker' && state.forced !== undefined && state.forced.revealed !== true) this.forced.revealLater(job, 0)
      else if (state.role === 'verifier' && state.phase === 'verifying' && state.assign !== undefined) void this.verifier.verify(job, state.assign.workers[0].peer)
      else if (!(state.role === 'requester' && this.requester.resume(state))) continue
      this.ctx.log('job resumed', { job, role: state.role, phase: state.phase })
    }
  }
}

function required<T> (value: T | undefined, name: string): T {
  if (value === undefined) throw new Error(`the market needs ${name}`)
  return value
}
