// Proof of Attribution on a peer: for an adapter this peer trained, re-read exactly the
// examples the job trained on (ModelFactory.prepare), check the job's checkpoints
// against the chain the adapter names, score every example (TracIn over the
// checkpoints, DataInf at the end), sum per contribution, turn the sums into payout
// weights with the shared policy (settlement/policy), and record them in the datanet's
// credit map. The result carries what a verifier needs to recompute a sample.
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { TRACIN_STRIDE, attributeClassifier, attributeLm, attributionCheckpoints, recomputeTracin, sampleMismatches, type AttributionScores } from '../../compute/jobs/attribute.ts'
import type { TrainingHyper } from '../../compute/jobs/run-training.ts'
import { decodeAdapter } from '../../compute/models/artifacts.ts'
import { classifierParamSpecs, type ClassifierConfig } from '../../compute/models/classifier/config.ts'
import { classifierData } from '../../compute/models/classifier/train-step.ts'
import type { LmConfig } from '../../compute/models/lm/config.ts'
import { windowDocuments, windowsOf } from '../../compute/models/lm/data.ts'
import { lmParamSpecs } from '../../compute/models/lm/params.ts'
import { Tokenizer } from '../../compute/tokenizer/index.ts'
import { loraSpecs } from '../../compute/models/lora.ts'
import { initParams } from '../../compute/models/param-spec.ts'
import { checkpointHash } from '../../compute/train/checkpoint.ts'
import { FIT_GATES, attributionRewards, fitGate } from '../../settlement/policy/index.ts'
import { readJsonIfExists, writeFileAtomic } from '../../storage/atomic-file.ts'
import { EXIT, PeerError, UsageError } from '../errors.ts'
import { FileCheckpointStore } from './checkpoint-files.ts'
import type { DatanetService } from './datanet-service.ts'
import { saveSketches, SKETCHES_FORMAT } from './gradient-explain.ts'
import { influenceChart } from './influence-chart.ts'
import type { Doc, JobRecord, ModelFactory } from './model-factory.ts'
import type { ModelRegistry } from './model-registry.ts'

/** The adapter, its job or its checkpoints are not what attribution needs. */
export class AttributionRefusedError extends PeerError {
  constructor (message: string, details?: Record<string, unknown>) { super(message, EXIT.usage, details) }
}

export const ATTRIBUTION_METHOD = 'tracin-cp/trapezoid+datainf+fit-gate'
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
    const { base, split } = prepared
    const adapter = decodeAdapter(await registry.adapterBytes(req.adapter, signal), { cid: prepared.baseCid, meta: base.meta })
    const hyper = adapter.meta.hyper as unknown as TrainingHyper & { seq?: number }
    const lora = adapter.meta.lora
    const specs = base.meta.kind === 'classifier'
      ? loraSpecs(classifierParamSpecs(base.meta.config as ClassifierConfig), lora, new Set(['emb']))
      : loraSpecs(lmParamSpecs(base.meta.config as LmConfig), lora)

    const store = new FileCheckpointStore(factory.jobDir(job))
    const named = ((adapter.meta.provenance as { checkpoints?: Array<{ step: number, hash: string }> } | undefined)?.checkpoints) ?? []
    const held = await store.steps()
    if (named.length === 0 || held.length !== named.length) throw new AttributionRefusedError('the job\'s checkpoints are missing', { named: named.length, held: held.length })
    for (const [i, step] of held.entries()) {
      if (named[i].step !== step || checkpointHash(await store.load(step)) !== named[i].hash) throw new AttributionRefusedError('a checkpoint on disk is not the one the adapter names', { step })
    }
    const common = { base, lora, initial: initParams(specs, hyper.seed), checkpoints: await attributionCheckpoints(store, specs, hyper, TRACIN_STRIDE[base.meta.kind]), threads: this.opts.threads }

    // The examples, as the job trained on them: mails (classifier), or windows credited
    // to the document they start in (LM).
    let inputs: Parameters<typeof attributeClassifier>[0] | Parameters<typeof attributeLm>[0]
    let exampleDocs: Doc[]
    if (base.meta.kind === 'classifier') {
      const cfg = base.meta.config as ClassifierConfig
      const labels = base.meta.labels
      const labelled = (docs: Doc[]) => ({ texts: docs.map(d => d.text), labels: docs.map(d => labels.indexOf(d.label as string)) })
      exampleDocs = split.train
      inputs = { ...common, train: classifierData(labelled(split.train), cfg), groups: split.train.map(d => d.file.contribution.toString()), validation: classifierData(labelled(split.heldOut), cfg) }
    } else {
      const tokenizer = Tokenizer.fromJSON((base.meta as { tokenizer: unknown }).tokenizer)
      const seq = hyper.seq ?? 64
      const encode = (docs: Doc[]) => docs.map(d => tokenizer.encode(d.text))
      const trainTokens = encode(split.train)
      const train = windowsOf(trainTokens, { seq, eot: tokenizer.eot, pad: tokenizer.pad })
      exampleDocs = Array.from(windowDocuments(trainTokens.map(t => t.length), train), i => split.train[i])
      inputs = { ...common, train, groups: exampleDocs.map(d => d.file.contribution.toString()), validation: windowsOf(encode(split.heldOut), { seq, eot: tokenizer.eot, pad: tokenizer.pad }) }
    }
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
    const { split } = prepared
    progress({ phase: 'attribute', examples: exampleDocs.length, checkpoints: held.length })
    const scores: AttributionScores = 'labels' in inputs.train ? await attributeClassifier(inputs as Parameters<typeof attributeClassifier>[0]) : await attributeLm(inputs as Parameters<typeof attributeLm>[0])

    // Contributions in the datanet's agreed order; those whose files were all
    // duplicates trained nothing and have no examples.
    const order = new Map(prepared.dn.log.ordered().map((e, i) => [e.cid.toString(), i]))
    const contributorOf = new Map(split.train.map(d => [d.file.contribution.toString(), d.file.contributor]))
    // Files the datanet flags as near-duplicates of earlier text add nothing to what
    // their contribution is paid for: the first copy is the one that counts.
    const view = await datanets.store.view(record.datanet)
    const near = new Set(view.contributions.flatMap(c => c.files.filter(f => f.nearDuplicateOf != null).map(f => f.cid)))
    const paid = new Map<string, number>()
    let nearExamples = 0
    exampleDocs.forEach((d, k) => {
      if (near.has(d.file.cid.toString())) { nearExamples++; return }
      const key = d.file.contribution.toString()
      paid.set(key, (paid.get(key) ?? 0) + scores.tracin[k])
    })
    // Data the adapter could not fit (worse than it fits unseen validation data, by the
    // model kind's measured margin) earns nothing.
    const unfit = new Set(fitGate(scores.byGroup.map(g => ({ id: g.group, meanLoss: g.meanLoss })), scores.validationLoss, FIT_GATES[prepared.base.meta.kind]).unfit.map(u => u.id))
    for (const id of unfit) paid.set(id, 0)
    const rewards = attributionRewards(scores.byGroup.map(g => ({ id: g.group, contributor: contributorOf.get(g.group) as string, influence: paid.get(g.group) ?? 0, order: order.get(g.group) ?? 0 })))
    // For infer --explain: each contribution's gradient, sketched, next to the checkpoints.
    await saveSketches(factory.jobDir(job), { format: SKETCHES_FORMAT, adapter: req.adapter, k: scores.sketch.k, seed: scores.sketch.seed, dims: scores.dims, contributors: Object.fromEntries(contributorOf) }, scores.sketches)
    const weightOf = new Map(rewards.contributions.map(c => [c.id, c.weight]))
    const credits = scores.byGroup.map(g => ({ contribution: CID.parse(g.group), weight: weightOf.get(g.group) ?? 0, influence: g.tracin }))
    const attribution = await datanets.recordAttribution(record.datanet, { cycle: CID.parse(record.cycle), method: ATTRIBUTION_METHOD, credits })

    const byContributor = new Map<string, number>()
    for (const g of scores.byGroup) byContributor.set(contributorOf.get(g.group) as string, (byContributor.get(contributorOf.get(g.group) as string) ?? 0) + g.tracin)
    const payout = new Map(rewards.contributors.map(c => [c.contributor, c.weight]))
    const contributors = [...byContributor].map(([address, influence]) => ({ address, influence, weight: payout.get(address) ?? 0 })).sort((a, b) => b.influence - a.influence)
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
      contributions: scores.byGroup.map(g => ({ contribution: g.group, contributor: contributorOf.get(g.group), examples: g.examples, tracin: g.tracin, datainf: g.datainf, meanLoss: g.meanLoss, unfit: unfit.has(g.group), paidInfluence: paid.get(g.group) ?? 0, weight: weightOf.get(g.group) ?? 0 })).sort((a, b) => b.tracin - a.tracin),
      contributors,
      flags: rewards.flags,
      nearDuplicateExamples: nearExamples,
      unfit: [...unfit],
      validationLoss: scores.validationLoss,
      verification: { checkpoints: named, heldOutRule: 'compute/jobs/held-out.ts', sample, tolerance: { relative: 1e-4, sameMachine: 'bit-identical' } },
      svg: req.svg,
      ms: { total: Date.now() - started, gradients: scores.ms.gradients, scores: scores.ms.scores }
    }
  }
}
