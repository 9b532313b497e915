// SPDX-License-Identifier: Apache-2.0
// Peers bond OPEN per role (worker, verifier, aggregator). Leaving takes two steps,
// requestUnbond then withdraw after the registry's unbonding delay, and stake that is
// unbonding can still be slashed: a peer can't escape a slash by starting to leave.
// A slash needs evidence: a nonzero hash never used before, signed (EIP-712) by a
// quorum of staked verifiers. Part goes to the prover who found it, the rest to the treasury.
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IParameterRegistry, IStaking} from "./Interfaces.sol";
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
        uint256 toTreasury
    );

    bytes32 public constant SLASH_TYPEHASH =
        keccak256("Slash(address peer,uint8 role,uint256 amount,bytes32 evidence,address prover)");

    struct Position {
        uint128 bonded;
        uint128 unbonding;
        uint64 unlockAt;
    }

    IERC20 public immutable token;
    IParameterRegistry public immutable registry;
    mapping(address => mapping(uint8 => Position)) internal _positions;
    mapping(bytes32 => bool) public evidenceUsed;

    constructor(IERC20 token_, IParameterRegistry registry_) EIP712("openledger Staking", "1") {
        token = token_;
        registry = registry_;
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

    function slashDigest(address peer, uint8 role, uint256 amount, bytes32 evidence, address prover) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(SLASH_TYPEHASH, peer, role, amount, evidence, prover)));
    }

    /// Takes up to `amount` (bonded first, then unbonding) from `peer`'s `role` stake.
    /// `prover` (may be zero: then all goes to the treasury) gets the registry's share.
    function slash(
        address peer,
        uint8 role,
        uint256 amount,
        bytes32 evidence,
        address prover,
        bytes calldata signatures
    ) external nonReentrant {
        _checkRole(role);
        if (evidence == bytes32(0)) revert EvidenceRequired();
        if (evidenceUsed[evidence]) revert EvidenceAlreadyUsed(evidence);
        if (amount == 0) revert ZeroAmount();
        uint256 max = registry.slashAmount(role);
        if (amount > max) revert SlashTooLarge(role, amount, max);
        _checkQuorum(
            slashDigest(peer, role, amount, evidence, prover),
            signatures,
            this,
            Roles.VERIFIER,
            registry.minStake(Roles.VERIFIER),
            registry.verifierQuorum()
        );
        evidenceUsed[evidence] = true;
        uint256 taken = _take(peer, role, amount);
        uint256 toProver = prover == address(0) ? 0 : (taken * registry.proverShareBps()) / 10_000;
        emit Slashed(peer, role, evidence, taken, prover, toProver, taken - toProver);
        if (toProver > 0) token.safeTransfer(prover, toProver);
        if (taken > toProver) token.safeTransfer(registry.treasury(), taken - toProver);
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
