// Proof of Attribution against ground truth. A spam-assassin datanet of N contributors,
// K of them bad (bench/attribution/scenario.ts); a LoRA adapter on the shipped
// spam-base trained on all of it; TracIn-CP and DataInf per contributor; and the ground
// truth: the adapter retrained from the same initialisation and seed without each
// contributor in turn (leave-one-contributor-out), the change in validation loss.
// Reported: detection AUC (bad ranked below good), Spearman rho against the ground
// truth, and the cost of attribution and of leave-one-out as multiples of one
// training run. For `duplicate` the leave-one-out truth is blind by construction (the
// other copy stays), so the AUC is taken on the final payout weights, and no Spearman.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { TRACIN_STRIDE, attributeClassifier, attributeLm, attributionCheckpoints, type AttributionScores } from '../compute/jobs/attribute.ts'
import { DEFAULT_LM_ADAPTER_HYPER, trainLmAdapter } from '../compute/jobs/train-lm-adapter.ts'
import { defaultLoraTargets, type LmConfig } from '../compute/models/lm/config.ts'
import { windowDocuments, windowsOf } from '../compute/models/lm/data.ts'
import { lmParamSpecs } from '../compute/models/lm/params.ts'
import { Tokenizer } from '../compute/tokenizer/index.ts'
import { DEFAULT_CLASSIFIER_ADAPTER_HYPER, trainClassifierAdapter } from '../compute/jobs/train-classifier-adapter.ts'
import { decodeModel } from '../compute/models/artifacts.ts'
import { CLASSIFIER_LORA_TARGETS, classifierParamSpecs, type ClassifierConfig } from '../compute/models/classifier/config.ts'
import { classifierData } from '../compute/models/classifier/train-step.ts'
import { loraSpecs } from '../compute/models/lora.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { MemoryCheckpointStore } from '../compute/train/checkpoint-store.ts'
import { numberFlag, parseFlags } from './lib/args.ts'
import { BenchUsageError, type BenchResult } from './lib/bench.ts'
import { round } from './lib/stats.ts'
import { detectionAuc, spearman } from './attribution/metrics.ts'
import { FIT_GATES, fitGate } from '../settlement/policy/index.ts'
import { payoutWeights } from './attribution/payout.ts'
import { buildLmScenario } from './attribution/lm-scenario.ts'
import { buildScenario, NOISE_KINDS, type NoiseKind, type ScenarioContributor } from './attribution/scenario.ts'

export const name = 'attribution'
export const description = 'TracIn and DataInf per contributor vs leave-one-contributor-out retraining: AUC, Spearman, cost'
export const flags = [
  '--contributors N   contributors in the datanet (default 30)',
  '--bad K            bad contributors (default 5)',
  '--noise KIND       label-flip | duplicate | random-text | off-topic (default label-flip)',
  '--seed S           which contributors are bad, and the noise (default 1)',
  '--threads N        onnxruntime threads (default 2)',
  '--no-loo           skip the leave-one-out ground truth (AUC and cost only)',
  '--loo-noise        also redo leave-one-out with another training seed: the truth\'s own reproducibility (looSeedSpearman)',
  '--tracin-stride N  steps between the checkpoints TracIn is taken at (default TRACIN_STRIDE: 50 classifier, 100 LM; jobs checkpoint every 50)',
  '--model M          spam (classifier, contributors = sender domains; default) or sotu (language model, contributors = speeches)'
]

const SPAM_BASE = fileURLToPath(new URL('../peer/models/built/spam-base.safetensors', import.meta.url))
const SOTU_LM = fileURLToPath(new URL('../peer/models/built/sotu-lm.safetensors', import.meta.url))

export async function run (args: string[]): Promise<BenchResult> {
  const f = parseFlags(args, { contributors: 'string', bad: 'string', noise: 'string', seed: 'string', threads: 'string', 'no-loo': 'boolean', 'loo-noise': 'boolean', model: 'string', 'tracin-stride': 'string' })
  const model = (f.model as string | undefined) ?? 'spam'
  if (model !== 'spam' && model !== 'sotu') throw new BenchUsageError('--model must be spam or sotu')
  const N = numberFlag(f, 'contributors', 30, { min: 3 })
  const K = numberFlag(f, 'bad', 5, { min: 1 })
  const seed = numberFlag(f, 'seed', 1, { min: 0 })
  const threads = numberFlag(f, 'threads', 2, { min: 1 })
  const tracinStride = numberFlag(f, 'tracin-stride', TRACIN_STRIDE[model === 'spam' ? 'classifier' : 'lm'], { min: 1 })
  const noise = ((f.noise as string | undefined) ?? (model === 'sotu' ? 'random-text' : 'label-flip')) as NoiseKind
  if (model === 'sotu' && noise === 'label-flip') throw new BenchUsageError('label-flip has no meaning for the language model: use random-text, off-topic or duplicate')
  if (!(NOISE_KINDS as readonly string[]).includes(noise)) throw new BenchUsageError(`--noise must be one of ${NOISE_KINDS.join(', ')}`)
  const loo = f['no-loo'] !== true && noise !== 'duplicate'
  const log = (msg: string): void => { process.stderr.write(`attribution: ${msg}\n`) }

  const exp = model === 'sotu'
    ? await sotuExperiment({ N, K, noise, seed, threads, tracinStride, log })
    : await spamExperiment({ N, K, noise, seed, threads, tracinStride, log })
  const { people, trainOnce, full, scores, attributionMs, perText } = exp
  const byId = new Map(scores.byGroup.map(g => [g.group, g]))
  const tracinScores = people.map(p => byId.get(p.id)?.tracin ?? 0)
  const datainfScores = people.map(p => byId.get(p.id)?.datainf ?? 0)
  const bad = people.map(p => p.bad)
  log(`attribution in ${(attributionMs / 1000).toFixed(1)} s (${scores.dims} gradient dims)`)

  const perMail = (xs: number[]) => xs.map((x, i) => x / people[i].texts.length)
  const figures: Record<string, number> = {
    tracinAuc: round(detectionAuc(tracinScores, bad), 4),
    datainfAuc: round(detectionAuc(datainfScores, bad), 4),
    tracinPerMailAuc: round(detectionAuc(perMail(tracinScores), bad), 4),
    datainfPerMailAuc: round(detectionAuc(perMail(datainfScores), bad), 4),
    attributionCost: round(attributionMs / full.ms, 3)
  }
  // The money: per-mail TracIn through the shared payout policy (duplicates, negative
  // influence, cap), then the same AUC on each contributor's payout weight.
  const unfit = new Set(fitGate(scores.byGroup.map(g => ({ id: g.group, meanLoss: g.meanLoss })), scores.validationLoss, FIT_GATES[model === 'spam' ? 'classifier' : 'lm']).unfit.map(u => u.id))
  figures.unfitGood = people.filter(p => !p.bad && unfit.has(p.id)).length
  figures.unfitBad = people.filter(p => p.bad && unfit.has(p.id)).length
  figures.fitGateAuc = round(detectionAuc(people.map((p, i) => unfit.has(p.id) ? -Number.MAX_VALUE : tracinScores[i]), bad), 4)
  const payout = payoutWeights(people, perText, unfit)
  const weights = people.map(p => payout.weights.get(p.id) ?? 0)
  figures.payoutAuc = round(detectionAuc(weights, bad), 4)
  // Centred TracIn: a job runs a fixed number of steps, so leaving data out hands its
  // batch slots to the average example; the matching estimate subtracts that example.
  const centred = centredScores(people, exp.perExample, exp.exampleOf)
  figures.centredAuc = round(detectionAuc(centred.byPerson, bad), 4)
  const centredPayout = payoutWeights(people, centred.perText, unfit)
  const centredWeights = people.map(p => centredPayout.weights.get(p.id) ?? 0)
  figures.centredPayoutAuc = round(detectionAuc(centredWeights, bad), 4)
  const detail: Record<string, unknown> = { payoutFlags: payout.flagged, trainingMs: round(full.ms, 4), attributionMs: round(attributionMs, 4), gradientMs: round(scores.ms.gradients, 4), validation: full.after }
  let truth: number[] | undefined
  if (loo) {
    const looStarted = performance.now()
    truth = []
    for (const [i, p] of people.entries()) {
      const without = await trainOnce(p.id)
      truth.push(without.loss - full.loss)
      log(`leave out ${i + 1}/${people.length} ${p.id}${p.bad ? ' (bad)' : ''}: validation loss ${truth[i] >= 0 ? '+' : ''}${truth[i].toExponential(3)}`)
    }
    const looMs = performance.now() - looStarted
    figures.tracinSpearman = round(spearman(tracinScores, truth), 4)
    figures.datainfSpearman = round(spearman(datainfScores, truth), 4)
    figures.centredSpearman = round(spearman(centred.byPerson, truth), 4)
    figures.looAuc = round(detectionAuc(truth, bad), 4)
    figures.looCost = round(looMs / full.ms, 3)
    detail.looMs = round(looMs, 4)
    if (f['loo-noise'] === true) {
      // How reproducible is the ground truth itself? The same leave-one-out with another
      // training seed: an estimator cannot track the truth better than it tracks itself.
      const other = await trainOnce(undefined, 2)
      const second: number[] = []
      for (const p of people) second.push((await trainOnce(p.id, 2)).loss - other.loss)
      figures.looSeedSpearman = round(spearman(truth, second), 4)
      detail.looSecondSeed = second
    }
  }
  const rows = [['contributor', 'bad', 'mails', 'TracIn', 'DataInf', 'leave-one-out dLoss', 'payout'], ...people.map((p, i) => [p.id, p.bad ? (p.copyOf !== undefined ? `copy of ${p.copyOf}` : noise) : '', String(p.texts.length), tracinScores[i].toExponential(3), datainfScores[i].toExponential(3), truth !== undefined ? truth[i].toExponential(3) : '-', weights[i].toFixed(4)])]
  detail.contributors = people.map((p, i) => ({ id: p.id, bad: p.bad, mails: p.texts.length, tracin: tracinScores[i], datainf: datainfScores[i], centred: centred.byPerson[i], meanLoss: byId.get(p.id)?.meanLoss, loo: truth?.[i], payout: weights[i] }))
  detail.validationLoss = scores.validationLoss
  return {
    figures,
    baseline: truth !== undefined ? { looAuc: figures.looAuc, looCost: figures.looCost } : null,
    ratio: truth !== undefined ? round(figures.attributionCost / figures.looCost, 4) : null,
    reps: 1,
    params: { model, contributors: people.length, bad: K, noise, seed, threads, ...exp.params },
    units: { attributionCost: 'x one training run', looCost: 'x one training run' },
    detail,
    notes: [
      'scores: summed per contributor, positive = lowers the validation loss; AUC: P(good scores above bad)',
      'fitGateAuc: TracIn with contributions that fail the fit gate (mean own loss above the validation loss) ranked last',
      'payoutAuc: the same AUC on payout weights (after the fit gate): per-contributor TracIn sums (mails that repeat earlier mail, exactly or at MinHash >= 0.8, left out) through settlement/policy (negative earns nothing, 25% cap)',
      'ratio: attribution time / leave-one-out time (the exact ground truth it replaces)',
      'targets: AUC >= 0.95, Spearman >= 0.8, cost <= 2x one training run'
    ],
    tables: [{ title: 'per contributor', rows }]
  }
}

interface ExperimentOptions { N: number, K: number, noise: NoiseKind, seed: number, threads: number, tracinStride: number, log: (msg: string) => void }

interface Experiment {
  people: ScenarioContributor[]
  /** Trains without one contributor (or on everything), with the job's seed or another. */
  trainOnce: (without?: string, seed?: number) => Promise<{ loss: number, ms: number }>
  full: { loss: number, ms: number, after: unknown }
  scores: AttributionScores
  attributionMs: number
  /** TracIn per text of each contributor, in contributor order: what payout takes. */
  perText: Float64Array
  /** TracIn per training example, and which text (index into perText) each belongs to. */
  perExample: Float64Array
  exampleOf: ArrayLike<number>
  params: Record<string, unknown>
}

/** SpamAssassin on the shipped spam-base: one example per mail. */
async function spamExperiment (o: ExperimentOptions): Promise<Experiment> {
  const base = decodeModel(new Uint8Array(await readFile(SPAM_BASE)))
  const cfg = base.meta.config as ClassifierConfig
  const scenario = await buildScenario({ contributors: o.N, bad: o.K, noise: o.noise, seed: o.seed })
  const people = scenario.contributors
  const lora = { rank: 8, alpha: 16, targets: [...CLASSIFIER_LORA_TARGETS] }
  const hyper = { ...DEFAULT_CLASSIFIER_ADAPTER_HYPER, checkpointEvery: 50 }
  const specs = loraSpecs(classifierParamSpecs(cfg), lora, new Set(['emb']))
  const trainSet = (without?: string) => {
    const kept = people.filter(p => p.id !== without)
    return { texts: kept.flatMap(p => p.texts), labels: kept.flatMap(p => p.labels) }
  }
  const run = async (without?: string, store?: MemoryCheckpointStore, seed = hyper.seed) => {
    const started = performance.now()
    const r = await trainClassifierAdapter({ base, baseCid: 'spam-base', train: trainSet(without), heldOut: scenario.validation, lora, hyper: { ...hyper, seed }, threads: o.threads, store })
    return { r, loss: r.after.loss, ms: performance.now() - started }
  }
  o.log(`${people.length} contributors (${o.K} ${o.noise}), ${trainSet().texts.length} training mails, ${scenario.validation.texts.length} validation mails`)
  const store = new MemoryCheckpointStore()
  const full = await run(undefined, store)
  o.log(`full run: validation loss ${full.r.before.loss.toFixed(4)} -> ${full.r.after.loss.toFixed(4)}, accuracy ${(full.r.after.accuracy * 100).toFixed(2)}% in ${(full.ms / 1000).toFixed(1)} s`)
  const started = performance.now()
  const scores = await attributeClassifier({
    base,
    lora,
    initial: initParams(specs, hyper.seed),
    checkpoints: await attributionCheckpoints(store, specs, hyper, o.tracinStride),
    train: classifierData(trainSet(), cfg),
    groups: people.flatMap(p => p.texts.map(() => p.id)),
    validation: classifierData(scenario.validation, cfg),
    threads: o.threads
  })
  return {
    people,
    trainOnce: async (without, seed) => await run(without, undefined, seed),
    full: { loss: full.loss, ms: full.ms, after: full.r.after },
    scores,
    attributionMs: performance.now() - started,
    perText: scores.tracin,
    perExample: scores.tracin,
    exampleOf: Array.from(scores.tracin, (_, i) => i),
    params: { lora: `rank ${lora.rank} on ${lora.targets.join(',')}`, steps: hyper.steps, checkpoints: hyper.steps / o.tracinStride }
  }
}

/** SOTU addresses on the shipped sotu-lm: one contributor per speech, examples are 64-token windows. */
async function sotuExperiment (o: ExperimentOptions): Promise<Experiment> {
  const base = decodeModel(new Uint8Array(await readFile(SOTU_LM)))
  const cfg = base.meta.config as LmConfig
  const tokenizer = Tokenizer.fromJSON((base.meta as { tokenizer: unknown }).tokenizer)
  const scenario = await buildLmScenario({ contributors: o.N, bad: o.K, noise: o.noise, seed: o.seed, maxChars: 12_000, validation: 8 })
  const people = scenario.contributors
  const lora = { rank: 8, alpha: 16, targets: defaultLoraTargets(cfg) }
  const hyper = { ...DEFAULT_LM_ADAPTER_HYPER, steps: 200, batch: 16, seq: 64, lr: 2e-3, checkpointEvery: 50 }
  const specs = loraSpecs(lmParamSpecs(cfg), lora)
  const texts = (without?: string) => people.filter(p => p.id !== without).flatMap(p => p.texts)
  const run = async (without?: string, store?: MemoryCheckpointStore, seed = hyper.seed) => {
    const started = performance.now()
    const r = await trainLmAdapter({ base, baseCid: 'sotu-lm', tokenizer, train: texts(without), heldOut: scenario.validation.texts, lora, hyper: { ...hyper, seed }, threads: o.threads, store })
    return { r, loss: r.after.loss, ms: performance.now() - started }
  }
  o.log(`${people.length} speeches (${o.K} ${o.noise}), ${scenario.validation.texts.length} held-out speeches`)
  const store = new MemoryCheckpointStore()
  const full = await run(undefined, store)
  o.log(`full run: validation perplexity ${full.r.before.perplexity.toFixed(2)} -> ${full.r.after.perplexity.toFixed(2)} in ${(full.ms / 1000).toFixed(1)} s`)
  const started = performance.now()
  const docs = texts().map(t => tokenizer.encode(t))
  const windows = windowsOf(docs, { seq: hyper.seq, eot: tokenizer.eot, pad: tokenizer.pad })
  const docOf = windowDocuments(docs.map(d => d.length), windows)
  const scores = await attributeLm({
    base,
    lora,
    initial: initParams(specs, hyper.seed),
    checkpoints: await attributionCheckpoints(store, specs, hyper, o.tracinStride),
    train: windows,
    groups: Array.from(docOf, i => people[i].id),
    validation: windowsOf(scenario.validation.texts.map(t => tokenizer.encode(t)), { seq: hyper.seq, eot: tokenizer.eot, pad: tokenizer.pad }),
    threads: o.threads
  })
  const perText = new Float64Array(people.length)
  docOf.forEach((doc, w) => { perText[doc] += scores.tracin[w] })
  return {
    people,
    trainOnce: async (without, seed) => await run(without, undefined, seed),
    full: { loss: full.loss, ms: full.ms, after: full.r.after },
    scores,
    attributionMs: performance.now() - started,
    perText,
    perExample: scores.tracin,
    exampleOf: docOf,
    params: { lora: `rank ${lora.rank} on ${lora.targets.length} projections`, steps: hyper.steps, seq: hyper.seq, checkpoints: hyper.steps / o.tracinStride }
  }
}

/** Each example's TracIn minus the mean example's, summed per text and per contributor. */
function centredScores (people: readonly ScenarioContributor[], perExample: Float64Array, exampleOf: ArrayLike<number>): { perText: Float64Array, byPerson: number[] } {
  let mean = 0
  for (const x of perExample) mean += x / perExample.length
  const texts = people.reduce((n, p) => n + p.texts.length, 0)
  const perText = new Float64Array(texts)
  perExample.forEach((x, i) => { perText[exampleOf[i]] += x - mean })
  const byPerson: number[] = []
  let k = 0
  for (const p of people) {
    let sum = 0
    for (let j = 0; j < p.texts.length; j++) sum += perText[k++]
    byPerson.push(sum)
  }
  return { perText, byPerson }
}
