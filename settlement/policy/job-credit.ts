// Which contributors a paid job's fee credits, and by how much: the contributors' part
// of a fee (fee-split.ts, rule 3) is split by these weights. Pure, so the live
// aggregator and the simulator pay alike; the rules are in ./README.md ("Job credit").
//
//   1 a job that used one trained adapter (an inference batch on it, or a training job
//     whose own cycle is already attributed) pays by that cycle's attribution: the
//     contributions whose data moved that model
//   2 otherwise it pays by the datanet's credit map: every attributed cycle's weights,
//     each cycle counting once (a cycle's weights sum to 1), summed per contributor;
//     a job on a datanet that was never attributed credits nobody (its contributors'
//     part goes to the treasury, fee-split rule 4)
//   3 one entry per address (addresses compared without case, written lowercase), in
//     address order, zero weights left out
import { InvalidPolicyInputError } from './errors.ts'
import { compareStrings, type PoolWeight } from './split-pool.ts'

/** One line of a datanet's credit map: a contribution's weight in one attributed training cycle. */
export interface CreditLine {
  contributor: string
  /** The training cycle (its manifest entry CID) the weight comes from. */
  cycle: string
  /** Finite, >= 0. */
  weight: number
}

export interface JobCreditInput {
  /** The datanet's credit map, every attributed cycle. */
  lines: readonly CreditLine[]
  /** The cycle of the adapter the job used or produced, if known. */
  cycle?: string
}

export interface JobCredit {
  /** What the contributors' part is split by; empty = nobody (the treasury takes it). */
  weights: PoolWeight[]
  /** Rule 1 (`cycle`), rule 2 (`credit-map`), or no attributed cycle at all (`none`). */
  basis: 'cycle' | 'credit-map' | 'none'
  /** The cycles the weights come from. */
  cycles: string[]
}

export function jobCredit (input: JobCreditInput): JobCredit {
  if (input == null || !Array.isArray(input.lines)) throw new InvalidPolicyInputError('job credit needs an array of credit lines', {})
  for (const [i, l] of input.lines.entries()) {
    if (typeof l?.contributor !== 'string' || l.contributor === '') throw new InvalidPolicyInputError('a credit line needs a contributor', { line: i })
    if (typeof l.cycle !== 'string' || l.cycle === '') throw new InvalidPolicyInputError('a credit line needs a cycle', { line: i })
    if (typeof l.weight !== 'number' || !Number.isFinite(l.weight) || l.weight < 0) throw new InvalidPolicyInputError('a credit weight must be finite and >= 0', { line: i, weight: l.weight })
  }
  const positive = input.lines.filter(l => l.weight > 0)
  const own = input.cycle !== undefined ? positive.filter(l => l.cycle === input.cycle) : []
  const used = own.length > 0 ? own : positive
  const basis = used.length === 0 ? 'none' : own.length > 0 ? 'cycle' : 'credit-map'
  const sums = new Map<string, number>()
  for (const l of used) {
    const who = l.contributor.toLowerCase()
    sums.set(who, (sums.get(who) ?? 0) + l.weight)
  }
  return {
    weights: [...sums].sort((a, b) => compareStrings(a[0], b[0])).map(([contributor, weight]) => ({ contributor, weight })),
    basis,
    cycles: [...new Set(used.map(l => l.cycle))].sort(compareStrings)
  }
}
