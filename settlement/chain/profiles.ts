// What a deployment sets in the parameter registry and the governor, by profile: the
// devnet's (one aggregator, one verifier, minutes-long periods so a test warps through
// them) or a real L2's (quorums of several, days-long periods, stakes that make a Sybil
// quorum expensive). Nothing picks one silently: deploy() is told which. The bounds
// below mirror ParameterRegistry.sol, so a bad combination is refused before the first
// contract is deployed instead of halfway through (test/settlement-chain.test.ts checks
// they equal the contract's).

const E18 = 10n ** 18n
const DAY = 86_400

export type DeployProfile = 'devnet' | 'l2'
export const DEPLOY_PROFILES: readonly DeployProfile[] = ['devnet', 'l2']

export type StakeRoleName = 'worker' | 'verifier' | 'aggregator'

/** Registry values a deploy sets; each one goes through the registry's bounded setter. */
export interface RegistryParams {
  rewardSplit: { worker: number, verifiers: number, contributors: number, treasury: number }
  auditRateBps: number
  slashAmount: Record<StakeRoleName, bigint>
  proverShareBps: number
  epochLength: number
  challengeWindow: number
  /** The longest an escrow may run: JobEscrow.open refuses a later deadline. */
  maxEscrowDuration: number
  /** Must exceed maxEscrowDuration + challengeWindow (the registry enforces it). */
  unbondingDelay: number
  aggregatorQuorum: number
  verifierQuorum: number
  minStake: Record<StakeRoleName, bigint>
  proposalFee: bigint
  /** OPEN a root challenge puts up: back to the challenger if the epoch ends on another root, else to the treasury. */
  challengeBond: bigint
}

export interface GovernanceParams {
  /** Seconds from proposing until voting starts. */
  votingDelay: number
  /** Seconds voting lasts. */
  votingPeriod: number
  /** Timelock delay in seconds between queue and execute. */
  timelockDelay: number
  /** gOPEN votes needed to propose (wei). */
  proposalThreshold: bigint
  /** Percent of the gOPEN supply that must vote for quorum. */
  quorumPercent: number
}

/** Short periods so a devnet (or a test warping anvil's clock) gets through an epoch quickly; stakes at the registry's floors. */
export const DEVNET_PARAMS: RegistryParams = {
  rewardSplit: { worker: 5000, verifiers: 2000, contributors: 2500, treasury: 500 },
  auditRateBps: 1000,
  slashAmount: { worker: 50n * E18, verifier: 100n * E18, aggregator: 200n * E18 },
  proverShareBps: 5000,
  epochLength: 600,
  challengeWindow: 300,
  // The market escrows for an hour at least, more for long jobs.
  maxEscrowDuration: DAY,
  // Anvil's clock is warped past it; room left for tests that lengthen the window.
  unbondingDelay: 2 * DAY,
  aggregatorQuorum: 1,
  verifierQuorum: 1,
  minStake: { worker: 100n * E18, verifier: 200n * E18, aggregator: 500n * E18 },
  proposalFee: 10n * E18,
  challengeBond: 10n * E18
}

export const DEVNET_GOVERNANCE: GovernanceParams = {
  votingDelay: 60,
  votingPeriod: 600,
  timelockDelay: 300,
  proposalThreshold: 0n,
  quorumPercent: 4
}

/**
 * A public network's: no single aggregator posts a root and no single verifier releases
 * an escrow or slashes; a day to notice and challenge a bad root; escrows of up to three
 * days; stake locked a week after unbonding (three days' margin over escrow + window for
 * a referee's ruling and the slash transaction to land); minimum stakes ten times the
 * registry's floors, a proven fault costing half of one.
 */
export const L2_PARAMS: RegistryParams = {
  rewardSplit: { worker: 5000, verifiers: 2000, contributors: 2500, treasury: 500 },
  auditRateBps: 1000,
  slashAmount: { worker: 500n * E18, verifier: 1_000n * E18, aggregator: 2_500n * E18 },
  proverShareBps: 5000,
  epochLength: DAY,
  challengeWindow: DAY,
  maxEscrowDuration: 3 * DAY,
  unbondingDelay: 7 * DAY,
  aggregatorQuorum: 3,
  verifierQuorum: 2,
  minStake: { worker: 1_000n * E18, verifier: 2_000n * E18, aggregator: 5_000n * E18 },
  proposalFee: 100n * E18,
  // Enough that cancelling roots to delay everyone's pay costs real money each time.
  challengeBond: 1_000n * E18
}

/** Days, not minutes: holders get a day to notice a proposal, five to vote, two to leave before it executes. */
export const L2_GOVERNANCE: GovernanceParams = {
  votingDelay: DAY,
  votingPeriod: 5 * DAY,
  timelockDelay: 2 * DAY,
  // The proposal fee keeps spam out; a threshold would also keep small holders out.
  proposalThreshold: 0n,
  quorumPercent: 4
}

export const PROFILES: Readonly<Record<DeployProfile, { params: RegistryParams, governance: GovernanceParams }>> = {
  devnet: { params: DEVNET_PARAMS, governance: DEVNET_GOVERNANCE },
  l2: { params: L2_PARAMS, governance: L2_GOVERNANCE }
}

/** ParameterRegistry.sol's bounds. */
export const REGISTRY_BOUNDS = {
  minPeriod: 60,
  maxPeriod: 365 * DAY,
  maxQuorum: 64,
  maxAmount: 1_000_000_000n * E18,
  minChallengeBond: 1n * E18,
  minStakeFloor: { worker: 100n * E18, verifier: 200n * E18, aggregator: 500n * E18 } as Record<StakeRoleName, bigint>
} as const

/** Every way `p` breaks the registry's bounds, as sentences; empty when the registry would take it. */
export function registryParamProblems (p: RegistryParams): string[] {
  const out: string[] = []
  const b = REGISTRY_BOUNDS
  const inRange = (name: string, v: number | bigint, min: number | bigint, max: number | bigint): void => {
    const whole = typeof v === 'bigint' || Number.isSafeInteger(v)
    if (typeof v !== typeof min || !whole || v < min || v > max) out.push(`${name} ${String(v)} is outside ${String(min)}..${String(max)}`)
  }
  const s = p.rewardSplit
  const sum = s.worker + s.verifiers + s.contributors + s.treasury
  if (sum !== 10_000) out.push(`rewardSplit sums to ${sum} basis points, not 10000`)
  inRange('auditRateBps', p.auditRateBps, 0, 10_000)
  inRange('proverShareBps', p.proverShareBps, 0, 10_000)
  for (const name of ['epochLength', 'challengeWindow', 'maxEscrowDuration', 'unbondingDelay'] as const) inRange(name, p[name], b.minPeriod, b.maxPeriod)
  if (!(p.unbondingDelay > p.maxEscrowDuration + p.challengeWindow)) {
    out.push(`unbondingDelay ${p.unbondingDelay} must exceed maxEscrowDuration + challengeWindow (${p.maxEscrowDuration} + ${p.challengeWindow}): a staker could leave before its last job's slash lands`)
  }
  inRange('aggregatorQuorum', p.aggregatorQuorum, 1, b.maxQuorum)
  inRange('verifierQuorum', p.verifierQuorum, 1, b.maxQuorum)
  for (const role of ['worker', 'verifier', 'aggregator'] as const) {
    inRange(`minStake.${role}`, p.minStake[role], b.minStakeFloor[role], b.maxAmount)
    inRange(`slashAmount.${role}`, p.slashAmount[role], 1n, b.maxAmount)
  }
  inRange('proposalFee', p.proposalFee, 0n, b.maxAmount)
  inRange('challengeBond', p.challengeBond, b.minChallengeBond, b.maxAmount)
  return out
}
