// SPDX-License-Identifier: Apache-2.0
// What the settlement contracts read from each other: the registry's parameters and
// the bonded stake of a signer. Kept minimal so each contract's dependency is visible.
pragma solidity ^0.8.24;

interface IParameterRegistry {
    function treasury() external view returns (address);
    function rewardSplit() external view returns (uint16 worker, uint16 verifiers, uint16 contributors, uint16 treasury_);
    function auditRateBps() external view returns (uint16);
    function slashAmount(uint8 role) external view returns (uint256);
    function proverShareBps() external view returns (uint16);
    function epochLength() external view returns (uint64);
    function challengeWindow() external view returns (uint64);
    function unbondingDelay() external view returns (uint64);
    function maxEscrowDuration() external view returns (uint64);
    function aggregatorQuorum() external view returns (uint16);
    function verifierQuorum() external view returns (uint16);
    function minStake(uint8 role) external view returns (uint256);
    function proposalFee() external view returns (uint256);
    function challengeBond() external view returns (uint256);
}

interface IStaking {
    /// Bonded stake of `peer` for `role`, not counting stake that is unbonding.
    function stakeOf(address peer, uint8 role) external view returns (uint256);
}

interface IRewardFunding {
    /// Pulls `amount` OPEN from the caller (after approve) into the reward pool.
    function fund(uint256 amount) external;
}

/// The escrow's record of who a requester assigned to a job, as the Staking contract needs it.
interface IJobAssignments {
    /// Who the requester assigned to a job (`referee` zero: none); `spec` is the keccak of its announce.
    struct Assignment {
        address worker;
        address[] verifiers;
        address referee;
        bytes32 spec;
    }

    /// Reverts unless the job's requester signed `a`, `a` has a referee, `peer` holds `role`
    /// in it (the worker, or one of its verifiers), and `peer` signed its Participation in
    /// the job with `resultHash` (a worker's delivery, a verifier's verdict).
    function checkSlashable(
        bytes32 jobId,
        Assignment calldata a,
        bytes calldata assignmentSignature,
        address peer,
        uint8 role,
        bytes32 resultHash,
        bytes calldata participation
    ) external view;
}
