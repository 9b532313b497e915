// Proof of Attribution on a peer: for an adapter this peer trained, re-read exactly the
// examples the job trained on (ModelFactory.prepare), check the job's checkpoints
// against the chain the adapter names, score every example (TracIn over the
// checkpoints, DataInf at the end), sum per contribution, turn the sums into payout
// weights with the shared policy (settlement/policy), and record them in the datanet's
// credit map. The result carries what a verifier needs to recompute a sample.
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { attributeClassifier, attributeLm, recomputeTracin, sampleMismatches, type AttributionScores } from '../../compute/jobs/attribute.ts'
import { decodeAdapter } from '../../compute/models/artifacts.ts'
import { checkpointHash } from '../../compute/train/checkpoint.ts'
import { readJsonIfExists, writeFileAtomic } from '../../storage/atomic-file.ts'
import { EXIT, PeerError, UsageError } from '../errors.ts'
import { ATTRIBUTION_METHOD, attributionCredits, attributionInputs, creditContext, lossUnits, namedChain } from './inputs.ts'
import { FileCheckpointStore } from '../models/checkpoint-files.ts'
import type { DatanetService } from '../datanets/datanet-service.ts'
import { saveSketches, SKETCHES_FORMAT } from './gradient-explain.ts'
import { influenceChart } from './influence-chart.ts'
import type { JobRecord, ModelFactory } from '../models/model-factory.ts'
import type { ModelRegistry } from '../models/model-registry.ts'

/** The adapter, its job or its checkpoints are not what attribution needs. */
export class AttributionRefusedError extends PeerError {
  constructor (message: string, details?: Record<string, unknown>) { super(message, EXIT.usage, details) }
}

export { ATTRIBUTION_METHOD }
/** Examples whose scores a verifier is given to recompute. */
const SAMPLE = 16

export interface AttributeRequest {
  adapter: string
  /** `D[@VERSION]`: must be what the adapter was trained on. */
  datanet?: string
  /** Absolute path for an SVG chart of influence per contributor. */
  svg?: string
}

export interface AttributionServiceOptions {
  factory: ModelFactory
  registry: ModelRegistry
  datanets: DatanetService
  threads?: number
  log: (msg: string, fields?: Record<string, unknown>) => void
}

export class AttributionService {
  private readonly opts: AttributionServiceOptions

  constructor (opts: AttributionServiceOptions) {
    this.opts = opts
  }

  /**
   * Everything a (re)computation of this adapter's attribution needs: the job's record,
   * its exact examples, and its checkpoints, checked link by link against the chain
   * the adapter names.
   */
  private async load (req: AttributeRequest, progress: (p: unknown) => void, signal: AbortSignal) {
    const { factory, registry, datanets } = this.opts
    const entry = registry.listAdapters().find(a => a.cid === req.adapter)
    if (entry?.job === undefined) throw new AttributionRefusedError(`this peer did not train adapter ${req.adapter}: attribution needs the training job's checkpoints`, { adapter: req.adapter })
    const job = entry.job
    const record = await readJsonIfExists<JobRecord>(join(factory.jobDir(job), 'job.json'))
    if (record == null || record.adapter !== req.adapter) throw new AttributionRefusedError('the training job of this adapter left no record', { job })
    if (req.datanet !== undefined) {
      const asked = await datanets.atVersion(req.datanet, signal)
      if (asked.id !== record.datanet || asked.version !== record.version) {
        throw new AttributionRefusedError('the adapter was not trained on that datanet version', { trainedOn: `${record.datanet}@${record.version}`, asked: `${asked.id}@${asked.version}` })
      }
    }
    const prepared = await factory.prepare(record.request, progress, signal)
    const adapter = decodeAdapter(await registry.adapterBytes(req.adapter, signal), { cid: prepared.baseCid, meta: prepared.base.meta })
    const store = new FileCheckpointStore(factory.jobDir(job))
    const named = namedChain(adapter)
    const held = await store.steps()
    if (named.length === 0 || held.length !== named.length) throw new AttributionRefusedError('the job\'s checkpoints are missing', { named: named.length, held: held.length })
    for (const [i, step] of held.entries()) {
      if (named[i].step !== step || checkpointHash(await store.load(step)) !== named[i].hash) throw new AttributionRefusedError('a checkpoint on disk is not the one the adapter names', { step })
    }
    const { inputs, exampleDocs } = await attributionInputs({ prepared, adapter, checkpoints: store, threads: this.opts.threads })
    return { job, record, prepared, named, held, inputs, exampleDocs }
  }

  /**
   * A verifier's check of someone's attribution result: recompute the TracIn score of
   * every sampled example from this peer's copy of the job's checkpoints. Mismatches
   * beyond the tolerance come back as evidence: what was claimed, what the same inputs
   * give, and the hashes that pin those inputs down.
   */
  async verify (req: AttributeRequest & { claimed: { adapter: string, method?: string, verification?: { sample?: Array<{ example: number, tracin: number }>, tolerance?: { relative?: number } } } }, progress: (p: unknown) => void, signal: AbortSignal): Promise<unknown> {
    const claimed = req.claimed
    if (claimed.adapter !== req.adapter) throw new UsageError('the result to verify is for another adapter', { claimed: claimed.adapter, adapter: req.adapter })
    const sample = claimed.verification?.sample ?? []
    if (sample.length === 0 || sample.length > 1000) throw new UsageError('the result carries no sample to verify (1 to 1000 examples)')
    const relative = claimed.verification?.tolerance?.relative ?? 1e-4
    const { record, named, inputs, exampleDocs } = await this.load(req, progress, signal)
    for (const x of sample) if (!Number.isInteger(x.example) || x.example < 0 || x.example >= exampleDocs.length || !Number.isFinite(x.tracin)) throw new UsageError('a sampled example is out of range', { example: x.example })
    progress({ phase: 'verify', examples: sample.length, checkpoints: named.length })
    const recomputed = await recomputeTracin(inputs, sample.map(x => x.example))
    const mismatches = sampleMismatches(sample, recomputed, relative)
    return {
      adapter: req.adapter,
      ok: mismatches.length === 0,
      checked: sample.length,
      tolerance: { relative },
      evidence: mismatches.length === 0 ? null : {
        adapter: req.adapter,
        datanet: record.datanet,
        version: record.version,
        cycle: record.cycle,
        method: claimed.method ?? ATTRIBUTION_METHOD,
        checkpoints: named,
        mismatches: mismatches.map(m => ({ ...m, file: exampleDocs[m.example].file.cid.toString(), contribution: exampleDocs[m.example].file.contribution.toString() }))
      }
    }
  }

  async attribute (req: AttributeRequest, progress: (p: unknown) => void, signal: AbortSignal): Promise<unknown> {
    const started = Date.now()
    const { factory, datanets } = this.opts
    const { job, record, prepared, named, held, inputs, exampleDocs } = await this.load(req, progress, signal)
    progress({ phase: 'attribute', examples: exampleDocs.length, checkpoints: held.length })
    const scores: AttributionScores = 'labels' in inputs.train ? await attributeClassifier(inputs as Parameters<typeof attributeClassifier>[0]) : await attributeLm(inputs as Parameters<typeof attributeLm>[0])

    // Contributions in the datanet's agreed order; files the version flags as
    // near-duplicates of earlier text add nothing (./attribution-inputs.ts), with every
    // contribution's sketches at hand, so any peer computes the same weights.
    const near = await datanets.nearDuplicateFiles(prepared.dn.log, signal)
    const examples = exampleDocs.map((d, k) => ({ file: d.file.cid.toString(), contribution: d.file.contribution.toString(), tracin: scores.tracin[k], datainf: scores.datainf[k], loss: scores.finalLoss[k] }))
    const summary = attributionCredits({ examples, validationLoss: scores.validationLoss, tokens: lossUnits(inputs), ...creditContext(prepared, near) })
    const contributorOf = new Map(summary.contributions.map(c => [c.contribution, c.contributor]))
    // For infer --explain: each contribution's gradient, sketched, next to the checkpoints.
    await saveSketches(factory.jobDir(job), { format: SKETCHES_FORMAT, adapter: req.adapter, k: scores.sketch.k, seed: scores.sketch.seed, dims: scores.dims, contributors: Object.fromEntries(contributorOf) }, scores.sketches)
    const credits = summary.contributions.map(c => ({ contribution: CID.parse(c.contribution), weight: c.weight, influence: c.tracin }))
    const attribution = await datanets.recordAttribution(record.datanet, { cycle: CID.parse(record.cycle), method: ATTRIBUTION_METHOD, credits })
    const contributors = summary.contributors
    if (req.svg !== undefined) {
      if (!req.svg.endsWith('.svg')) throw new UsageError('--svg must name a .svg file')
      await writeFileAtomic(req.svg, influenceChart(`${prepared.dn.name}: adapter ${req.adapter.slice(0, 16)}…`, contributors.map(c => ({ label: c.address, influence: c.influence, weight: c.weight }))), { mode: 0o644 })
    }

    // A verifier's sample: examples picked by a hash of the adapter CID, with their scores.
    const n = exampleDocs.length
    const sample = Array.from({ length: Math.min(SAMPLE, n) }, (_, i) => createHash('sha256').update(`${req.adapter}/${i}`).digest().readUInt32LE(0) % n)
      .map(k => ({ example: k, file: exampleDocs[k].file.cid.toString(), contribution: exampleDocs[k].file.contribution.toString(), tracin: scores.tracin[k], datainf: scores.datainf[k] }))
    this.opts.log('attribution recorded', { adapter: req.adapter, attribution, contributions: credits.length, ms: Date.now() - started })
    return {
      adapter: req.adapter,
      datanet: record.datanet,
      version: record.version,
      cycle: record.cycle,
      attribution,
      method: ATTRIBUTION_METHOD,
      contributions: [...summary.contributions].sort((a, b) => b.tracin - a.tracin),
      contributors,
      flags: summary.flags,
      nearDuplicateExamples: summary.nearDuplicateExamples,
      unfit: summary.unfit,
      unfitFiles: summary.unfitFiles,
      validationLoss: scores.validationLoss,
      verification: { checkpoints: named, heldOutRule: 'compute/jobs/held-out.ts', sample, tolerance: { relative: 1e-4, sameMachine: 'bit-identical' } },
      svg: req.svg,
      ms: { total: Date.now() - started, gradients: scores.ms.gradients, scores: scores.ms.scores }
    }
  }
}
