// ModelFactory on a peer: a training request names a datanet version and a base model;
// the peer reads that version's files (pulling shards it lacks from their holders),
// splits them into training and held-out sets by a rule anyone can recompute, trains a
// LoRA adapter with checkpoints under jobs/<job>/ (so the same request after a kill
// resumes), stores the adapter in its blockstore and records the training cycle in
// the datanet's credit map.
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { encodeAdapter, type Model } from '../../compute/models/artifacts.ts'
import type { LmConfig } from '../../compute/models/lm/config.ts'
import { allLoraTargets, defaultLoraTargets } from '../../compute/models/lm/config.ts'
import { CLASSIFIER_LORA_TARGETS } from '../../compute/models/classifier/config.ts'
import { documentsOf } from '../../compute/jobs/documents.ts'
import { DEFAULT_HELD_OUT, isHeldOut } from '../../compute/jobs/held-out.ts'
import { DEFAULT_CLASSIFIER_ADAPTER_HYPER, classifierAdapterJobId, classifierAdapterTask, trainClassifierAdapter, type ClassifierAdapterJob } from '../../compute/jobs/train-classifier-adapter.ts'
import { DEFAULT_LM_ADAPTER_HYPER, lmAdapterJobId, lmAdapterTask, trainLmAdapter, type LmAdapterJob } from '../../compute/jobs/train-lm-adapter.ts'
import type { AdapterTask } from '../../compute/jobs/run-training.ts'
import { fingerprint } from '../../compute/train/fingerprint.ts'
import { Tokenizer } from '../../compute/tokenizer/index.ts'
import { readJsonIfExists, writeJsonAtomic } from '../../storage/atomic-file.ts'
import { trainingFiles, type TrainingFile } from '../../storage/datanet/shards.ts'
import type { ManifestLog } from '../../storage/manifest/log.ts'
import { UsageError } from '../errors.ts'
import { FileCheckpointStore } from './checkpoint-files.ts'
import type { DatanetService } from '../datanets/datanet-service.ts'
import type { ModelRegistry } from './model-registry.ts'
import { currentDevice } from '../../compute/onnx/devices.ts'
import type { Device } from '../../compute/onnx/device-names.ts'

/** Most bytes of datanet files one job reads. */
export const MAX_JOB_BYTES = 512 * 1024 * 1024

export interface TrainRequest {
  /** `D` or `D@VERSION`. */
  datanet: string
  /** Base model name or CID. */
  base: string
  rank?: number
  alpha?: number
  /** Weight names, or ['all'] for every projection (default: attention q and v for a language model). */
  targets?: string[]
  steps?: number
  batch?: number
  lr?: number
  seq?: number
  seed?: number
  /** Train on files with this label only (e.g. one party's speeches). */
  label?: string
  /** Share of files held out for evaluation (0 < x <= 0.5). */
  heldOut?: number
  /** Where this peer runs the training steps (default: its own device, node start --device); not part of the job. */
  device?: Device
}

export interface ModelFactoryOptions {
  datanets: DatanetService
  registry: ModelRegistry
  dataDir: string
  threads?: number
  log: (msg: string, fields?: Record<string, unknown>) => void
}

export class ModelFactory {
  private readonly opts: ModelFactoryOptions
  private readonly running = new Set<string>()

  constructor (opts: ModelFactoryOptions) {
    this.opts = opts
  }

  /**
   * What a job on this request reads, exactly: the datanet version, the base, the usable
   * files, their documents split by the held-out rule. Training and attribution both
   * start here, so attribution scores the very examples the adapter was trained on.
   */
  async prepare (req: TrainRequest, progress: (p: unknown) => void, signal: AbortSignal): Promise<PreparedJob> {
    const heldOutShare = req.heldOut ?? DEFAULT_HELD_OUT
    if (!(heldOutShare > 0 && heldOutShare <= 0.5)) throw new UsageError('heldOut must be in (0, 0.5]')
    const { datanets, registry } = this.opts
    const dn = await datanets.atVersion(req.datanet, signal)
    const baseEntry = registry.resolveModel(req.base)
    const base = await registry.model(baseEntry.cid, signal)

    let files = trainingFiles(dn.log)
    if (req.label !== undefined) files = files.filter(f => f.label === req.label)
    const skipped: Record<string, number> = {}
    if (base.meta.kind === 'classifier') {
      const labels = base.meta.labels
      files = files.filter(f => {
        const ok = f.label !== undefined && labels.includes(f.label)
        if (!ok) skipped[f.label ?? '(none)'] = (skipped[f.label ?? '(none)'] ?? 0) + 1
        return ok
      })
    }
    if (files.length < 2) throw new UsageError(`datanet ${dn.name} has ${files.length} usable file(s) for this job; it needs at least 2`, { label: req.label, skipped })
    const totalBytes = files.reduce((s, f) => s + f.size, 0)
    progress({ phase: 'fetch', bytesDone: 0, bytesTotal: totalBytes })
    const bytes = await datanets.readShards(files.map(f => f.cid), { signal, maxBytes: MAX_JOB_BYTES, onBytes: b => progress({ phase: 'fetch', bytesDone: b, bytesTotal: totalBytes }) })
    const job = folderKey(req, dn, baseEntry.cid)
    return { job, dn, baseCid: baseEntry.cid, base, files, skipped, split: splitFiles(files, bytes, heldOutShare) }
  }

  /** The folder under jobs/ a request trains in (what `train` returns as `folder`), without preparing its data. */
  async folderOf (req: TrainRequest, signal: AbortSignal): Promise<string> {
    const dn = await this.opts.datanets.atVersion(req.datanet, signal)
    return folderKey(req, dn, this.opts.registry.resolveModel(req.base).cid)
  }

  /** The folder of a job's checkpoints and record. */
  jobDir (job: string): string {
    return join(this.opts.dataDir, 'jobs', job)
  }

  async train (req: TrainRequest, progress: (p: unknown) => void, signal: AbortSignal): Promise<unknown> {
    const started = Date.now()
    const { datanets, registry } = this.opts
    const { job, dn, baseCid, base, skipped, split } = await this.prepare(req, progress, signal)
    if (this.running.has(job)) throw new UsageError('this training job is already running on this peer', { job })
    this.running.add(job)
    try {
      progress({ phase: 'evaluate', train: split.train.length, heldOut: split.heldOut.length })
      const common = {
        base,
        baseCid,
        datanet: { id: dn.id, version: dn.version },
        threads: this.opts.threads,
        ...(req.device !== undefined ? { device: req.device } : {}),
        store: new FileCheckpointStore(this.jobDir(job)),
        onStep: (p: { step: number, steps: number, loss: number, resumedFrom: number }) => progress({ phase: 'train', step: p.step, steps: p.steps, loss: p.loss, resumedFrom: p.resumedFrom }),
        signal
      }
      const result = await this.trainAdapter(base, req, split, common)
      const adapterBytes = encodeAdapter(result.adapter, base.meta)
      const entry = await registry.addAdapter(adapterBytes, { base: baseCid, kind: base.meta.kind, job, datanet: { id: dn.id, version: dn.version }, metrics: { before: result.before, after: result.after } })
      // A retry of a finished job finds its cycle in the record instead of adding another.
      const record = await readJsonIfExists<JobRecord>(join(this.jobDir(job), 'job.json'))
      const cycle = record?.adapter === entry.cid
        ? record.cycle
        : await datanets.recordCycle(dn.id, { version: CID.parse(dn.version), model: baseCid, adapter: CID.parse(entry.cid), credits: [] })
      await writeJsonAtomic(join(this.jobDir(job), 'job.json'), { request: req, adapter: entry.cid, cycle, datanet: dn.id, version: dn.version, base: baseCid } satisfies JobRecord)
      this.opts.log('adapter trained', { adapter: entry.cid, datanet: dn.name, version: dn.version, steps: result.run.steps, ms: Date.now() - started })
      return {
        adapter: entry.cid,
        bytes: adapterBytes.byteLength,
        base: baseCid,
        kind: base.meta.kind,
        datanet: dn.id,
        name: dn.name,
        version: dn.version,
        job: result.job,
        /** The folder under jobs/ that holds the checkpoints. */
        folder: job,
        cycle,
        files: { train: split.train.length, heldOut: split.heldOut.length, skipped },
        before: result.before,
        after: result.after,
        steps: result.run.steps,
        resumedFrom: result.run.resumedFrom,
        checkpoints: result.run.chain,
        device: req.device ?? currentDevice(),
        ms: Date.now() - started
      }
    } finally {
      this.running.delete(job)
    }
  }

  /**
   * A verifier's copy of a training job: the same prepared data and hyper-parameters
   * as `train`, as the trainer's task, to replay segments of the worker's checkpoint
   * chain. Release it when done.
   */
  async replayTask (req: TrainRequest, signal: AbortSignal): Promise<AdapterTask & { job: string, base: { cid: string, meta: Model['meta'] } }> {
    const { job, dn, baseCid, base, split } = await this.prepare(req, () => {}, signal)
    const common = { base, baseCid, datanet: { id: dn.id, version: dn.version }, threads: this.opts.threads, signal }
    const spec = this.adapterJob(base, req, split, common)
    const t = spec.kind === 'classifier' ? await classifierAdapterTask(spec.job) : await lmAdapterTask(spec.job)
    return { ...t, job, base: { cid: baseCid, meta: base.meta } }
  }

  /**
   * The fingerprint a training run of `req` on this prepared data has (its checkpoints
   * and adapter name it), without building the run: an attribution checks by it that
   * the examples it scores are exactly the ones the adapter was trained on.
   */
  taskId (req: TrainRequest, prepared: PreparedJob): string {
    const common = { base: prepared.base, baseCid: prepared.baseCid, datanet: { id: prepared.dn.id, version: prepared.dn.version }, threads: this.opts.threads }
    const spec = this.adapterJob(prepared.base, req, prepared.split, common)
    return spec.kind === 'classifier' ? classifierAdapterJobId(spec.job) : lmAdapterJobId(spec.job)
  }

  private async trainAdapter (base: Model, req: TrainRequest, split: Split, common: JobCommon) {
    const spec = this.adapterJob(base, req, split, common)
    return spec.kind === 'classifier' ? await trainClassifierAdapter(spec.job) : await trainLmAdapter(spec.job)
  }

  /** The adapter job a request describes, for either kind of base. */
  private adapterJob (base: Model, req: TrainRequest, split: Split, common: JobCommon): { kind: 'classifier', job: ClassifierAdapterJob } | { kind: 'lm', job: LmAdapterJob } {
    const rank = req.rank ?? 8
    if (base.meta.kind === 'classifier') {
      const labels = (base.meta as { labels: string[] }).labels
      const labelled = (docs: Doc[]) => ({ texts: docs.map(d => d.text), labels: docs.map(d => labels.indexOf(d.label as string)) })
      return {
        kind: 'classifier',
        job: {
          ...common,
          train: labelled(split.train),
          heldOut: labelled(split.heldOut),
          lora: { rank, alpha: req.alpha ?? 2 * rank, targets: req.targets === undefined || req.targets[0] === 'all' ? [...CLASSIFIER_LORA_TARGETS] : req.targets },
          hyper: { ...DEFAULT_CLASSIFIER_ADAPTER_HYPER, ...defined({ steps: req.steps, batch: req.batch, lr: req.lr, seed: req.seed }) }
        }
      }
    }
    const cfg = base.meta.config as LmConfig
    const tokenizer = Tokenizer.fromJSON((base.meta as { tokenizer: unknown }).tokenizer)
    const hyper = { ...DEFAULT_LM_ADAPTER_HYPER, ...defined({ steps: req.steps, batch: req.batch, lr: req.lr, seed: req.seed, seq: req.seq }) }
    hyper.seq = Math.min(hyper.seq, cfg.context)
    return {
      kind: 'lm',
      job: {
        ...common,
        tokenizer,
        train: split.train.map(d => d.text),
        heldOut: split.heldOut.map(d => d.text),
        lora: { rank, alpha: req.alpha ?? 2 * rank, targets: req.targets === undefined ? defaultLoraTargets(cfg) : req.targets[0] === 'all' ? allLoraTargets(cfg) : req.targets },
        hyper
      }
    }
  }
}

/** What both kinds of adapter job take besides their data and hyper-parameters. */
type JobCommon = Omit<ClassifierAdapterJob, 'train' | 'heldOut' | 'lora' | 'hyper'>

export interface Doc { text: string, label?: string, file: TrainingFile }
export interface Split { train: Doc[], heldOut: Doc[] }

export interface PreparedJob {
  job: string
  dn: { id: string, name: string, version: string, log: ManifestLog }
  baseCid: string
  base: Model
  files: TrainingFile[]
  skipped: Record<string, number>
  split: Split
}

/** jobs/<job>/job.json: what a finished job produced, for attribution and retries. */
export interface JobRecord {
  request: TrainRequest
  adapter: string
  /** The training-cycle entry recorded in the datanet. */
  cycle: string
  datanet: string
  version: string
  base: string
}

function splitFiles (files: TrainingFile[], bytes: Uint8Array[], share: number): Split {
  const split: Split = { train: [], heldOut: [] }
  files.forEach((file, i) => {
    const side = isHeldOut(file.cid.toString(), share) ? split.heldOut : split.train
    for (const text of documentsOf(bytes[i], file.mediaType)) side.push({ text, label: file.label, file })
  })
  // Tiny datanets: make sure both sides have something, by a rule that stays deterministic.
  if (split.heldOut.length === 0) split.heldOut.push(split.train.pop() as Doc)
  if (split.train.length === 0) split.train.push(split.heldOut.pop() as Doc)
  return split
}

function defined<T extends Record<string, unknown>> (o: T): Partial<{ [K in keyof T]: Exclude<T[K], undefined> }> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never
}

/** A request's folder: its fingerprint over the exact datanet version and base, so the same request resumes. */
function folderKey (req: TrainRequest, dn: { id: string, version: string }, baseCid: string): string {
  // The device is where a run happens, not what it is: one job's checkpoints resume on any.
  return fingerprint({ request: { ...req, datanet: undefined, device: undefined }, datanet: dn.id, version: dn.version, base: baseCid })
}
