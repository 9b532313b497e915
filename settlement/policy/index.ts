// The money-deciding policies, one import for the epoch builder and the simulator alike:
// pure functions over plain data, each documented rule by rule in ./README.md.
export { PolicyError, InvalidPolicyInputError } from './errors.ts'
export { splitPool, apportion, compareStrings, type PoolWeight, type PoolShare } from './split-pool.ts'
export {
  attributionRewards, DEFAULT_ATTRIBUTION_POLICY, WEIGHT_UNITS,
  type AttributionContribution, type AttributionPolicy, type AttributionRewards,
  type AttributionFlag, type ContributionReward, type ContributorReward
} from './attribution-rewards.ts'
export {
  attributionCredits,
  type CreditExample, type CreditFile, type CreditInput, type FileCredit, type AttributionCredits
} from './attribution-credits.ts'
export { fitGate, DEFAULT_FIT_GATE, FIT_GATES, type FitInput, type FitGatePolicy, type FitGateResult } from './fit-gate.ts'
export { jobCredit, type CreditLine, type JobCreditInput, type JobCredit } from './job-credit.ts'
export {
  splitFee, DEFAULT_FEE_SPLIT, BASIS_POINTS,
  type FeeSplitPolicy, type FeeSplitInput, type FeeSplit, type Payout
} from './fee-split.ts'
export {
  auditProbability, forcedErrorRate, expectedCheatProfit, DEFAULT_DETERRENCE,
  type DeterrenceInput, type DeterrencePolicy, type DeterrenceRate
} from './audit.ts'
export {
  reputation, DEFAULT_REPUTATION_POLICY, DAY_MS,
  type Outcome, type OutcomeKind, type ReputationPolicy, type Reputation
} from './reputation.ts'
export {
  assignJob, assignmentTiebreak, DEFAULT_ASSIGNMENT_POLICY, PART_UNITS,
  type Bid, type BidRole, type BidDevice, type DeviceNeeds, type AssignmentJob, type AssignmentPolicy, type ScoreWeights, type AssignmentRole,
  type RejectionReason, type RoleScore, type BidAssessment, type Assignment
} from './assignment.ts'
export {
  slashFor, STAKE_ROLE_IDS, FAULTS,
  type StakeRole, type Fault, type SlashInput, type Slash
} from './slashing.ts'
export {
  jobVerdict, classifyFault,
  type CheckFindings, type VerdictInput, type VerifierVerdict, type RefereeFinding, type VerdictSlash, type JobVerdict, type WorkerFault
} from './verdict.ts'
export {
  releaseDecision,
  type ReleaseInput, type ReleaseVerdict, type ReleaseDecision, type ReleaseWait
} from './release.ts'
