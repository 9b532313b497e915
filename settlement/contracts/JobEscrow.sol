// SPDX-License-Identifier: Apache-2.0
// Holds a requester's OPEN for one job until a quorum of staked verifiers signs
// (EIP-712) that the worker's result is correct; the money then goes to the
// RewardDistributor (through its fund()), whose epoch roots split it off-chain among
// worker, verifiers and contributors. Unreleased jobs refund the requester after the
// deadline. The token is a constructor argument so tests can run it over a hostile
// token: every entry point is nonReentrant and changes state before it moves tokens.
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IParameterRegistry, IRewardFunding, IStaking} from "./Interfaces.sol";
import {QuorumSigned} from "./QuorumSigned.sol";
import {Roles} from "./Roles.sol";

contract JobEscrow is EIP712, QuorumSigned, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    error ZeroAmount();
    error ZeroAddress();
    error JobExists(bytes32 jobId);
    error DeadlinePassed(uint64 deadline, uint256 now_);
    error JobNotOpen(bytes32 jobId, uint8 status);
    error JobExpired(bytes32 jobId, uint64 deadline);
    error JobNotExpired(bytes32 jobId, uint64 deadline);

    event JobOpened(bytes32 indexed jobId, address indexed requester, uint256 amount, uint64 deadline);
    /// `verifiers`: who signed the completion, so the epoch builder can pay them their share.
    event JobReleased(bytes32 indexed jobId, address indexed worker, bytes32 resultHash, uint256 amount, address[] verifiers);
    event JobRefunded(bytes32 indexed jobId, address indexed requester, uint256 amount);

    uint8 public constant NONE = 0;
    uint8 public constant OPEN = 1;
    uint8 public constant RELEASED = 2;
    uint8 public constant REFUNDED = 3;

    bytes32 public constant COMPLETION_TYPEHASH = keccak256("Completion(bytes32 jobId,address worker,bytes32 resultHash)");

    struct Job {
        address requester;
        uint64 deadline;
        uint8 status;
        uint128 amount;
    }

    IERC20 public immutable token;
    IStaking public immutable staking;
    IParameterRegistry public immutable registry;
    address public immutable distributor;
    mapping(bytes32 => Job) internal _jobs;

    constructor(IERC20 token_, IStaking staking_, IParameterRegistry registry_, address distributor_)
        EIP712("openledger JobEscrow", "1")
    {
        if (distributor_ == address(0)) revert ZeroAddress();
        token = token_;
        staking = staking_;
        registry = registry_;
        distributor = distributor_;
    }

    function jobOf(bytes32 jobId) external view returns (address requester, uint256 amount, uint64 deadline, uint8 status) {
        Job storage j = _jobs[jobId];
        return (j.requester, j.amount, j.deadline, j.status);
    }

    function completionDigest(bytes32 jobId, address worker, bytes32 resultHash) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(COMPLETION_TYPEHASH, jobId, worker, resultHash)));
    }

    /// Pulls `amount` from the caller (after approve) into escrow for `jobId` until `deadline`.
    function open(bytes32 jobId, uint256 amount, uint64 deadline) public nonReentrant {
        _open(jobId, amount, deadline);
    }

    /// open() with an EIP-2612 permit instead of a prior approve. A failing permit is
    /// ignored (someone may have front-run it with the same signature); the transfer decides.
    function openWithPermit(
        bytes32 jobId,
        uint256 amount,
        uint64 deadline,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant {
        try IERC20Permit(address(token)).permit(msg.sender, address(this), amount, permitDeadline, v, r, s) {} catch {}
        _open(jobId, amount, deadline);
    }

    function _open(bytes32 jobId, uint256 amount, uint64 deadline) internal {
        if (amount == 0) revert ZeroAmount();
        if (deadline <= block.timestamp) revert DeadlinePassed(deadline, block.timestamp);
        Job storage j = _jobs[jobId];
        if (j.status != NONE) revert JobExists(jobId);
        j.requester = msg.sender;
        j.deadline = deadline;
        j.status = OPEN;
        j.amount = SafeCast.toUint128(amount);
        emit JobOpened(jobId, msg.sender, amount, deadline);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// Pays the job's OPEN to the distributor once a verifier quorum signed the
    /// completion; anyone may submit the signatures. Only until the deadline.
    function release(bytes32 jobId, address worker, bytes32 resultHash, bytes calldata signatures) external nonReentrant {
        Job storage j = _jobs[jobId];
        if (j.status != OPEN) revert JobNotOpen(jobId, j.status);
        if (block.timestamp > j.deadline) revert JobExpired(jobId, j.deadline);
        if (worker == address(0)) revert ZeroAddress();
        address[] memory verifiers = _checkQuorum(
            completionDigest(jobId, worker, resultHash),
            signatures,
            staking,
            Roles.VERIFIER,
            registry.minStake(Roles.VERIFIER),
            registry.verifierQuorum()
        );
        j.status = RELEASED;
        uint256 amount = j.amount;
        emit JobReleased(jobId, worker, resultHash, amount, verifiers);
        // Through fund(), so the distributor counts it as backing for reward roots.
        token.forceApprove(distributor, amount);
        IRewardFunding(distributor).fund(amount);
    }

    /// Returns an unreleased job's OPEN to its requester after the deadline; anyone may call.
    function refund(bytes32 jobId) external nonReentrant {
        Job storage j = _jobs[jobId];
        if (j.status != OPEN) revert JobNotOpen(jobId, j.status);
        if (block.timestamp <= j.deadline) revert JobNotExpired(jobId, j.deadline);
        j.status = REFUNDED;
        uint256 amount = j.amount;
        address requester = j.requester;
        emit JobRefunded(jobId, requester, amount);
        token.safeTransfer(requester, amount);
    }
}
