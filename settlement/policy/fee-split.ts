// Fee split: a paid, verified job's fee -> what the worker, the verifiers that signed,
// the datanet's contributors and the treasury each earn, in wei. Pure, so the epoch
// builder and the simulator pay the same; settlement/policy/README.md gives the rules.
//
//   1 the fee is cut into four parts by basis points (the ParameterRegistry's numbers),
//     largest remainder, so the parts add up to exactly the fee
//   2 the verifiers' part is split equally among the verifiers that signed
//   3 the contributors' part is split by attribution weight (splitPool)
//   4 a part nobody can take (no verifier signed, no positive weight) goes to the treasury
//
// Every unit of the fee lands somewhere: the outputs sum to exactly the fee.
import { InvalidPolicyInputError } from './errors.ts'
import { apportion, compareStrings, splitPool, type PoolWeight } from './split-pool.ts'

export const BASIS_POINTS = 10_000

/** Shares of a fee in basis points: non-negative integers that sum to 10,000. */
export interface FeeSplitPolicy {
  worker: number
  verifiers: number
  contributors: number
  treasury: number
}

/**
 * The defaults the ParameterRegistry is deployed with; the registry's current values,
 * not these, are what the network pays by.
 */
export const DEFAULT_FEE_SPLIT: Readonly<FeeSplitPolicy> = Object.freeze({
  worker: 5000,
  verifiers: 2000,
  contributors: 2500,
  treasury: 500
})

export interface FeeSplitInput {
  /** What the job paid from escrow, in wei; >= 0. */
  fee: bigint
  /** Address of the worker that ran the job. */
  worker: string
  /** Addresses of the verifiers that signed the result; each once. */
  verifiers: readonly string[]
  /** Attribution weights of the datanet's contributors (finite, >= 0); absent or all zero = none. */
  contributorWeights?: readonly PoolWeight[]
}

export interface Payout {
  account: string
  amount: bigint
}

export interface FeeSplit {
  /** The four parts by basis points (rule 1); they sum to the fee. */
  parts: { worker: bigint, verifiers: bigint, contributors: bigint, treasury: bigint }
  worker: Payout
  /** One per verifier, by address. */
  verifiers: Payout[]
  /** One per weighted contributor, by address (zero weights get 0n). */
  contributors: Payout[]
  /** The treasury's part plus any part nobody could take (rule 4). */
  treasury: bigint
  /** What went to the treasury by rule 4, per role. */
  redirected: { verifiers: bigint, contributors: bigint }
  /** Each address's total over its roles (worker, verifier, contributor), by address, zeros left out. The treasury is not in it. */
  payouts: Payout[]
}

function checkPolicy (policy: FeeSplitPolicy): void {
  if (policy == null || typeof policy !== 'object') throw new InvalidPolicyInputError('fee split policy must be an object', {})
  let sum = 0
  for (const key of ['worker', 'verifiers', 'contributors', 'treasury'] as const) {
    const bp = policy[key]
    if (typeof bp !== 'number' || !Number.isInteger(bp) || bp < 0 || bp > BASIS_POINTS) {
      throw new InvalidPolicyInputError('basis points must be integers in [0, 10000]', { field: key, value: bp })
    }
    sum += bp
  }
  if (sum !== BASIS_POINTS) throw new InvalidPolicyInputError('basis points must sum to 10000', { sum })
}

function checkAddress (value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw new InvalidPolicyInputError('address must be a non-empty string', { field, value })
  return value
}

/**
 * Splits one job's fee. Throws InvalidPolicyInputError on a negative or non-bigint fee,
 * basis points that are not integers summing to 10,000, an empty address, a verifier or
 * contributor listed twice, a bad weight, or one address spelled two ways (cases differ).
 */
export function splitFee (input: FeeSplitInput, policy: FeeSplitPolicy = DEFAULT_FEE_SPLIT): FeeSplit {
  checkPolicy(policy)
  if (input == null || typeof input !== 'object') throw new InvalidPolicyInputError('fee split input must be an object', {})
  const { fee } = input
  if (typeof fee !== 'bigint' || fee < 0n) throw new InvalidPolicyInputError('fee must be a bigint >= 0', { fee: String(fee) })
  const worker = checkAddress(input.worker, 'worker')
  if (!Array.isArray(input.verifiers)) throw new InvalidPolicyInputError('verifiers must be an array', {})
  const verifiers = input.verifiers.map((v, i) => checkAddress(v, `verifiers[${i}]`))
  const weights = input.contributorWeights ?? []
  if (!Array.isArray(weights)) throw new InvalidPolicyInputError('contributorWeights must be an array', {})

  // One spelling per account: the same address in two cases would be paid as two.
  const spelling = new Map<string, string>()
  const all = [worker, ...verifiers, ...weights.map((w, i) => checkAddress(w?.contributor, `contributorWeights[${i}]`))]
  for (const a of all) {
    const prev = spelling.get(a.toLowerCase())
    if (prev !== undefined && prev !== a) throw new InvalidPolicyInputError('one address spelled two ways', { a: prev, b: a })
    spelling.set(a.toLowerCase(), a)
  }

  // Rule 1; ties of remainder go to the earlier part in this order.
  const [w, v, c, t] = apportion(fee, [policy.worker, policy.verifiers, policy.contributors, policy.treasury])

  // Rule 2: equal weights, so the odd units go to the lowest addresses.
  let redirectedVerifiers = 0n
  let verifierPayouts: Payout[] = []
  if (verifiers.length === 0) redirectedVerifiers = v
  else verifierPayouts = splitPool(v, verifiers.map(contributor => ({ contributor, weight: 1 }))).map(s => ({ account: s.contributor, amount: s.amount }))

  // Rules 3 and 4.
  let redirectedContributors = 0n
  let contributorPayouts: Payout[] = []
  if (weights.some(x => typeof x?.weight === 'number' && x.weight > 0)) {
    contributorPayouts = splitPool(c, weights).map(s => ({ account: s.contributor, amount: s.amount }))
  } else {
    splitPool(0n, weights) // still refuse malformed weights
    redirectedContributors = c
  }

  const totals = new Map<string, bigint>()
  const add = (p: Payout): void => { totals.set(p.account, (totals.get(p.account) ?? 0n) + p.amount) }
  add({ account: worker, amount: w })
  verifierPayouts.forEach(add)
  contributorPayouts.forEach(add)
  const payouts = [...totals].filter(([, amount]) => amount > 0n)
    .sort((a, b) => compareStrings(a[0], b[0]))
    .map(([account, amount]) => ({ account, amount }))

  return {
    parts: { worker: w, verifiers: v, contributors: c, treasury: t },
    worker: { account: worker, amount: w },
    verifiers: verifierPayouts,
    contributors: contributorPayouts,
    treasury: t + redirectedVerifiers + redirectedContributors,
    redirected: { verifiers: redirectedVerifiers, contributors: redirectedContributors },
    payouts
  }
}
