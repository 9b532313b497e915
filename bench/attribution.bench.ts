// Proof of Attribution against ground truth (issue 20). A datanet of N contributors, K
// of them bad (bench/attribution/scenario.ts, lm-scenario.ts); a LoRA adapter trained
// on all of it; TracIn-CP and DataInf per contributor; the payout they lead to
// (bench/attribution/payout.ts). The truth (truth.ts): mask-LOO, the full run's batches
// with one contributor's rows masked, averaged over --truth-seeds training seeds, with
// its split-half reliability; LDS (lds.ts) over --lds-subsets random 80% subsets, with
// its ceiling; optionally the old re-sliced leave-one-out (--resliced). Truth runs are
// cached on disk (run-cache.ts): a rerun costs nothing. Figures and the targets
// (properties.ts) in the JSON.
import { numberFlag, parseFlags } from './lib/args.ts'
import { BenchUsageError, type BenchResult } from './lib/bench.ts'
import { round } from './lib/stats.ts'
import { TRACIN_STRIDE } from '../compute/jobs/attribute.ts'
import { spamExperiment, sotuExperiment, type Attributed, type Experiment } from './attribution/experiments.ts'
import { lds, ldsRuns, type LdsRuns } from './attribution/lds.ts'
import { detectionAuc, spearman } from './attribution/metrics.ts'
import { payoutWeights } from './attribution/payout.ts'
import { properties } from './attribution/properties.ts'
import { robustness } from './attribution/robustness.ts'
import { significantlyPositive, spearmanInterval, type Interval } from './attribution/reliability.ts'
import { RunCache } from './attribution/run-cache.ts'
import { NOISE_KINDS, type NoiseKind } from './attribution/scenario.ts'
import { maskLooRuns, maskLooTruth, reslicedTruth, type MaskLooTruth } from './attribution/truth.ts'

export const name = 'attribution'
export const description = 'TracIn and DataInf per contributor vs mask-LOO over training seeds, LDS, payout: rho, LDS, credit AUC, bad share, cost'
export const flags = [
  '--contributors N   contributors in the datanet (default 30)',
  '--bad K            bad contributors (default 5)',
  `--noise KIND       ${NOISE_KINDS.join(' | ')} (default label-flip; sotu random-text)`,
  '--seed S           which contributors are bad, and the noise (default 1)',
  '--threads N        onnxruntime threads (default 2)',
  '--truth-seeds S    training seeds the mask-LOO truth and LDS average over (default 4, at least 2)',
  '--lds-subsets M    random 80% subsets of contributors for LDS (default 32; 0 = no LDS)',
  '--resliced         also the old re-sliced leave-one-out truth at seed 1 (N more runs)',
  '--loo-noise        with --resliced, redo it at seed 2: the old truth\'s own reproducibility',
  '--no-loo           no truth runs (AUC, payout and cost only)',
  '--tracin-steps A,B,...  (spam) the steps TracIn is taken at instead of every --tracin-stride (the attributed run checkpoints at each)',
  '--tracin-stride N  steps between the checkpoints TracIn is taken at (default TRACIN_STRIDE: 50 classifier, 100 LM; jobs checkpoint every 50)',
  '--model M          spam (classifier, contributors = sender domains; default) or sotu (language model on a Moby-Dick-only base, contributors = speeches)'
]

/** Scores per contributor (people order) to payout, through the shared policy. */
function pay (exp: Experiment, a: Attributed): { weights: number[], credit: number[], flagged: Record<string, number> } {
  const p = payoutWeights(exp.people, a.perText, a.unitValidationLoss, exp.kind)
  return { weights: exp.people.map(x => p.weights.get(x.id) ?? 0), credit: exp.people.map(x => p.credit.get(x.id) ?? 0), flagged: p.flagged }
}

const r4 = (x: number): number => round(x, 4)
const iv = (x: Interval): Interval => ({ value: r4(x.value), lo: r4(x.lo), hi: r4(x.hi) })

export async function run (args: string[]): Promise<BenchResult> {
  const f = parseFlags(args, { contributors: 'string', bad: 'string', noise: 'string', seed: 'string', threads: 'string', 'no-loo': 'boolean', 'loo-noise': 'boolean', model: 'string', 'tracin-stride': 'string', 'tracin-steps': 'string', 'truth-seeds': 'string', 'lds-subsets': 'string', resliced: 'boolean' })
  const model = (f.model as string | undefined) ?? 'spam'
  if (model !== 'spam' && model !== 'sotu') throw new BenchUsageError('--model must be spam or sotu')
  const N = numberFlag(f, 'contributors', 30, { min: 3 })
  const K = numberFlag(f, 'bad', 5, { min: 1 })
  const seed = numberFlag(f, 'seed', 1, { min: 0 })
  const threads = numberFlag(f, 'threads', 2, { min: 1 })
  const S = numberFlag(f, 'truth-seeds', 4, { min: 2 })
  const M = numberFlag(f, 'lds-subsets', 32, { min: 0 })
  const tracinStride = numberFlag(f, 'tracin-stride', TRACIN_STRIDE[model === 'spam' ? 'classifier' : 'lm'], { min: 1 })
  const noise = ((f.noise as string | undefined) ?? (model === 'sotu' ? 'random-text' : 'label-flip')) as NoiseKind
  if (!(NOISE_KINDS as readonly string[]).includes(noise)) throw new BenchUsageError(`--noise must be one of ${NOISE_KINDS.join(', ')}`)
  if (model === 'sotu' && noise === 'label-flip') throw new BenchUsageError('label-flip has no meaning for the language model: use random-text, off-topic, lm-off-topic, duplicate or paraphrase')
  if (model === 'spam' && noise === 'lm-off-topic') throw new BenchUsageError('lm-off-topic is for --model sotu (the classifier\'s is off-topic)')
  if (f['loo-noise'] === true && f.resliced !== true) throw new BenchUsageError('--loo-noise needs --resliced')
  const truthRuns = f['no-loo'] !== true
  const log = (msg: string): void => { process.stderr.write(`attribution: ${msg}\n`) }
  const cache = new RunCache({ log })
  const tracinSteps = typeof f['tracin-steps'] === 'string' ? f['tracin-steps'].split(',').map(Number) : undefined
  if (tracinSteps !== undefined && (model !== 'spam' || tracinSteps.some(x => !Number.isInteger(x) || x < 1))) throw new BenchUsageError('--tracin-steps takes positive step numbers, for --model spam')
  const o = { N, K, noise, seed, threads, tracinStride, tracinSteps, cache, log }
  const exp = model === 'sotu' ? await sotuExperiment(o) : await spamExperiment(o)
  const { people } = exp
  const bad = people.map(p => p.bad)
  const good = people.map((_, i) => i).filter(i => !bad[i])

  // The job's seed (1) and another: payout stability across training seeds.
  const a1 = await exp.attribute(1)
  log(`attribution in ${(a1.attributionMs / 1000).toFixed(1)} s (${a1.scores.dims} gradient dims)`)
  for (const note of a1.scores.variantNotes) log(note)
  // Seed 2 only for payout stability: the paid estimators alone, so its time is a job's cost.
  const a2 = await exp.attribute(2, { variants: false })
  const p1 = pay(exp, a1)
  const p2 = pay(exp, a2)
  const totalWeight = p1.weights.reduce((s, w) => s + w, 0)
  const cost = a2.attributionMs / a2.trainingMs
  const figures: Record<string, number> = {
    tracinAuc: r4(detectionAuc(a1.tracin, bad)),
    datainfAuc: r4(detectionAuc(a1.datainf, bad)),
    payoutAuc: r4(detectionAuc(p1.weights, bad)),
    creditAuc: r4(detectionAuc(p1.credit, bad)),
    badShare: round(totalWeight > 0 ? p1.weights.reduce((s, w, i) => s + (bad[i] ? w : 0), 0) / totalWeight : 0, 6),
    payoutStability: r4(spearman(p1.weights, p2.weights)),
    cost: round(cost, 3),
    costWithVariants: round(a1.attributionMs / a1.trainingMs, 3)
  }
  const detail: Record<string, unknown> = { variantNotes: a1.scores.variantNotes, payoutFlags: p1.flagged, trainingMs: round(a1.trainingMs, 4), attributionMs: round(a1.attributionMs, 4), gradientMs: round(a1.scores.ms.gradients, 4), validation: a1.after, validationLoss: a1.scores.validationLoss }

  let truth: MaskLooTruth | undefined
  let ldsR: LdsRuns | undefined
  let resliced: number[] | undefined
  // Self-influence measures how far the run bent to fit an example, not its value: a junk
  // detector (high = suspect), reported by its AUC only.
  const { 'self-influence': selfInfluence, 'self-influence-emb': selfInfluenceEmb, ...rest } = a1.variants
  // '@...' are parts of the paid TracIn (per checkpoint, layer, validation class): a breakdown, not estimators.
  const breakdown = Object.fromEntries(Object.entries(rest).filter(([name]) => name.startsWith('@')))
  const valueVariants = Object.fromEntries(Object.entries(rest).filter(([name]) => !name.startsWith('@')))
  const estimators: Record<string, number[]> = { tracin: a1.tracin, datainf: a1.datainf, ...valueVariants }
  for (const [name, x] of Object.entries(valueVariants)) figures[`${name}Auc`] = r4(detectionAuc(x, bad))
  // Per text (a contributor's sum grows with its size); low ranks good above bad.
  if (selfInfluence !== undefined) figures.selfInfluenceJunkAuc = r4(detectionAuc(selfInfluence.map((x, i) => -x / people[i].texts.length), bad))
  if (selfInfluenceEmb !== undefined) figures.selfInfluenceEmbJunkAuc = r4(detectionAuc(selfInfluenceEmb.map((x, i) => -x / people[i].texts.length), bad))
  // What an attacker could do with this case's data without retraining (robustness.ts).
  const robust = robustness({ people, scores: a1.perText, validationLoss: a1.unitValidationLoss, kind: exp.kind }, seed)
  for (const [name, p] of Object.entries(robust)) figures[`robustness.${name}`] = p.value
  if (truthRuns) {
    const seeds = Array.from({ length: S }, (_, i) => i + 1)
    cache.plan(maskLooRuns(exp, S) + M * S + (f.resliced === true ? (people.length + 1) * (f['loo-noise'] === true ? 2 : 1) : 0))
    const started = performance.now()
    truth = await maskLooTruth(exp, seeds)
    if (M > 0) ldsR = await ldsRuns(exp, M, seeds, seed)
    if (f.resliced === true) resliced = await reslicedTruth(exp, 1)
    detail.truthWallMs = round(performance.now() - started, 4)
    const t = truth
    const valuable = people.map((_, i) => significantlyPositive(t.perSeed.map(r => r[i])))
    const nValuable = valuable.filter(Boolean).length
    figures.valuableRecall = r4(nValuable > 0 ? valuable.filter((v, i) => v && p1.weights[i] > 0).length / nValuable : NaN)
    figures.valuable = nValuable
    figures['truth.seeds'] = S
    figures['truth.reliability'] = r4(t.reliability.value)
    figures['truth.reliabilityLo'] = r4(t.reliability.lo)
    figures['truth.reliabilityHi'] = r4(t.reliability.hi)
    figures['truth.reliabilityRaw'] = r4(t.reliability.raw)
    figures['truth.auc'] = r4(detectionAuc(t.mean, bad))
    const perEstimator: Record<string, { rhoAll: Interval, rhoGood: Interval, lds: number, resliced?: number }> = {}
    for (const [name, scores] of Object.entries(estimators)) {
      const rhoAll = spearmanInterval(scores, t.mean, 2)
      const rhoGood = spearmanInterval(good.map(i => scores[i]), good.map(i => t.mean[i]), 3)
      const e = { rhoAll: iv(rhoAll), rhoGood: iv(rhoGood), lds: ldsR !== undefined ? r4(lds(ldsR, scores)) : NaN, ...(resliced !== undefined ? { resliced: r4(spearman(scores, resliced)) } : {}) }
      perEstimator[name] = e
      figures[`${name}.rhoAll`] = e.rhoAll.value
      figures[`${name}.rhoAllLo`] = e.rhoAll.lo
      figures[`${name}.rhoAllHi`] = e.rhoAll.hi
      figures[`${name}.rhoGood`] = e.rhoGood.value
      if (ldsR !== undefined) figures[`${name}.lds`] = e.lds
      if (e.resliced !== undefined) figures[`truth.resliced.${name}`] = e.resliced
    }
    if (ldsR !== undefined) {
      figures['lds.ceiling'] = r4(ldsR.ceiling.corrected)
      figures['lds.ceilingRaw'] = r4(ldsR.ceiling.raw)
      detail.lds = { subsets: M, keep: 0.8, ceiling: { raw: r4(ldsR.ceiling.raw), corrected: r4(ldsR.ceiling.corrected) }, loss: ldsR.loss, perSeed: ldsR.perSeed, kept: ldsR.kept }
    }
    if (resliced !== undefined) {
      figures['truth.resliced.vsMaskLoo'] = r4(spearman(resliced, t.mean))
      if (f['loo-noise'] === true) {
        const second = await reslicedTruth(exp, 2)
        figures.looSeedSpearman = r4(spearman(resliced, second))
        detail.reslicedSecondSeed = second
      }
    }
    detail.estimators = perEstimator
    detail.breakdown = breakdownOf(breakdown, a1.tracin, t.mean, bad)
    detail.truth = { seeds: t.seeds, full: t.full, reliability: { ...iv(t.reliability), raw: r4(t.reliability.raw) }, perSeed: t.perSeed, resliced }
    const numbers = Object.fromEntries(Object.entries(perEstimator).map(([name, e]) => [name, { rhoAll: e.rhoAll.value, rhoGood: e.rhoGood.value, lds: e.lds }]))
    const props = properties({ noise, estimators: numbers, reliability: t.reliability.value, ldsCeiling: ldsR?.ceiling.corrected ?? NaN, creditAuc: figures.creditAuc, badShare: figures.badShare, valuableRecall: figures.valuableRecall, payoutStability: figures.payoutStability, cost })
    Object.assign(props, robust)
    detail.properties = props
    figures.propertiesPassed = Object.values(props).filter(p => p.pass === true).length
    figures.propertiesFailed = Object.values(props).filter(p => p.pass === false).length
  } else {
    const props = properties({ noise, estimators: {}, reliability: NaN, ldsCeiling: NaN, creditAuc: figures.creditAuc, badShare: figures.badShare, valuableRecall: NaN, payoutStability: figures.payoutStability, cost })
    detail.properties = { ...props, ...robust }
  }

  const e = (x: number | undefined): string => x === undefined || !Number.isFinite(x) ? '-' : x.toExponential(3)
  const contributorRows = [['contributor', 'bad', 'texts', 'TracIn', 'DataInf', 'mask-LOO (mean)', 're-sliced LOO', 'credit', 'payout'], ...people.map((p, i) => [p.id, p.bad ? (p.copyOf !== undefined ? `${noise} of ${p.copyOf}` : noise) : '', String(p.texts.length), e(a1.tracin[i]), e(a1.datainf[i]), e(truth?.mean[i]), e(resliced?.[i]), e(p1.credit[i]), p1.weights[i].toFixed(4)])]
  const tables = [{ title: 'per contributor', rows: contributorRows }]
  if (detail.breakdown !== undefined) {
    const b = detail.breakdown as Record<string, BreakdownRow>
    tables.push({ title: 'TracIn broken down (sums over contributors; good contributors split by the sign of their mask-LOO truth)', rows: [['part', 'share of TracIn', 'rho vs truth', 'rho good', 'good, truth < 0: mean (> 0 of n)', 'good, truth > 0: mean', 'bad: mean'], ...Object.entries(b).map(([name, x]) => [name, x.share.toFixed(3), x.rhoAll.toFixed(3), x.rhoGood.toFixed(3), `${e(x.goodTruthNegative.mean)} (${x.goodTruthNegative.positive} of ${x.goodTruthNegative.n})`, e(x.goodTruthPositive.mean), e(x.bad.mean)])] })
  }
  detail.contributors = people.map((p, i) => ({ id: p.id, bad: p.bad, texts: p.texts.length, tracin: a1.tracin[i], datainf: a1.datainf[i], maskLoo: truth?.mean[i], maskLooPerSeed: truth?.perSeed.map(r => r[i]), resliced: resliced?.[i], credit: p1.credit[i], payout: p1.weights[i], payoutSeed2: p2.weights[i] }))
  return {
    figures,
    baseline: null,
    ratio: null,
    reps: 1,
    params: { model, contributors: people.length, bad: K, noise, seed, threads, truthSeeds: truthRuns ? S : 0, ldsSubsets: truthRuns ? M : 0, resliced: f.resliced === true, validationTexts: exp.validationTexts, ...exp.params },
    units: { cost: 'x one training run', badShare: 'share of payout weight' },
    detail,
    notes: [
      'scores per contributor, positive = lowers the validation loss; AUC: P(a good contributor scores above a bad one)',
      `truth: mask-LOO, the full run's batches, order and seed with the contributor's rows masked (loss still normalised by the full batch), validation loss minus the full run's, mean over ${S} training seeds; reliability: Spearman of the two seed halves' means, Spearman-Brown corrected, 95% bootstrap over contributors`,
      'rhoAll / rhoGood: Spearman vs the mask-LOO mean, all / good contributors, 95% bootstrap over contributors',
      'LDS: Spearman over subsets (each keeping 80% of contributors, the rest masked) between the seed-mean validation loss and MINUS the summed scores of the kept contributors; lds.ceiling: the two seed halves\' subset losses, Spearman-Brown corrected (raw in lds.ceilingRaw)',
      'estimators: tracin (paid), datainf (reference damping), tracin-adam (Adam-preconditioned, LESS without momentum), tracin-balanced (class-balanced validation gradient), tracin-emb (the classifier\'s embedding adapter in the gradient too), datainf-layer (damping 0.1 x the layer\'s mean squared norm), if-cg (the influence function with the exact damped empirical-Fisher inverse over the whole adapter, by conjugate gradients; -layers: without the embedding adapter; lambda, iterations and residual in detail.variantNotes)',
      'breakdown: the paid TracIn per checkpoint (@checkpoint:step, trapezoid weight included), per LoRA target (@layer:w1, w2; @layer:emb is tracin-emb\'s extra part) and per validation class (@val-class:c); each part\'s share of the summed TracIn, its Spearman with the truth, and its mean over good contributors whose truth is negative / positive, and over bad ones',
      'robustness.*: sybilSplit, copyEarnsNothing, gatePadding, reorder on this case\'s scores (bench/attribution/robustness.ts)',
      'payout: payoutWeights (settlement/policy/attribution-credits.ts: per file fit gate, duplicate rules, negative earns nothing; no cap) on the seed-1 TracIn; creditAuc on the credit before the zero floor; badShare: payout weight to bad contributors; valuableRecall: of contributors whose mask-LOO rise is positive at 95% (one-sided t over seeds), the share paid; payoutStability: Spearman of the payout weights of training seeds 1 and 2',
      'cost: attribution time / one training run at seed 2, attributed as a job does (TracIn and DataInf only); costWithVariants: the same at seed 1, every measured variant and breakdown included',
      ...exp.notes
    ],
    tables
  }
}

interface BreakdownRow { share: number, rhoAll: number, rhoGood: number, goodTruthNegative: { n: number, mean: number, positive: number }, goodTruthPositive: { n: number, mean: number }, bad: { mean: number } }

/** Why TracIn ranks as it does: each part's share, agreement with the truth, and sign on the contributors where TracIn and the truth disagree. */
function breakdownOf (parts: Record<string, number[]>, tracinSum: readonly number[], truth: readonly number[], bad: readonly boolean[]): Record<string, BreakdownRow> {
  const total = tracinSum.reduce((s, x) => s + x, 0)
  const idx = truth.map((_, i) => i)
  const good = idx.filter(i => !bad[i])
  const neg = good.filter(i => truth[i] < 0)
  const pos = good.filter(i => truth[i] > 0)
  const mean = (x: readonly number[], at: readonly number[]): number => at.length === 0 ? NaN : at.reduce((s, i) => s + x[i], 0) / at.length
  return Object.fromEntries(Object.entries(parts).map(([name, x]) => [name, {
    share: r4(x.reduce((s, v) => s + v, 0) / total),
    rhoAll: r4(spearman(x, truth)),
    rhoGood: r4(spearman(good.map(i => x[i]), good.map(i => truth[i]))),
    goodTruthNegative: { n: neg.length, mean: mean(x, neg), positive: neg.filter(i => x[i] > 0).length },
    goodTruthPositive: { n: pos.length, mean: mean(x, pos) },
    bad: { mean: mean(x, idx.filter(i => bad[i])) }
  }]))
}
