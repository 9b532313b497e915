// Slashing: what a proven fault costs the peer and who gets it, computed exactly as
// Staking.slash will do it on chain, so the peer that submits the evidence, the epoch
// builder and the simulator all know the outcome beforehand. Every fault here is proven
// with signed evidence and cannot happen to an honest peer (results are compared within
// the measured tolerance; crashes are timeouts, which cost reputation, not stake), so
// each takes the registry's full slash amount for the role: deterrence (audit.ts) counts
// on that whole amount being at risk. settlement/policy/README.md gives the rules.
import { InvalidPolicyInputError } from './errors.ts'

/** Stake roles, as in settlement/contracts/Roles.sol. */
export type StakeRole = 'worker' | 'verifier' | 'aggregator'

/** The uint8 Roles.sol gives each role: what Staking.slash and registry.slashAmount take. */
export const STAKE_ROLE_IDS: Readonly<Record<StakeRole, number>> = Object.freeze({ worker: 0, verifier: 1, aggregator: 2 })

export type Fault = 'wrong-result' | 'skipped-steps' | 'stale-result' | 'copied-result' | 'lazy-approval' | 'false-accusation'

/** Each fault, the role it is a fault of, and what proves it. */
export const FAULTS: Readonly<Record<Fault, Readonly<{ role: StakeRole, proof: string }>>> = Object.freeze({
  'wrong-result': Object.freeze({ role: 'worker', proof: 'a referee recomputed the disputed step and it differs beyond tolerance' }),
  'skipped-steps': Object.freeze({ role: 'worker', proof: 'a replayed segment of the receipt\'s hash chain does not reproduce its checkpoint' }),
  'stale-result': Object.freeze({ role: 'worker', proof: 'the result is an earlier checkpoint or the unchanged base model, not the job\'s output' }),
  'copied-result': Object.freeze({ role: 'worker', proof: 'the result or its receipt equals another worker\'s, which was signed first' }),
  'lazy-approval': Object.freeze({ role: 'verifier', proof: 'the verifier signed approval of a forced-error job with a known, planted fault' }),
  'false-accusation': Object.freeze({ role: 'verifier', proof: 'the verifier signed a state hash that a referee\'s recomputation of the one disputed step refutes, where the worker\'s hash is confirmed' })
})

export interface SlashInput {
  /** What was proven; absent = a proven fault of `role` not in the list (e.g. an aggregator's). */
  fault?: Fault
  role: StakeRole
  /** The peer's stake in that role, bonded plus unbonding (Staking takes from both), in wei; >= 0. */
  stake: bigint
  /** registry.slashAmount(role), in wei; >= 0. */
  registrySlashAmount: bigint
  /** registry.proverShareBps: the prover's part of what is taken; integer in [0, 10000]. */
  proverShareBps: number
  /** False when the slash names no prover (address 0): then everything goes to the treasury. Default true. */
  hasProver?: boolean
}

export interface Slash {
  fault: Fault | null
  role: StakeRole
  /** STAKE_ROLE_IDS[role]. */
  roleId: number
  /** The amount to submit to Staking.slash: the registry's slash amount. */
  amount: bigint
  /** What will be taken: min(stake, amount). */
  slashed: bigint
  /** floor(slashed x proverShareBps / 10000), 0 without a prover. */
  toProver: bigint
  /** slashed - toProver. */
  toTreasury: bigint
  /** Whether submitting makes sense: Staking.slash reverts when nothing would be taken. */
  submit: boolean
}

function checkWei (value: unknown, field: string): bigint {
  if (typeof value !== 'bigint' || value < 0n) throw new InvalidPolicyInputError(`${field} must be a bigint >= 0 (wei)`, { field, value: String(value) })
  return value
}

/**
 * The cost of one proven fault. Throws InvalidPolicyInputError on an unknown role or
 * fault, a fault of another role (a verifier cannot be slashed for a worker's fault),
 * negative or non-bigint amounts, or basis points outside [0, 10000].
 */
export function slashFor (input: SlashInput): Slash {
  if (input == null || typeof input !== 'object') throw new InvalidPolicyInputError('slash input must be an object', {})
  const { role, fault } = input
  if (typeof role !== 'string' || !Object.hasOwn(STAKE_ROLE_IDS, role)) throw new InvalidPolicyInputError('role must be worker, verifier or aggregator', { role })
  if (fault !== undefined) {
    if (typeof fault !== 'string' || !Object.hasOwn(FAULTS, fault)) throw new InvalidPolicyInputError('unknown fault', { fault })
    if (FAULTS[fault].role !== role) throw new InvalidPolicyInputError('fault is not one of this role', { fault, role, faultRole: FAULTS[fault].role })
  }
  const stake = checkWei(input.stake, 'stake')
  const amount = checkWei(input.registrySlashAmount, 'registrySlashAmount')
  const bps = input.proverShareBps
  if (typeof bps !== 'number' || !Number.isInteger(bps) || bps < 0 || bps > 10_000) throw new InvalidPolicyInputError('proverShareBps must be an integer in [0, 10000]', { proverShareBps: bps })
  const hasProver = input.hasProver ?? true
  if (typeof hasProver !== 'boolean') throw new InvalidPolicyInputError('hasProver must be a boolean', { hasProver })

  // As Staking.slash: take what there is up to the amount; the prover's part rounds down.
  const slashed = stake < amount ? stake : amount
  const toProver = hasProver ? (slashed * BigInt(bps)) / 10_000n : 0n
  return {
    fault: fault ?? null,
    role,
    roleId: STAKE_ROLE_IDS[role],
    amount,
    slashed,
    toProver,
    toTreasury: slashed - toProver,
    submit: slashed > 0n
  }
}
