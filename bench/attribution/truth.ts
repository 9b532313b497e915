// The ground truth the estimators are scored against. Mask-LOO: for each training seed,
// the full run and one run per contributor with that contributor's rows masked (every
// batch, order and seed of the full run kept; the counterfactual TracIn estimates);
// the truth is the rise in validation loss, per seed, and its mean over the seeds.
// Positive = the contributor lowers the validation loss, the estimators' sign.
// Re-sliced LOO (the old truth): the contributor's examples taken out of the data and
// the batches formed anew, one training seed.
import type { Experiment } from './experiments.ts'
import { columnMeans, splitHalf, type Interval } from './reliability.ts'

export interface MaskLooTruth {
  seeds: number[]
  /** Validation loss of the full run, per seed. */
  full: number[]
  /** [seed][contributor]: masked-run loss minus the full run's, same seed. */
  perSeed: number[][]
  /** Per contributor, the mean over seeds. */
  mean: number[]
  /** Split-half reliability of the mean (Spearman-Brown corrected; raw = the halves' rho). */
  reliability: Interval & { raw: number }
}

/** The runs maskLooTruth makes: the full run and one per contributor, per seed. */
export const maskLooRuns = (exp: Experiment, seeds: number): number => seeds * (exp.people.length + 1)

export async function maskLooTruth (exp: Experiment, seeds: readonly number[]): Promise<MaskLooTruth> {
  const full: number[] = []
  const perSeed: number[][] = []
  for (const seed of seeds) {
    const f = (await exp.masked(new Set(), seed, `seed ${seed} full`)).loss
    full.push(f)
    const row: number[] = []
    for (const [i, p] of exp.people.entries()) {
      row.push((await exp.masked(new Set([p.id]), seed, `seed ${seed} mask ${i + 1}/${exp.people.length} ${p.id}${p.bad ? ' (bad)' : ''}`)).loss - f)
    }
    perSeed.push(row)
  }
  return { seeds: [...seeds], full, perSeed, mean: columnMeans(perSeed), reliability: splitHalf(perSeed, 20) }
}

/** Re-sliced leave-one-out at one seed: loss without the contributor minus the full run's. */
export async function reslicedTruth (exp: Experiment, seed: number): Promise<number[]> {
  const full = (await exp.masked(new Set(), seed, `seed ${seed} full`)).loss
  const out: number[] = []
  for (const [i, p] of exp.people.entries()) out.push((await exp.resliced(p.id, seed, `seed ${seed} re-sliced ${i + 1}/${exp.people.length} ${p.id}`)).loss - full)
  return out
}
