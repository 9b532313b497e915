// The attribution bench's two experiments, as one interface: the scenario's contributors,
// attribution of the full run at a training seed, and the truth runs (cached on disk):
// mask-LOO (every batch, order and seed of the full run, the given contributors' rows
// masked, the loss still normalised by the full batch) and the old re-sliced
// leave-one-out (the contributor's examples taken out, the batches re-formed).
//  - spam: SpamAssassin on the shipped spam-base, one example per mail;
//  - sotu: State of the Union speeches on a base pretrained on Moby-Dick only
//    (sotu-base.ts), examples are 64-token windows, credited to the speech they start in.
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { attributeClassifier, attributeLm, attributionCheckpoints, type AttributionScores } from '../../compute/jobs/attribute.ts'
import { DEFAULT_CLASSIFIER_ADAPTER_HYPER, trainClassifierAdapter } from '../../compute/jobs/train-classifier-adapter.ts'
import { DEFAULT_LM_ADAPTER_HYPER, lmAdapterTask, lmTrainingWindows, trainLmAdapter, type LmAdapterJob } from '../../compute/jobs/train-lm-adapter.ts'
import { LmEvaluator, type LmMetrics } from '../../compute/jobs/lm-eval.ts'
import { train } from '../../compute/train/trainer.ts'
import { decodeModel } from '../../compute/models/artifacts.ts'
import { CLASSIFIER_LORA_TARGETS, classifierParamSpecs, type ClassifierConfig } from '../../compute/models/classifier/config.ts'
import { classifierData } from '../../compute/models/classifier/train-step.ts'
import { defaultLoraTargets, type LmConfig } from '../../compute/models/lm/config.ts'
import { documentWindows, windowDocuments } from '../../compute/models/lm/data.ts'
import { lossUnits, type AttributionJobInputs } from '../../peer/attribution/inputs.ts'
import { lmParamSpecs } from '../../compute/models/lm/params.ts'
import { loraSpecs } from '../../compute/models/lora.ts'
import { initParams } from '../../compute/models/param-spec.ts'
import { MemoryCheckpointStore } from '../../compute/train/checkpoint-store.ts'
import { digestBytes } from '../../compute/train/fingerprint.ts'
import { Tokenizer } from '../../compute/tokenizer/index.ts'
import { buildLmScenario } from './lm-scenario.ts'
import type { RunCache, RunOutcome } from './run-cache.ts'
import { buildScenario, type NoiseKind, type Scenario, type ScenarioContributor } from './scenario.ts'
import { SOTU_BENCH_BASE_NOTE, sotuBenchBase } from './sotu-base.ts'

const SPAM_BASE = fileURLToPath(new URL('../../peer/models/built/spam-base.safetensors', import.meta.url))

export interface ExperimentOptions { N: number, K: number, noise: NoiseKind, seed: number, threads: number, tracinStride: number, tracinSteps?: readonly number[], cache: RunCache, log: (msg: string) => void }

/** The full run at one training seed, attributed. */
export interface Attributed {
  scores: AttributionScores
  trainingMs: number
  attributionMs: number
  /** The job's held-out metrics after training. */
  after: unknown
  /** Per contributor, in people order. */
  tracin: number[]
  datainf: number[]
  /** The estimators measured beside them (AttributionScores.variants), per contributor. */
  variants: Record<string, number[]>
  /** One entry per text of each contributor in people order: summed TracIn, final loss per token (per mail). */
  perText: { tracin: Float64Array, loss: Float64Array }
  /** The validation loss in perText.loss's units (what the fit gate compares with). */
  unitValidationLoss: number
}

export interface Experiment {
  kind: 'classifier' | 'lm'
  people: ScenarioContributor[]
  validationTexts: number
  /** `variants: false`: the paid estimators only (what a job computes; its time is the cost). */
  attribute: (seed: number, opts?: { variants?: boolean }) => Promise<Attributed>
  /** Validation loss with these contributors' rows masked (same batches as the full run). */
  masked: (ids: ReadonlySet<string>, seed: number, label: string) => Promise<RunOutcome>
  /** Validation loss trained without this contributor's examples (re-sliced batches). */
  resliced: (without: string, seed: number, label: string) => Promise<RunOutcome>
  params: Record<string, unknown>
  notes: string[]
}

const gcd = (a: number, b: number): number => b === 0 ? a : gcd(b, a % b)
const gcdOf = (xs: readonly number[]): number => xs.reduce(gcd)

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex')

/** What a scenario is, for the run cache: its texts, labels, who is bad and the validation set. */
function scenarioDigest (s: Scenario): string {
  return sha256(JSON.stringify({ people: s.contributors.map(p => [p.id, p.bad, p.order, sha256(p.texts.join('\u0000')), p.labels]), validation: sha256(s.validation.texts.join('\u0000')) }))
}

/** Per contributor, the sum of per-text values (texts in people order). */
function byPerson (people: readonly ScenarioContributor[], perText: ArrayLike<number>): number[] {
  let k = 0
  return people.map(p => { let s = 0; for (let j = 0; j < p.texts.length; j++) s += perText[k++]; return s })
}

export async function spamExperiment (o: ExperimentOptions): Promise<Experiment> {
  const bytes = new Uint8Array(await readFile(SPAM_BASE))
  const base = decodeModel(bytes)
  const cfg = base.meta.config as ClassifierConfig
  const scenario = await buildScenario({ contributors: o.N, bad: o.K, noise: o.noise, seed: o.seed })
  const people = scenario.contributors
  const lora = { rank: 8, alpha: 16, targets: [...CLASSIFIER_LORA_TARGETS] }
  const hyper = { ...DEFAULT_CLASSIFIER_ADAPTER_HYPER, checkpointEvery: 50 }
  const specs = loraSpecs(classifierParamSpecs(cfg), lora, new Set(['emb']))
  const all = { texts: people.flatMap(p => p.texts), labels: people.flatMap(p => p.labels) }
  const owner = people.flatMap(p => p.texts.map(() => p.id))
  const key = { model: 'spam', scenario: { N: o.N, K: o.K, noise: o.noise, seed: o.seed, digest: scenarioDigest(scenario) }, base: sha256(bytes), lora, hyper }
  const job = (seed: number) => ({ base, baseCid: 'spam-base', heldOut: scenario.validation, lora, hyper: { ...hyper, seed }, threads: o.threads })
  o.log(`${people.length} contributors (${o.K} ${o.noise}), ${all.texts.length} training mails, ${scenario.validation.texts.length} validation mails`)
  const timed = async (fn: () => Promise<{ after: { loss: number } }>): Promise<RunOutcome> => {
    const started = performance.now()
    const r = await fn()
    return { loss: r.after.loss, ms: performance.now() - started }
  }
  return {
    kind: 'classifier',
    people,
    validationTexts: scenario.validation.texts.length,
    attribute: async (seed, opts = {}) => {
      const store = new MemoryCheckpointStore()
      const started = performance.now()
      // With --tracin-steps the attributed run keeps a checkpoint at each of them (saving a
      // checkpoint does not change training: the truth's key keeps the job's own schedule).
      const full = await trainClassifierAdapter({ ...job(seed), ...(o.tracinSteps !== undefined ? { hyper: { ...hyper, seed, checkpointEvery: gcdOf([...o.tracinSteps, hyper.checkpointEvery]) } } : {}), train: all, store })
      const trainingMs = performance.now() - started
      await o.cache.put({ ...key, truth: 'mask', seed, masked: [] }, { loss: full.after.loss, ms: trainingMs })
      o.log(`full run, seed ${seed}: validation loss ${full.before.loss.toFixed(4)} -> ${full.after.loss.toFixed(4)}, accuracy ${(full.after.accuracy * 100).toFixed(2)}% in ${(trainingMs / 1000).toFixed(1)} s`)
      const t0 = performance.now()
      const scores = await attributeClassifier({
        base, lora, initial: initParams(specs, seed), checkpoints: await attributionCheckpoints(store, specs, { ...hyper, seed }, o.tracinStride, o.tracinSteps !== undefined ? new Set(o.tracinSteps) : undefined),
        train: classifierData(all, cfg), groups: owner, validation: classifierData(scenario.validation, cfg), threads: o.threads, variants: opts.variants ?? true
      })
      const attributionMs = performance.now() - t0
      const variants = Object.fromEntries(Object.entries(scores.variants).map(([name, x]) => [name, byPerson(people, x)]))
      return { scores, trainingMs, attributionMs, after: full.after, tracin: byPerson(people, scores.tracin), datainf: byPerson(people, scores.datainf), variants, perText: { tracin: scores.tracin, loss: scores.finalLoss }, unitValidationLoss: scores.validationLoss }
    },
    masked: async (ids, seed, label) => await o.cache.run({ ...key, truth: 'mask', seed, masked: [...ids].sort() }, label, async () =>
      await timed(async () => await trainClassifierAdapter({ ...job(seed), train: all, mask: Uint8Array.from(owner, id => ids.has(id) ? 0 : 1) }))),
    resliced: async (without, seed, label) => await o.cache.run({ ...key, truth: 'resliced', seed, without }, label, async () => {
      const kept = people.filter(p => p.id !== without)
      return await timed(async () => await trainClassifierAdapter({ ...job(seed), train: { texts: kept.flatMap(p => p.texts), labels: kept.flatMap(p => p.labels) } }))
    }),
    params: { lora: `rank ${lora.rank} on ${lora.targets.join(',')}`, steps: hyper.steps, checkpoints: o.tracinSteps?.join(',') ?? hyper.steps / o.tracinStride, validationMails: scenario.validation.texts.length },
    notes: ['spam base: the shipped spam-base (pretrained on the kept mail of easy-ham-1, hard-ham-1 and spam-1, which includes some contributors\' mail; never the held-out validation mail)']
  }
}

export async function sotuExperiment (o: ExperimentOptions): Promise<Experiment> {
  const { model: base, bytes } = await sotuBenchBase({ threads: o.threads, log: o.log })
  const cfg = base.meta.config as LmConfig
  const tokenizer = Tokenizer.fromJSON((base.meta as { tokenizer: unknown }).tokenizer)
  const scenario = await buildLmScenario({ contributors: o.N, bad: o.K, noise: o.noise, seed: o.seed, maxChars: 12_000 })
  const people = scenario.contributors
  const lora = { rank: 8, alpha: 16, targets: defaultLoraTargets(cfg) }
  const hyper = { ...DEFAULT_LM_ADAPTER_HYPER, steps: 200, batch: 16, seq: 64, lr: 2e-3, checkpointEvery: 50 }
  const specs = loraSpecs(lmParamSpecs(cfg), lora)
  const all = people.flatMap(p => p.texts)
  const docs = all.map(t => tokenizer.encode(t))
  const windows = lmTrainingWindows({ train: all, tokenizer, hyper })
  const docOf = windowDocuments(docs.map(d => d.length), windows)
  // One text per speech: a window belongs to the speech it starts in.
  const owner = Array.from(docOf, d => people[d].id)
  // Each held-out speech cut on its own, as the network's attribution cuts them.
  const validation = documentWindows(scenario.validation.texts.map(t => tokenizer.encode(t)), { seq: hyper.seq, eot: tokenizer.eot, pad: tokenizer.pad })
  const key = { model: 'sotu', scenario: { N: o.N, K: o.K, noise: o.noise, seed: o.seed, digest: scenarioDigest(scenario) }, base: sha256(bytes), lora, hyper, windows: sha256(JSON.stringify([windows.count, Array.from(docOf), digestBytes(windows.tokens)])) }
  const job = (seed: number) => ({ base, baseCid: 'sotu-bench-base', tokenizer, heldOut: scenario.validation.texts, lora, hyper: { ...hyper, seed }, threads: o.threads })
  o.log(`${people.length} speeches (${o.K} ${o.noise}), ${windows.count} training windows, ${scenario.validation.texts.length} held-out speeches`)
  const timed = async (fn: () => Promise<{ after: { loss: number } }>): Promise<RunOutcome> => {
    const started = performance.now()
    const r = await fn()
    return { loss: r.after.loss, ms: performance.now() - started }
  }
  return {
    kind: 'lm',
    people,
    validationTexts: scenario.validation.texts.length,
    attribute: async (seed, opts = {}) => {
      const store = new MemoryCheckpointStore()
      const started = performance.now()
      const full = await trainLmAdapter({ ...job(seed), train: all, store })
      const trainingMs = performance.now() - started
      await o.cache.put({ ...key, truth: 'mask', seed, masked: [] }, { loss: full.after.loss, ms: trainingMs })
      o.log(`full run, seed ${seed}: validation perplexity ${full.before.perplexity.toFixed(2)} -> ${full.after.perplexity.toFixed(2)} in ${(trainingMs / 1000).toFixed(1)} s`)
      const t0 = performance.now()
      const scores = await attributeLm({
        base, lora, initial: initParams(specs, seed), checkpoints: await attributionCheckpoints(store, specs, { ...hyper, seed }, o.tracinStride),
        train: windows, groups: owner,
        validation,
        threads: o.threads,
        variants: opts.variants ?? true
      })
      const attributionMs = performance.now() - t0
      const tracin = new Float64Array(people.length)
      const loss = new Float64Array(people.length)
      // Loss per token, as the network's fit gate reads it (a window's loss is summed over its targets).
      const units = lossUnits({ train: windows, validation } as AttributionJobInputs)!
      const count = new Float64Array(people.length)
      docOf.forEach((d, w) => { tracin[d] += scores.tracin[w]; loss[d] += scores.finalLoss[w]; count[d] += units.examples[w] })
      count.forEach((c, d) => { loss[d] = c > 0 ? loss[d] / c : 0 })
      const variants = Object.fromEntries(Object.entries(scores.variants).map(([name, x]) => [name, Array.from(sumBy(docOf, x, people.length))]))
      return { scores, trainingMs, attributionMs, after: full.after, tracin: Array.from(tracin), datainf: Array.from(sumBy(docOf, scores.datainf, people.length)), variants, perText: { tracin, loss }, unitValidationLoss: scores.validationLoss / units.validationMean }
    },
    masked: async (ids, seed, label) => await o.cache.run({ ...key, truth: 'mask', seed, masked: [...ids].sort() }, label, async () =>
      await timed(async () => await lmAfter({ ...job(seed), train: all, mask: Uint8Array.from(owner, id => ids.has(id) ? 0 : 1) }))),
    resliced: async (without, seed, label) => await o.cache.run({ ...key, truth: 'resliced', seed, without }, label, async () =>
      await timed(async () => await lmAfter({ ...job(seed), train: people.filter(p => p.id !== without).flatMap(p => p.texts) }))),
    params: { lora: `rank ${lora.rank} on ${lora.targets.length} projections`, steps: hyper.steps, seq: hyper.seq, checkpoints: hyper.steps / o.tracinStride, windows: windows.count, validationSpeeches: scenario.validation.texts.length },
    notes: [SOTU_BENCH_BASE_NOTE]
  }
}

/**
 * trainLmAdapter's held-out metrics after training, without the evaluation before it
 * (a quarter of a truth run's time on 32 held-out speeches): the same task, the same
 * evaluator, so the same loss.
 */
async function lmAfter (job: LmAdapterJob): Promise<{ after: LmMetrics }> {
  const { task, release } = await lmAdapterTask(job)
  const cfg = job.base.meta.config as LmConfig
  const evaluator = await LmEvaluator.create({ cfg, base: job.base.params, lora: job.lora, batch: job.hyper.batch, seq: job.hyper.seq, threads: job.threads })
  try {
    return { after: await evaluator.evaluate(job.heldOut, job.tokenizer, (await train(task)).params) }
  } finally {
    await release()
    await evaluator.release()
  }
}

function sumBy (groupOf: ArrayLike<number>, xs: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n)
  for (let i = 0; i < xs.length; i++) out[groupOf[i]] += xs[i]
  return out
}
