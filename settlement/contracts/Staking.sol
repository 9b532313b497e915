// SPDX-License-Identifier: Apache-2.0
// Peers bond OPEN per role (worker, verifier, aggregator). Leaving takes two steps,
// requestUnbond then withdraw after the registry's unbonding delay, and stake that is
// unbonding can still be slashed: a peer can't escape a slash by starting to leave.
// A slash is about one job: the escrow checks that the job's requester assigned the
// slashed peer that role, that the job has a referee, and that the peer itself signed its
// participation with the result at issue (IJobAssignments.checkSlashable). It needs
// evidence (a nonzero hash never used before) and a quorum of staked signers over
// Slash(...), every one assigned to the job (its verifiers or its referee), the referee
// among them (a rejection always goes to the referee before any slash), never the
// slashed peer. A staked stranger, or a requester's assignment the peer never took,
// slashes nobody. Part goes to the prover who found it, the rest to the treasury.
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IJobAssignments, IParameterRegistry, IStaking} from "./Interfaces.sol";
import {QuorumSigned} from "./QuorumSigned.sol";
import {Roles} from "./Roles.sol";

contract Staking is IStaking, EIP712, QuorumSigned, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    error UnknownRole(uint8 role);
    error ZeroAmount();
    error InsufficientStake(address peer, uint8 role, uint256 staked, uint256 requested);
    error NothingUnbonding(address peer, uint8 role);
    error StillUnbonding(address peer, uint8 role, uint64 unlockAt);
    error EvidenceRequired();
    error EvidenceAlreadyUsed(bytes32 evidence);
    error SlashTooLarge(uint8 role, uint256 amount, uint256 max);
    error NothingToSlash(address peer, uint8 role);
    error NotDeployer(address caller);
    error EscrowAlreadySet(address escrow);
    error EscrowNotSet();
    error ZeroAddress();
    error RoleNotSlashableByJob(uint8 role);
    error SlashedPeerSigned(bytes32 jobId, address peer);
    error SignerNotAssigned(bytes32 jobId, address signer);
    error RefereeMustSign(bytes32 jobId, address referee);

    event Staked(address indexed peer, uint8 indexed role, uint256 amount, uint256 bonded);
    event UnbondRequested(address indexed peer, uint8 indexed role, uint256 amount, uint256 unbonding, uint64 unlockAt);
    event Withdrawn(address indexed peer, uint8 indexed role, uint256 amount);
    event Slashed(
        address indexed peer,
        uint8 indexed role,
        bytes32 indexed evidence,
        uint256 amount,
        address prover,
        uint256 toProver,
        uint256 toTreasury,
        bytes32 jobId
    );
    event EscrowSet(address escrow);

    bytes32 public constant SLASH_TYPEHASH = keccak256(
        "Slash(bytes32 jobId,address peer,uint8 role,uint256 amount,bytes32 evidence,address prover,bytes32 resultHash)"
    );

    /// One slash: of `peer` in `role` on job `jobId`, over the result `resultHash`.
    struct SlashCase {
        bytes32 jobId;
        address peer;
        uint8 role;
        uint256 amount;
        bytes32 evidence;
        address prover;
        bytes32 resultHash;
    }

    struct Position {
        uint128 bonded;
        uint128 unbonding;
        uint64 unlockAt;
    }

    IERC20 public immutable token;
    IParameterRegistry public immutable registry;
    mapping(address => mapping(uint8 => Position)) internal _positions;
    mapping(bytes32 => bool) public evidenceUsed;
    /// The escrow whose assignments slashes refer to; set once, right after deploy (the
    /// escrow is built on this contract, so it cannot be a constructor argument).
    IJobAssignments public escrow;
    address private immutable _deployer;

    constructor(IERC20 token_, IParameterRegistry registry_) EIP712("openledger Staking", "1") {
        token = token_;
        registry = registry_;
        _deployer = msg.sender;
    }

    function setEscrow(IJobAssignments escrow_) external {
        if (msg.sender != _deployer) revert NotDeployer(msg.sender);
        if (address(escrow) != address(0)) revert EscrowAlreadySet(address(escrow));
        if (address(escrow_) == address(0)) revert ZeroAddress();
        escrow = escrow_;
        emit EscrowSet(address(escrow_));
    }

    function stakeOf(address peer, uint8 role) external view returns (uint256) {
        return _positions[peer][role].bonded;
    }

    function unbondingOf(address peer, uint8 role) external view returns (uint256 amount, uint64 unlockAt) {
        Position storage p = _positions[peer][role];
        return (p.unbonding, p.unlockAt);
    }

    function stake(uint8 role, uint256 amount) external nonReentrant {
        _checkRole(role);
        if (amount == 0) revert ZeroAmount();
        Position storage p = _positions[msg.sender][role];
        p.bonded += SafeCast.toUint128(amount);
        emit Staked(msg.sender, role, amount, p.bonded);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// Moves `amount` from bonded to unbonding; a second request restarts the delay for all of it.
    function requestUnbond(uint8 role, uint256 amount) external {
        _checkRole(role);
        if (amount == 0) revert ZeroAmount();
        Position storage p = _positions[msg.sender][role];
        if (amount > p.bonded) revert InsufficientStake(msg.sender, role, p.bonded, amount);
        p.bonded -= SafeCast.toUint128(amount);
        p.unbonding += SafeCast.toUint128(amount);
        p.unlockAt = uint64(block.timestamp) + registry.unbondingDelay();
        emit UnbondRequested(msg.sender, role, amount, p.unbonding, p.unlockAt);
    }

    function withdraw(uint8 role) external nonReentrant {
        Position storage p = _positions[msg.sender][role];
        uint256 amount = p.unbonding;
        if (amount == 0) revert NothingUnbonding(msg.sender, role);
        if (block.timestamp < p.unlockAt) revert StillUnbonding(msg.sender, role, p.unlockAt);
        p.unbonding = 0;
        p.unlockAt = 0;
        emit Withdrawn(msg.sender, role, amount);
        token.safeTransfer(msg.sender, amount);
    }

    function slashDigest(SlashCase calldata c) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(SLASH_TYPEHASH, c.jobId, c.peer, c.role, c.amount, c.evidence, c.prover, c.resultHash))
        );
    }

    /// Takes up to `c.amount` (bonded first, then unbonding) from `c.peer`'s `c.role` stake.
    /// `c.prover` (may be zero: then all goes to the treasury) gets the registry's share.
    function slash(
        SlashCase calldata c,
        IJobAssignments.Assignment calldata a,
        bytes calldata assignmentSignature,
        bytes calldata participation,
        bytes calldata signatures
    ) external nonReentrant {
        _checkRole(c.role);
        if (c.role != Roles.WORKER && c.role != Roles.VERIFIER) revert RoleNotSlashableByJob(c.role);
        if (c.evidence == bytes32(0)) revert EvidenceRequired();
        if (evidenceUsed[c.evidence]) revert EvidenceAlreadyUsed(c.evidence);
        if (c.amount == 0) revert ZeroAmount();
        uint256 max = registry.slashAmount(c.role);
        if (c.amount > max) revert SlashTooLarge(c.role, c.amount, max);
        _checkJob(c, a, assignmentSignature, participation);
        _checkSigners(c, a, signatures);
        evidenceUsed[c.evidence] = true;
        _payOut(c, _take(c.peer, c.role, c.amount));
    }

    function _checkJob(SlashCase calldata c, IJobAssignments.Assignment calldata a, bytes calldata assignmentSignature, bytes calldata participation) internal view {
        IJobAssignments e = escrow;
        if (address(e) == address(0)) revert EscrowNotSet();
        e.checkSlashable(c.jobId, a, assignmentSignature, c.peer, c.role, c.resultHash, participation);
    }

    function _payOut(SlashCase calldata c, uint256 taken) internal {
        uint256 toProver = c.prover == address(0) ? 0 : (taken * registry.proverShareBps()) / 10_000;
        emit Slashed(c.peer, c.role, c.evidence, taken, c.prover, toProver, taken - toProver, c.jobId);
        if (toProver > 0) token.safeTransfer(c.prover, toProver);
        if (taken > toProver) token.safeTransfer(registry.treasury(), taken - toProver);
    }

    /// A staked quorum over the Slash, all assigned to the job, the referee among them, never the slashed peer.
    function _checkSigners(SlashCase calldata c, IJobAssignments.Assignment calldata a, bytes calldata signatures) internal view {
        address[] memory signers = _checkQuorum(
            slashDigest(c),
            signatures,
            this,
            Roles.VERIFIER,
            registry.minStake(Roles.VERIFIER),
            registry.verifierQuorum()
        );
        bool refereeSigned = false;
        for (uint256 i = 0; i < signers.length; i++) {
            address s = signers[i];
            if (s == c.peer) revert SlashedPeerSigned(c.jobId, s);
            if (s == a.referee) {
                refereeSigned = true;
                continue;
            }
            bool assigned = false;
            for (uint256 k = 0; k < a.verifiers.length && !assigned; k++) assigned = a.verifiers[k] == s;
            if (!assigned) revert SignerNotAssigned(c.jobId, s);
        }
        if (!refereeSigned) revert RefereeMustSign(c.jobId, a.referee);
    }

    /// Removes up to `amount` from the position, bonded stake first; returns what it took.
    function _take(address peer, uint8 role, uint256 amount) internal returns (uint256 taken) {
        Position storage p = _positions[peer][role];
        uint256 fromBonded = amount < p.bonded ? amount : p.bonded;
        uint256 rest = amount - fromBonded;
        uint256 fromUnbonding = rest < p.unbonding ? rest : p.unbonding;
        taken = fromBonded + fromUnbonding;
        if (taken == 0) revert NothingToSlash(peer, role);
        p.bonded -= uint128(fromBonded);
        p.unbonding -= uint128(fromUnbonding);
    }

    function _checkRole(uint8 role) internal pure {
        if (role >= Roles.COUNT) revert UnknownRole(role);
    }
}
