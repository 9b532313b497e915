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
 * The bar per model kind and per file, as measured (bench/RESULTS.md, attribution). A
 * classifier's file is one mail, and one mail's loss is compared with the validation
 * set's MEAN loss, which its few misclassified mails dominate: at margin 1 a junk mail
 * passes at p(label) ~0.73. Margin 0.25 (p ~0.92) cut the payout to bad contributors
 * in 5 of 6 spam cases (label-flip 1.4% -> 0.8% and 0.5% -> 0.2%; random text 1.8% ->
 * 0.7% and 4.6% -> 1.2%; off-topic 0.26% -> 0) and left every good contributor paid.
 * A language model's file is a document, its loss per token: good documents spread
 * around the validation loss (0.86-1.05x on sotu speeches, random text 1.63x, other
 * books 1.05-1.12x), so margin 1.1: all random text fails, no good speech did.
 */
export const FIT_GATES: Readonly<Record<'classifier' | 'lm', Readonly<FitGatePolicy>>> = Object.freeze({
  classifier: Object.freeze({ margin: 0.25 }),
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
