// SPDX-License-Identifier: Apache-2.0
// Every tunable number of settlement in one place, owned by the timelock after deploy so
// only a passed governance proposal changes them. Each setter checks bounds (a value
// outside them would break an invariant elsewhere, e.g. a zero quorum would accept an
// unsigned root) and emits one event with the old and new value for indexers.
//
// Two bounds tie parameters to each other or to a floor, because money depends on them:
// - unbondingDelay > maxEscrowDuration + challengeWindow. A worker or verifier may have
//   signed for a job that runs up to maxEscrowDuration, and a root it helped build can be
//   challenged for challengeWindow after; its stake must still be there to slash until
//   both are over, so it must not be able to unbond and withdraw sooner. Checked by each of
//   the three setters; to lengthen the escrow or the window, lengthen the delay first.
// - minStake(role) >= a floor per role (MIN_STAKE_FLOOR_*): a signer's stake is what a
//   Sybil quorum of signers costs, and 1 wei would make a quorum free.
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Roles} from "./Roles.sol";
import {IParameterRegistry} from "./Interfaces.sol";

contract ParameterRegistry is Ownable, IParameterRegistry {
    error ParameterOutOfRange(bytes32 name, uint256 value, uint256 min, uint256 max);
    error RewardSplitNotWhole(uint256 sum);
    error UnknownRole(uint8 role);
    error ZeroAddress();
    error UnbondingTooShort(uint64 unbondingDelay, uint64 maxEscrowDuration, uint64 challengeWindow);

    event TreasurySet(address oldTreasury, address newTreasury);
    event RewardSplitSet(uint16 worker, uint16 verifiers, uint16 contributors, uint16 treasury);
    event AuditRateSet(uint16 oldBps, uint16 newBps);
    event SlashAmountSet(uint8 indexed role, uint256 oldAmount, uint256 newAmount);
    event ProverShareSet(uint16 oldBps, uint16 newBps);
    event EpochLengthSet(uint64 oldSeconds, uint64 newSeconds);
    event ChallengeWindowSet(uint64 oldSeconds, uint64 newSeconds);
    event UnbondingDelaySet(uint64 oldSeconds, uint64 newSeconds);
    event MaxEscrowDurationSet(uint64 oldSeconds, uint64 newSeconds);
    event AggregatorQuorumSet(uint16 oldCount, uint16 newCount);
    event VerifierQuorumSet(uint16 oldCount, uint16 newCount);
    event MinStakeSet(uint8 indexed role, uint256 oldAmount, uint256 newAmount);
    event ProposalFeeSet(uint256 oldFee, uint256 newFee);
    event ChallengeBondSet(uint256 oldBond, uint256 newBond);

    uint16 internal constant BPS = 10_000;
    // Bounds: wide enough for any sane network, tight enough to keep the contracts safe.
    uint64 public constant MIN_PERIOD = 60;
    uint64 public constant MAX_PERIOD = 365 days;
    uint16 public constant MAX_QUORUM = 64; // bounds the signature loop's gas
    uint256 public constant MAX_AMOUNT = 1e9 * 1e18; // no more than a billion OPEN
    // What the devnet runs with: the least stake a network may ask of each role.
    uint256 public constant MIN_STAKE_FLOOR_WORKER = 100e18;
    uint256 public constant MIN_STAKE_FLOOR_VERIFIER = 200e18;
    uint256 public constant MIN_STAKE_FLOOR_AGGREGATOR = 500e18;
    // A root challenge costs at least this much: without a cost one account could cancel every root.
    uint256 public constant MIN_CHALLENGE_BOND = 1e18;

    address public treasury;
    uint16 internal _workerBps;
    uint16 internal _verifierBps;
    uint16 internal _contributorBps;
    uint16 internal _treasuryBps;
    uint16 public auditRateBps;
    uint16 public proverShareBps;
    uint16 public aggregatorQuorum;
    uint16 public verifierQuorum;
    uint64 public epochLength;
    uint64 public challengeWindow;
    uint64 public unbondingDelay;
    /// The longest an escrow may run (JobEscrow.open refuses a later deadline).
    uint64 public maxEscrowDuration;
    uint256 public proposalFee;
    uint256 public challengeBond;
    mapping(uint8 => uint256) internal _slashAmount;
    mapping(uint8 => uint256) internal _minStake;

    /// Placeholder defaults; the deployer sets a profile's values, then hands ownership to the timelock.
    /// The defaults go through the setters (and their bounds) as the deployer, then `owner_` owns.
    /// The unbonding delay comes first: the escrow and window setters check against it.
    constructor(address owner_, address treasury_) Ownable(msg.sender) {
        if (owner_ == address(0)) revert ZeroAddress();
        setTreasury(treasury_);
        setRewardSplit(5000, 2000, 2500, 500);
        setAuditRateBps(1000);
        setProverShareBps(5000);
        setEpochLength(1 days);
        setUnbondingDelay(7 days);
        setMaxEscrowDuration(3 days);
        setChallengeWindow(1 hours);
        setAggregatorQuorum(1);
        setVerifierQuorum(1);
        for (uint8 r = 0; r < Roles.COUNT; r++) {
            setMinStake(r, minStakeFloor(r));
            setSlashAmount(r, 50e18);
        }
        setProposalFee(10e18);
        setChallengeBond(100e18);
        if (owner_ != msg.sender) _transferOwnership(owner_);
    }

    function rewardSplit() external view returns (uint16 worker, uint16 verifiers, uint16 contributors, uint16 treasury_) {
        return (_workerBps, _verifierBps, _contributorBps, _treasuryBps);
    }

    function slashAmount(uint8 role) external view returns (uint256) {
        _checkRole(role);
        return _slashAmount[role];
    }

    function minStake(uint8 role) external view returns (uint256) {
        _checkRole(role);
        return _minStake[role];
    }

    function minStakeFloor(uint8 role) public pure returns (uint256) {
        _checkRole(role);
        if (role == Roles.WORKER) return MIN_STAKE_FLOOR_WORKER;
        if (role == Roles.VERIFIER) return MIN_STAKE_FLOOR_VERIFIER;
        return MIN_STAKE_FLOOR_AGGREGATOR;
    }

    function setTreasury(address newTreasury) public onlyOwner {
        if (newTreasury == address(0)) revert ZeroAddress();
        emit TreasurySet(treasury, newTreasury);
        treasury = newTreasury;
    }

    function setRewardSplit(uint16 worker, uint16 verifiers, uint16 contributors, uint16 treasury_) public onlyOwner {
        uint256 sum = uint256(worker) + verifiers + contributors + treasury_;
        if (sum != BPS) revert RewardSplitNotWhole(sum);
        (_workerBps, _verifierBps, _contributorBps, _treasuryBps) = (worker, verifiers, contributors, treasury_);
        emit RewardSplitSet(worker, verifiers, contributors, treasury_);
    }

    function setAuditRateBps(uint16 bps) public onlyOwner {
        _range("auditRateBps", bps, 0, BPS);
        emit AuditRateSet(auditRateBps, bps);
        auditRateBps = bps;
    }

    function setSlashAmount(uint8 role, uint256 amount) public onlyOwner {
        _checkRole(role);
        _range("slashAmount", amount, 1, MAX_AMOUNT);
        emit SlashAmountSet(role, _slashAmount[role], amount);
        _slashAmount[role] = amount;
    }

    function setProverShareBps(uint16 bps) public onlyOwner {
        _range("proverShareBps", bps, 0, BPS);
        emit ProverShareSet(proverShareBps, bps);
        proverShareBps = bps;
    }

    function setEpochLength(uint64 secs) public onlyOwner {
        _range("epochLength", secs, MIN_PERIOD, MAX_PERIOD);
        emit EpochLengthSet(epochLength, secs);
        epochLength = secs;
    }

    function setChallengeWindow(uint64 secs) public onlyOwner {
        _range("challengeWindow", secs, MIN_PERIOD, MAX_PERIOD);
        _checkUnbonding(unbondingDelay, maxEscrowDuration, secs);
        emit ChallengeWindowSet(challengeWindow, secs);
        challengeWindow = secs;
    }

    function setUnbondingDelay(uint64 secs) public onlyOwner {
        _range("unbondingDelay", secs, MIN_PERIOD, MAX_PERIOD);
        _checkUnbonding(secs, maxEscrowDuration, challengeWindow);
        emit UnbondingDelaySet(unbondingDelay, secs);
        unbondingDelay = secs;
    }

    function setMaxEscrowDuration(uint64 secs) public onlyOwner {
        _range("maxEscrowDuration", secs, MIN_PERIOD, MAX_PERIOD);
        _checkUnbonding(unbondingDelay, secs, challengeWindow);
        emit MaxEscrowDurationSet(maxEscrowDuration, secs);
        maxEscrowDuration = secs;
    }

    function setAggregatorQuorum(uint16 count) public onlyOwner {
        _range("aggregatorQuorum", count, 1, MAX_QUORUM);
        emit AggregatorQuorumSet(aggregatorQuorum, count);
        aggregatorQuorum = count;
    }

    function setVerifierQuorum(uint16 count) public onlyOwner {
        _range("verifierQuorum", count, 1, MAX_QUORUM);
        emit VerifierQuorumSet(verifierQuorum, count);
        verifierQuorum = count;
    }

    /// At least the role's floor: a zero (or dust) minimum would let any address count as a staked signer.
    function setMinStake(uint8 role, uint256 amount) public onlyOwner {
        _range("minStake", amount, minStakeFloor(role), MAX_AMOUNT);
        emit MinStakeSet(role, _minStake[role], amount);
        _minStake[role] = amount;
    }

    function setProposalFee(uint256 fee) public onlyOwner {
        _range("proposalFee", fee, 0, MAX_AMOUNT);
        emit ProposalFeeSet(proposalFee, fee);
        proposalFee = fee;
    }

    /// What a root challenge puts at stake (RewardDistributor.challengeRoot): back to the
    /// challenger when the epoch ends on another root, to the treasury when the challenged one stands.
    function setChallengeBond(uint256 bond) public onlyOwner {
        _range("challengeBond", bond, MIN_CHALLENGE_BOND, MAX_AMOUNT);
        emit ChallengeBondSet(challengeBond, bond);
        challengeBond = bond;
    }

    function _checkRole(uint8 role) internal pure {
        if (role >= Roles.COUNT) revert UnknownRole(role);
    }

    /// A staker must not be able to leave before the longest escrow it signed for, and then a root's challenge window, are over.
    function _checkUnbonding(uint64 unbonding, uint64 escrow, uint64 window) internal pure {
        if (uint256(unbonding) <= uint256(escrow) + window) revert UnbondingTooShort(unbonding, escrow, window);
    }

    function _range(bytes32 name, uint256 value, uint256 min, uint256 max) internal pure {
        if (value < min || value > max) revert ParameterOutOfRange(name, value, min, max);
    }
}
