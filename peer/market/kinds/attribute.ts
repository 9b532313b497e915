// The task market's side of attribution jobs (kind 'attribute'; ./attribution-jobs.ts
// does the work). A requester announces one for the adapter of a market training job
// it took part in, once that job's escrow was released for exactly that adapter (only
// verified adapters are attributed); a peer bids when it holds the base, follows the
// datanet and finds that release on chain. The checkpoints come over
// /openledger/verify/1.0.0 by the training job's id from its worker (the trainer), or
// from this peer's own job folder when it trained the adapter; every one is checked
// against the adapter's chain. Why not the blockstore: the verify protocol already
// serves exactly these bytes, checked the same way, with no pinning on the trainer and
// no block-size limit (an LM checkpoint with its optimiser moments passes bitswap's
// 2 MiB block limit, and a chunked file's CID is not the hash the chain names); the
// cost is that the trainer, or a worker that fetched them, must be online. The worker
// keeps what it read and serves it to its own verifiers by the attribution job's id,
// so they depend on the trainer only when the worker does not show its inputs. After
// the release the requester records the verified attribution in the datanet's credit
// map; the fee's contributors' part is paid by the job's own verified weights.
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { computeAddress, hexlify, id as keccakText } from 'ethers'
import { CID } from 'multiformats/cid'
import { decodeAttributionFile, decodeAttributionReceipt, MAX_ATTRIBUTION_BYTES, type AttributionFile } from '../../../compute/jobs/attribution-files.ts'
import { adapterMetaOf } from '../../../compute/models/artifacts.ts'
import { checkpointHash } from '../../../compute/train/checkpoint.ts'
import { ATTRIBUTION_TOLERANCE } from '../../../compute/verify/attribution.ts'
import { CheckpointRefusedError, OutputRefusedError } from '../../../compute/verify/errors.ts'
import type { JobAnnounce } from '../../../protocols/messages/index.ts'
import type { CreditLine } from '../../../settlement/policy/index.ts'
import { readJsonIfExists, writeJsonAtomic } from '../../../storage/atomic-file.ts'
import type { DatanetView } from '../../../storage/datanet/view.ts'
import type { ManifestLog } from '../../../storage/manifest/log.ts'
import { UsageError } from '../../errors.ts'
import { FileCheckpointStore } from '../../models/checkpoint-files.ts'
import type { ModelFactory } from '../../models/model-factory.ts'
import type { ModelRegistry } from '../../models/model-registry.ts'
import type { MarketContext } from '../context.ts'
import { attributionSpecOf } from '../job-spec.ts'
import type { NearDuplicate } from '../../attribution/inputs.ts'
import type { JobState } from '../job-state.ts'
import { fetchCheckpoint } from '../receipts.ts'
import { claimedReceiptHash, runAttributionJob, verifyAttributionJob, type AttributionJobDeps, type AttributionJobSpec } from './attribution-jobs.ts'
import { resultMessage, type Check, type CheckTools, type Delivery, type JobKind, type Work, type WorkTools } from './kind.ts'
import type { AttributeSubmit } from './requests.ts'

/** The datanet side: this peer's view of a datanet, and recording an attribution in its credit map. */
export interface AttributionDatanets {
  view: (datanet: string) => Promise<DatanetView>
  /** Follow the datanet of a version a job names, if not followed yet (a peer follows only datanets it chose; a job it takes part in is one). */
  follow: (datanet: string, version: string) => Promise<void>
  /** A version's near-duplicate files, sketches fetched where missing (DatanetService.nearDuplicateFiles). */
  nearDuplicateFiles: (log: ManifestLog) => Promise<NearDuplicate[]>
  recordAttribution: (datanet: string, record: { cycle: CID, method: string, credits: Array<{ contribution: CID, weight: number, influence: number }>, job?: string, result?: CID }) => Promise<string>
}

export interface AttributeKindOptions {
  ctx: MarketContext
  factory: ModelFactory
  models: Pick<ModelRegistry, 'adapterBytes' | 'fileBytes' | 'addFile' | 'listAdapters'>
  /** Without it this peer neither bids on nor verifies attribution jobs. */
  datanets?: AttributionDatanets
  threads?: number
}

/** Where the checkpoints may be: a peer that serves them by a market job id. */
interface Holder { job: string, peer: string }

export class AttributeKind implements JobKind<AttributeSubmit> {
  readonly name = 'attribute' as const
  private readonly opts: AttributeKindOptions

  constructor (opts: AttributeKindOptions) {
    this.opts = opts
  }

  private get ctx (): MarketContext { return this.opts.ctx }

  /**
   * The announce spec of an attribution of a market training job this peer took part
   * in (requester, worker or verifier: it holds the job's announce, assignment and
   * result), checked before any OPEN moves.
   */
  async announceSpec (req: AttributeSubmit): Promise<JobAnnounce['spec']> {
    const jobs = this.ctx.store
    let training: JobState | undefined
    if (req.trainJob !== undefined) training = await jobs.load(req.trainJob)
    else if (req.adapter !== undefined) {
      for (const { job } of await jobs.list()) {
        const s = await jobs.load(job)
        if (s?.announce.kind === 'train' && s.result?.result === req.adapter) { training = s; break }
      }
    } else throw new UsageError('an attribution job names the adapter or the training job that produced it')
    if (training?.announce.kind !== 'train' || training.result === undefined || training.assign === undefined) {
      throw new UsageError('attribution jobs are for adapters of market training jobs this peer took part in (and holds the result of): give --train-job', { trainJob: req.trainJob, adapter: req.adapter })
    }
    const adapter = training.result.result
    if (req.adapter !== undefined && req.adapter !== adapter) throw new UsageError('that training job produced another adapter', { trainJob: training.job, adapter, asked: req.adapter })
    const released = await this.trainingRelease(training.job)
    if (released === undefined || released.resultHash !== keccakText(adapter)) throw new UsageError('the training job\'s escrow was not released for that adapter: only verified adapters are attributed', { trainJob: training.job, adapter })
    const meta = adapterMetaOf(await this.opts.models.adapterBytes(adapter, AbortSignal.timeout(120_000)))
    if (meta.datanet === undefined) throw new UsageError('the adapter names no datanet version', { adapter })
    // The requester records the verified attribution in the datanet's credit map: it follows the datanet from now on.
    if (this.opts.datanets === undefined) throw new UsageError('this peer keeps no datanets, so it cannot record an attribution')
    await this.opts.datanets.follow(meta.datanet.id, meta.datanet.version)
    const p = training.announce.spec.params
    const m = meta.metrics as { trainExamples?: number, trainTokens?: number } | undefined
    const seq = (meta.hyper as { seq?: number }).seq ?? 64
    const examples = m?.trainExamples ?? Math.ceil((m?.trainTokens ?? 0) / seq)
    return {
      adapter,
      base: meta.base,
      datanet: meta.datanet.id,
      version: meta.datanet.version,
      params: {
        trainJob: training.job,
        trainer: training.assign.workers[0].peer,
        // Where bidders find the release: one block to read, not the chain's whole history.
        releasedAt: released.block,
        ...(typeof p.label === 'string' ? { label: p.label } : {}),
        ...(typeof p.heldOut === 'number' ? { heldOut: p.heldOut } : {}),
        examples
      }
    }
  }

  /** Whether this peer can take the job (as worker or verifier): it follows the datanet, and the adapter is a released training job's result. */
  async canTake (a: JobAnnounce): Promise<boolean> {
    if (this.opts.datanets === undefined) return false
    let spec: AttributionJobSpec
    try { spec = attributionSpecOf(a) } catch { return false }
    try { await this.opts.datanets.view(spec.datanet) } catch { return false }
    const at = typeof a.spec.params.releasedAt === 'number' ? a.spec.params.releasedAt : undefined
    if (at === undefined) return false
    const released = await this.trainingRelease(spec.trainJob, at)
    if (released?.resultHash !== keccakText(spec.adapter)) {
      this.ctx.log('attribution job for an adapter no released training job produced: ignored', { job: a.job, trainJob: spec.trainJob })
      return false
    }
    if (spec.trainer !== undefined && addressOfPeer(spec.trainer)?.toLowerCase() !== released.worker.toLowerCase()) {
      this.ctx.log('attribution job names another trainer than the training job\'s worker: ignored', { job: a.job, trainJob: spec.trainJob })
      return false
    }
    return true
  }

  /**
   * A generous estimate for the bid (the requester replaces a worker at twice it): 30 s
   * plus, per example, several times what attribution took here (5,407 mails at 3
   * checkpoints in 2.4 s; 68 LM windows in 6.7 s).
   */
  etaMs (a: JobAnnounce, kind: string): number {
    const examples = typeof a.spec.params.examples === 'number' ? a.spec.params.examples : 10_000
    return 30_000 + Math.ceil(examples * (kind === 'lm' ? 300 : 3))
  }

  /**
   * The worker: fetches what it lacks, scores every example, keeps the checkpoints it
   * read (its verifiers fetch them from it), and builds the result. With a forced error
   * drawn it also plants the fault: the planted result is delivered, the real one waits.
   */
  async work (t: WorkTools): Promise<Work> {
    const { state } = t
    const started = performance.now()
    // The made-up-scores adversary: no gradients, scores of a plausible size.
    const madeUp = t.behaviour.madeUpScores
    if (madeUp) this.ctx.log('cheating: made-up attribution scores', { job: state.job })
    const spec = attributionSpecOf(state.announce)
    const checkpointDir = join(this.ctx.dir, `${state.job}.ckpt`)
    const kept = new FileCheckpointStore(checkpointDir)
    const deps = this.deps(spec, kept, spec.trainer !== undefined ? [{ job: spec.trainJob, peer: spec.trainer }] : [])
    const run = await runAttributionJob({ ...deps, onCheckpoint: async (step, bytes) => await kept.save(step, bytes) }, spec, { madeUp })
    this.ctx.log('attribution scored', { job: state.job, examples: run.receipt.examples, ms: Math.round(run.ms) })
    const delivery = async (r: { result: string, receipt: { examples: number, root: string }, receiptBytes: Uint8Array }): Promise<Delivery> => ({
      result: await resultMessage({ job: state.job, worker: this.ctx.me.address, result: r.result, receiptBytes: r.receiptBytes, head: r.receipt.root, entries: r.receipt.examples, every: 1, steps: r.receipt.examples }),
      receiptBytes: r.receiptBytes,
      checkpointDir
    })
    const computeMs = performance.now() - started
    const planted = !madeUp && t.behaviour.plantsForcedErrors && await t.drawsForcedError() ? await run.plant() : undefined
    if (planted !== undefined) return { delivered: await delivery(planted), real: await delivery(run), computeMs, cheated: false }
    return { delivered: await delivery(run), computeMs, cheated: madeUp }
  }

  /** What the verifier's beacon signs: the receipt's hash. */
  beaconSubject (bytes: Uint8Array): string {
    return claimedReceiptHash(bytes)
  }

  /** A verifier: the result is the receipt's and the job's, and a sample its beacon picks recomputes. */
  async check (t: CheckTools): Promise<Check> {
    const { state, result, receiptBytes } = t
    const spec = attributionSpecOf(state.announce)
    const holders = [{ job: state.job, peer: t.workerPeer }, ...(spec.trainer !== undefined ? [{ job: spec.trainJob, peer: spec.trainer }] : [])]
    // The job-result message must name what the files hold: its head is the receipt's root, its hash the result CID's.
    const root = claimedRoot(receiptBytes)
    if (root !== undefined && ('0x' + root !== result.receipt.head || result.resultHash !== keccakText(result.result))) {
      const err = new OutputRefusedError('the result message names another receipt head or result hash than its files', { head: result.receipt.head, root, resultHash: result.resultHash })
      return { ok: false, checked: [], computeMs: 0, evidence: { job: state.job, result: result.result, receipt: claimedReceiptHash(receiptBytes), root, refused: { name: err.name, message: err.message, details: err.details }, scores: [], tolerance: ATTRIBUTION_TOLERANCE } }
    }
    const v = await verifyAttributionJob(this.deps(spec, undefined, holders), spec, { result: result.result, receiptBytes, verifier: t.verifier, beacon: t.beacon, fraction: t.fraction })
    return v.ok ? { ok: true, checked: v.checked, computeMs: v.computeMs } : { ok: false, checked: v.checked, computeMs: v.computeMs, evidence: v.evidence ?? { job: state.job } }
  }

  /** After the release: the requester records the verified attribution in the datanet's credit map (once). */
  async afterRelease (state: JobState): Promise<void> {
    const datanets = this.opts.datanets
    if (state.role !== 'requester' || datanets === undefined || state.result === undefined) return
    const marker = join(this.ctx.dir, `${state.job}.attribution.json`)
    if (await readJsonIfExists(marker) !== undefined) return
    try {
      const { datanet, version } = state.announce.spec
      if (datanet !== undefined && version !== undefined) await datanets.follow(datanet, version)
      const file = await this.resultFile(state.result.result)
      // The training-cycle entry as this peer's manifest has it, not as the worker said.
      const cycle = (await datanets.view(file.datanet)).cycles.find(c => c.adapter === file.adapter)?.cid
      if (cycle === undefined) { this.ctx.log('no training cycle of the adapter in this peer\'s manifest: attribution not recorded', { job: state.job, adapter: file.adapter }); return }
      // The job and its result: what entitles this record to pay (peer/settlement/credit-entitlement.ts).
      const entry = await datanets.recordAttribution(file.datanet, { cycle: CID.parse(cycle), method: file.method, credits: file.summary.contributions.map(c => ({ contribution: CID.parse(c.contribution), weight: c.weight, influence: c.tracin })), job: state.job, result: CID.parse(state.result.result) })
      await writeJsonAtomic(marker, { entry, cycle, result: state.result.result })
      this.ctx.log('verified attribution recorded', { job: state.job, adapter: file.adapter, entry, contributions: file.summary.contributions.length })
    } catch (err) {
      this.ctx.log('recording the attribution failed', { job: state.job, error: (err as Error).name, message: (err as Error).message })
    }
  }

  /**
   * The job's own verified attribution as credit lines (settlement/policy job credit):
   * the contributors' part of its fee is paid by what it measured. Undefined for a job
   * whose result no assigned verifier approved on this peer.
   */
  async creditLines (state: JobState): Promise<{ lines: CreditLine[], datanet: string } | undefined> {
    const r = state.result
    if (state.announce.kind !== 'attribute' || r === undefined || !(state.verdicts ?? []).some(v => v.ok && v.resultHash === r.resultHash)) return undefined
    const file = await this.resultFile(r.result)
    const cycle = file.cycle ?? `adapter:${file.adapter}`
    return { datanet: file.datanet, lines: file.summary.contributions.map(c => ({ contributor: c.contributor, cycle, weight: c.weight })) }
  }

  private async resultFile (cid: string): Promise<AttributionFile> {
    return decodeAttributionFile(await this.opts.models.fileBytes(cid, MAX_ATTRIBUTION_BYTES, AbortSignal.timeout(120_000)))
  }

  /**
   * The training job's JobReleased event: its worker, the result hash its verifiers
   * signed and its block. Bidders read only the block the announce names; the requester
   * finds it once from the deployment on (a real L2's RPC may cap that range: then a
   * peer that released the job knows its block from the transaction).
   */
  private async trainingRelease (trainJob: string, at?: number): Promise<{ worker: string, resultHash: string, block: number } | undefined> {
    return await this.ctx.chain.jobReleased(trainJob, at)
  }

  /**
   * The engine's dependencies: checkpoints from this peer's own copy (what it kept as a
   * worker, or its job folder if it trained the adapter), else from the holders in turn,
   * each checked against the chain's hash before it is used.
   */
  private deps (spec: AttributionJobSpec, kept: FileCheckpointStore | undefined, holders: Holder[]): AttributionJobDeps {
    const { factory, models, datanets } = this.opts
    const trained = models.listAdapters().find(a => a.cid === spec.adapter && a.job !== undefined)
    const local = [...(kept !== undefined ? [kept] : []), ...(trained?.job !== undefined ? [new FileCheckpointStore(factory.jobDir(trained.job))] : [])]
    return {
      factory,
      models,
      threads: this.opts.threads,
      view: async (datanet) => await datanets!.view(datanet),
      nearDuplicates: async (log) => await datanets!.nearDuplicateFiles(log),
      checkpoint: async (step, hash) => {
        for (const store of local) {
          if (!(await store.steps()).includes(step)) continue
          const bytes = await store.load(step)
          if (checkpointHash(bytes) === hash) return bytes
        }
        const tried: string[] = []
        for (const h of holders) {
          if (h.peer === this.ctx.me.peerId) continue
          try {
            const bytes = await fetchCheckpoint(this.ctx.wire.fetch, h.peer, h.job, step, hash)
            this.ctx.log('checkpoint fetched', { adapter: spec.adapter, step, from: h.peer, by: h.job })
            return bytes
          } catch (err) {
            tried.push(err instanceof CheckpointRefusedError ? `${h.peer}: not the chain's checkpoint` : `${h.peer}: ${(err as Error).message}`)
          }
        }
        throw new CheckpointRefusedError('no holder served the adapter\'s checkpoint', { step, tried })
      }
    }
  }
}

/** The Ethereum address of a secp256k1 peer id (the same key), if it is one. */
function addressOfPeer (peer: string): string | undefined {
  try {
    const key = peerIdFromString(peer).publicKey
    return key === undefined ? undefined : computeAddress(hexlify(key.raw))
  } catch {
    return undefined
  }
}

/** The root a receipt file names, if it decodes. */
function claimedRoot (bytes: Uint8Array): string | undefined {
  try {
    return decodeAttributionReceipt(bytes).root
  } catch {
    return undefined
  }
}
