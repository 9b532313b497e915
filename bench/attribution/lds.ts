// Linear datamodeling score (TRAK, Park et al. 2023): how well the summed scores of a
// subset of contributors predict the validation loss of a model trained on that subset.
// M random subsets each keep 80% of the contributors (seeded); each is trained, per
// truth seed, with the dropped contributors masked (the full run's batches). An
// estimator's prediction for a subset is MINUS the sum of its kept contributors' scores
// (positive score = lowers the loss, so more kept score = lower predicted loss); LDS is
// Spearman over subsets between that prediction and the actual loss (mean over seeds).
// Its ceiling: Spearman between the subset losses of the two halves of the seeds, raw
// and Spearman-Brown corrected (what the seed mean itself reproduces at).
import { Rng } from '../../compute/random.ts'
import type { Experiment } from './experiments.ts'
import { spearman } from './metrics.ts'
import { columnMeans, halves, spearmanBrown } from './reliability.ts'

export const LDS_KEEP = 0.8

export interface LdsRuns {
  /** Per subset, the kept contributors' indices. */
  kept: number[][]
  /** [seed][subset] validation loss. */
  perSeed: number[][]
  /** Per subset, the mean over seeds. */
  loss: number[]
  ceiling: { raw: number, corrected: number }
}

/** M subsets of n contributors, each keeping round(0.8 n), drawn by `seed`. */
export function ldsSubsets (n: number, m: number, seed: number): number[][] {
  const rng = new Rng(0x1d5 ^ seed)
  const keep = Math.round(LDS_KEEP * n)
  return Array.from({ length: m }, () => rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, keep).sort((a, b) => a - b))
}

export async function ldsRuns (exp: Experiment, m: number, seeds: readonly number[], subsetSeed: number): Promise<LdsRuns> {
  const kept = ldsSubsets(exp.people.length, m, subsetSeed)
  const perSeed: number[][] = []
  for (const seed of seeds) {
    const row: number[] = []
    for (const [j, k] of kept.entries()) {
      const keep = new Set(k)
      const dropped = new Set(exp.people.filter((_, i) => !keep.has(i)).map(p => p.id))
      row.push((await exp.masked(dropped, seed, `seed ${seed} LDS subset ${j + 1}/${m}`)).loss)
    }
    perSeed.push(row)
  }
  const [a, b] = halves(perSeed).map(columnMeans)
  const raw = perSeed.length >= 2 ? spearman(a, b) : NaN
  return { kept, perSeed, loss: columnMeans(perSeed), ceiling: { raw, corrected: spearmanBrown(raw) } }
}

/** LDS of per-contributor scores (positive = lowers the loss) on these runs. */
export function lds (runs: LdsRuns, scores: readonly number[]): number {
  const predicted = runs.kept.map(k => -k.reduce((s, i) => s + scores[i], 0))
  return spearman(predicted, runs.loss)
}
