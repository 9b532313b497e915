// SPDX-License-Identifier: Apache-2.0
// Holds a requester's OPEN for one job until a quorum of its assigned verifiers signs
// (EIP-712) that the assigned worker's result is correct; the money then goes to the
// RewardDistributor (through its fund()), whose epoch roots split it off-chain among
// worker, verifiers and contributors. Unreleased jobs refund the requester after the
// deadline. The token is a constructor argument so tests can run it over a hostile
// token: every entry point is nonReentrant and changes state before it moves tokens.
//
// Who may be paid: release() takes the job's Assignment (worker, verifiers, referee, the
// keccak of the job's spec) signed (EIP-712) by the job's requester, so only the worker
// the requester assigned is paid, only its assigned verifiers (or its referee, ruling on
// a dispute) count toward the quorum, and the worker never signs its own completion. A
// staked stranger's signatures release nothing. The assignment travels as a signature,
// not a transaction: it costs the requester no gas, and any assignment it signed (a
// silent worker replaced by the next bid) stays payable, so replacing one cannot be
// used to block paying the other. JobReleased carries the spec hash: every aggregator
// learns which announce (kind, datanet, adapter) the fee paid for.
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IJobAssignments, IParameterRegistry, IRewardFunding, IStaking} from "./Interfaces.sol";
import {QuorumSigned} from "./QuorumSigned.sol";
import {Roles} from "./Roles.sol";

contract JobEscrow is IJobAssignments, EIP712, QuorumSigned, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    error ZeroAmount();
    error ZeroAddress();
    error JobExists(bytes32 jobId);
    error DeadlinePassed(uint64 deadline, uint256 now_);
    error DeadlineTooFar(uint64 deadline, uint256 latest);
    error JobNotOpen(bytes32 jobId, uint8 status);
    error JobExpired(bytes32 jobId, uint64 deadline);
    error JobNotExpired(bytes32 jobId, uint64 deadline);
    error AssignmentNotByRequester(bytes32 jobId, address signer);
    error AssignmentMalformed(bytes32 jobId);
    error SignerNotAssigned(bytes32 jobId, address signer);
    error WorkerSignedOwnCompletion(bytes32 jobId, address worker);
    error NoReferee(bytes32 jobId);
    error NotAssignedToJob(bytes32 jobId, address peer, uint8 role);
    error NoParticipation(bytes32 jobId, address peer);

    event JobOpened(bytes32 indexed jobId, address indexed requester, uint256 amount, uint64 deadline);
    /// `verifiers`: who signed the completion, so the epoch builder can pay them their share;
    /// `spec`: keccak of the job's announce, as the requester's assignment names it.
    event JobReleased(bytes32 indexed jobId, address indexed worker, bytes32 resultHash, uint256 amount, address[] verifiers, bytes32 spec);
    event JobRefunded(bytes32 indexed jobId, address indexed requester, uint256 amount);

    uint8 public constant NONE = 0;
    uint8 public constant OPEN = 1;
    uint8 public constant RELEASED = 2;
    uint8 public constant REFUNDED = 3;

    bytes32 public constant COMPLETION_TYPEHASH = keccak256("Completion(bytes32 jobId,address worker,bytes32 resultHash)");
    bytes32 public constant ASSIGNMENT_TYPEHASH =
        keccak256("Assignment(bytes32 jobId,address worker,address[] verifiers,address referee,bytes32 spec)");
    /// Verifiers one assignment may name (the market's message allows 16).
    uint256 public constant MAX_VERIFIERS = 16;

    bytes32 public constant PARTICIPATION_TYPEHASH = keccak256("Participation(bytes32 jobId,bytes32 resultHash)");

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

    function assignmentDigest(bytes32 jobId, Assignment calldata a) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(ASSIGNMENT_TYPEHASH, jobId, a.worker, keccak256(abi.encodePacked(a.verifiers)), a.referee, a.spec))
        );
    }

    function participationDigest(bytes32 jobId, bytes32 resultHash) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(PARTICIPATION_TYPEHASH, jobId, resultHash)));
    }

    /// See IJobAssignments. What a slash must show: the requester's assignment names the peer
    /// in that role, a referee exists to have ruled, and the peer itself signed that it took
    /// part with this result. A stranger's job, or an assignment the peer never saw, slashes nobody.
    function checkSlashable(
        bytes32 jobId,
        Assignment calldata a,
        bytes calldata assignmentSignature,
        address peer,
        uint8 role,
        bytes32 resultHash,
        bytes calldata participation
    ) external view {
        Job storage j = _jobs[jobId];
        if (j.status == NONE) revert JobNotOpen(jobId, NONE);
        _checkAssignment(jobId, a, assignmentSignature, j.requester);
        if (a.referee == address(0)) revert NoReferee(jobId);
        bool assigned = role == Roles.WORKER ? peer == a.worker : role == Roles.VERIFIER && _inVerifiers(a, peer);
        if (!assigned) revert NotAssignedToJob(jobId, peer, role);
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(participationDigest(jobId, resultHash), participation);
        if (err != ECDSA.RecoverError.NoError || signer != peer) revert NoParticipation(jobId, peer);
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
        // No longer than the registry's bound, which the unbonding delay outlasts: whoever
        // signs for this job is still slashable until it is over.
        uint256 latest = block.timestamp + registry.maxEscrowDuration();
        if (deadline > latest) revert DeadlineTooFar(deadline, latest);
        Job storage j = _jobs[jobId];
        if (j.status != NONE) revert JobExists(jobId);
        j.requester = msg.sender;
        j.deadline = deadline;
        j.status = OPEN;
        j.amount = SafeCast.toUint128(amount);
        emit JobOpened(jobId, msg.sender, amount, deadline);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// Pays the job's OPEN to the distributor once a quorum of the verifiers the requester
    /// assigned (its referee counting as one) signed the assigned worker's completion;
    /// anyone may submit the signatures. Only until the deadline.
    function release(
        bytes32 jobId,
        Assignment calldata a,
        bytes calldata assignmentSignature,
        bytes32 resultHash,
        bytes calldata signatures
    ) external nonReentrant {
        Job storage j = _jobs[jobId];
        if (j.status != OPEN) revert JobNotOpen(jobId, j.status);
        if (block.timestamp > j.deadline) revert JobExpired(jobId, j.deadline);
        _checkAssignment(jobId, a, assignmentSignature, j.requester);
        address[] memory verifiers = _checkQuorum(
            completionDigest(jobId, a.worker, resultHash),
            signatures,
            staking,
            Roles.VERIFIER,
            registry.minStake(Roles.VERIFIER),
            registry.verifierQuorum()
        );
        for (uint256 i = 0; i < verifiers.length; i++) {
            if (verifiers[i] == a.worker) revert WorkerSignedOwnCompletion(jobId, a.worker);
            if (!_assigned(a, verifiers[i])) revert SignerNotAssigned(jobId, verifiers[i]);
        }
        j.status = RELEASED;
        uint256 amount = j.amount;
        emit JobReleased(jobId, a.worker, resultHash, amount, verifiers, a.spec);
        // Through fund(), so the distributor counts it as backing for reward roots.
        token.forceApprove(distributor, amount);
        IRewardFunding(distributor).fund(amount);
    }

    /// The requester signed this assignment; it names a worker and 1..MAX_VERIFIERS verifiers, none of them the worker.
    function _checkAssignment(bytes32 jobId, Assignment calldata a, bytes calldata signature, address requester) internal view {
        uint256 n = a.verifiers.length;
        if (a.worker == address(0) || n == 0 || n > MAX_VERIFIERS || a.referee == a.worker) revert AssignmentMalformed(jobId);
        for (uint256 i = 0; i < n; i++) {
            if (a.verifiers[i] == a.worker || a.verifiers[i] == address(0)) revert AssignmentMalformed(jobId);
        }
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(assignmentDigest(jobId, a), signature);
        if (err != ECDSA.RecoverError.NoError || signer != requester) revert AssignmentNotByRequester(jobId, signer);
    }

    function _assigned(Assignment calldata a, address signer) internal pure returns (bool) {
        return signer == a.referee || _inVerifiers(a, signer);
    }

    function _inVerifiers(Assignment calldata a, address peer) internal pure returns (bool) {
        for (uint256 i = 0; i < a.verifiers.length; i++) if (a.verifiers[i] == peer) return true;
        return false;
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
