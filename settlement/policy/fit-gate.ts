// The fit gate: data the trained model could not learn from earns nothing, whatever
// its first-order influence says. A contribution whose own examples the final adapter
// fits worse, on average, than it fits the held-out validation examples (its mean
// training loss is above the mean validation loss, times a margin) is noise, garbage
// or wrongly labelled for this model: gradient-based influence tends to read such data
// as help (it pushes hard, in directions that briefly lower validation loss), while
// retraining without it shows it is at best useless. Pure and deterministic, like every
// policy here; the live network and the simulator both call it before paying.
import { InvalidPolicyInputError } from './errors.ts'

export interface FitInput {
  id: string
  /** Mean loss of the contribution's own training examples under the final model. */
  meanLoss: number
}

export interface FitGatePolicy {
  /** A contribution fails when meanLoss > margin x validationLoss. */
  margin: number
}

export const DEFAULT_FIT_GATE: Readonly<FitGatePolicy> = Object.freeze({ margin: 1 })

/**
 * The bar per model kind, as measured (bench/RESULTS.md, attribution): a classifier's
 * good data sits below its validation loss, so margin 1. A language model's good
 * documents spread around it (0.86-1.05x on sotu speeches, random text 1.63x, other
 * books 1.05-1.12x), so margin 1.1: all random text fails, no good speech did.
 */
export const FIT_GATES: Readonly<Record<'classifier' | 'lm', Readonly<FitGatePolicy>>> = Object.freeze({
  classifier: DEFAULT_FIT_GATE,
  lm: Object.freeze({ margin: 1.1 })
})

export interface FitGateResult {
  /** Ids that failed the gate, in input order, with their loss and the bar. */
  unfit: Array<{ id: string, meanLoss: number, bar: number }>
}

export function fitGate (inputs: readonly FitInput[], validationLoss: number, policy: Partial<FitGatePolicy> = {}): FitGateResult {
  const margin = policy.margin ?? DEFAULT_FIT_GATE.margin
  if (!Number.isFinite(margin) || margin <= 0) throw new InvalidPolicyInputError('fit gate margin must be a positive number', { margin })
  if (!Number.isFinite(validationLoss) || validationLoss < 0) throw new InvalidPolicyInputError('validation loss must be a finite number >= 0', { validationLoss })
  const bar = margin * validationLoss
  const unfit: FitGateResult['unfit'] = []
  for (const x of inputs) {
    if (!Number.isFinite(x.meanLoss) || x.meanLoss < 0) throw new InvalidPolicyInputError('mean loss must be a finite number >= 0', { id: x.id, meanLoss: x.meanLoss })
    if (x.meanLoss > bar) unfit.push({ id: x.id, meanLoss: x.meanLoss, bar })
  }
  return { unfit }
}
