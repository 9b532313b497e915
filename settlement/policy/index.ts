// The money-deciding policies, one import for the epoch builder and the simulator alike:
// pure functions over plain data, each documented rule by rule in ./README.md.
export { PolicyError, InvalidPolicyInputError } from './errors.ts'
export { splitPool, apportion, compareStrings, type PoolWeight, type PoolShare } from './split-pool.ts'
export {
  attributionRewards, DEFAULT_ATTRIBUTION_POLICY, WEIGHT_UNITS,
  type AttributionContribution, type AttributionPolicy, type AttributionRewards,
  type AttributionFlag, type ContributionReward, type ContributorReward
} from './attribution-rewards.ts'
export { fitGate, DEFAULT_FIT_GATE, FIT_GATES, type FitInput, type FitGatePolicy, type FitGateResult } from './fit-gate.ts'
export {
  splitFee, DEFAULT_FEE_SPLIT, BASIS_POINTS,
  type FeeSplitPolicy, type FeeSplitInput, type FeeSplit, type Payout
} from './fee-split.ts'
