// SPDX-License-Identifier: Apache-2.0
// Pays out the rewards the off-chain epoch builder computed. Each epoch a quorum of
// staked aggregators signs (EIP-712) one Merkle root over (account, cumulative amount)
// leaves, OpenZeppelin StandardMerkleTree style, and the block it was cut at: epoch N
// pays exactly the escrow releases in blocks (toBlock of N-1, toBlock of N], so anyone
// can recompute a posted root from the chain's own events and the epoch's published
// inputs (settlement/epoch/audit.ts). Until the challenge window ends anyone may
// challenge the pending root by putting up the registry's challenge bond: the root is
// cancelled and the epoch can be posted again. The bond goes back to the challenger
// when the epoch ends on another root, and to the treasury when the challenged root is
// posted again and becomes final: a challenge costs, so one account cannot cancel
// every root for free. After the window anyone may claim for an account the difference
// between its cumulative amount and what it already claimed. Amounts are cumulative, so
// the newest final root is enough and a claim can't be repeated.
//
// claim() is the hot path (every account, every epoch) and is kept under 60k gas at
// depth 17: once a root is final and finalized (by anyone, or by the next postRoot) a
// claim reads one slot for the root, one for the account, nothing from the registry,
// and writes no global counter. That is why funding is counted where money comes in
// (fund(), which the escrow uses) rather than where it goes out: "total <= totalFunded"
// is "total - claimed <= balance" without a per-claim counter. OPEN sent here by plain
// transfer instead of fund() is not counted and can't back a root; nor are bonds.
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IParameterRegistry, IStaking} from "./Interfaces.sol";
import {QuorumSigned} from "./QuorumSigned.sol";
import {Roles} from "./Roles.sol";

contract RewardDistributor is EIP712, QuorumSigned {
    using SafeERC20 for IERC20;

    error WrongEpoch(uint64 expected, uint64 got);
    error ZeroRoot();
    error EvidenceRequired();
    error CutoffNotAfterPrevious(uint64 previous, uint64 toBlock);
    error CutoffNotMined(uint64 toBlock, uint256 blockNumber);
    error UnknownChallenge(uint256 id);
    error PreviousRootNotFinal(uint64 epoch, uint64 finalAt);
    error TotalDecreased(uint256 previous, uint256 total);
    error RootNotFunded(uint256 total, uint256 totalFunded);
    error ZeroAmount();
    error UnknownEpoch(uint64 epoch);
    error RootNotFinal(uint64 epoch, uint64 finalAt);
    error RootAlreadyFinal(uint64 epoch, uint64 finalAt);
    error NotLatestEpoch(uint64 latest, uint64 got);
    error InvalidProof();
    error NothingToClaim(address account);
    error LengthMismatch(uint256 accounts, uint256 cumulatives);

    event RootPosted(uint64 indexed epoch, bytes32 root, uint256 total, uint64 finalAt, uint64 toBlock);
    event RootChallenged(uint64 indexed epoch, bytes32 root, bytes32 evidence, address indexed challenger, uint256 indexed id, uint256 bond);
    /// `upheld`: the epoch ended on another root, the bond went back to the challenger; else to the treasury.
    event ChallengeSettled(uint256 indexed id, uint64 indexed epoch, bool upheld, address to, uint256 bond);
    event RootFinalized(uint64 indexed epoch, bytes32 root);
    event Funded(address indexed from, uint256 amount, uint256 totalFunded);
    // epoch not indexed: one topic less is ~120 gas on every claim.
    event Claimed(address indexed account, uint64 epoch, uint256 amount, uint256 cumulative);

    bytes32 public constant EPOCH_ROOT_TYPEHASH = keccak256("EpochRoot(uint64 epoch,bytes32 root,uint256 total,uint64 toBlock)");

    // Every posted epoch (views, the pending root, challenge checks): root, then total,
    // finalAt and the cutoff block packed in one slot.
    struct Epoch {
        bytes32 root;
        uint128 total;
        uint64 finalAt;
        uint64 toBlock;
    }

    // A challenge whose bond waits for its epoch's final root.
    struct Challenge {
        address challenger;
        uint64 epoch;
        bytes32 root;
        uint256 bond;
    }

    IERC20 public immutable token;
    IStaking public immutable staking;
    IParameterRegistry public immutable registry;

    mapping(uint64 => Epoch) internal _epochs;
    // Roots past their window, copied here by finalize() so claim() reads one slot.
    mapping(uint64 => bytes32) internal _finalRoots;
    mapping(address => uint256) public claimed;
    uint128 public totalFunded;
    uint64 public nextEpoch = 1;
    mapping(uint256 => Challenge) public challenges;
    uint256 public challengeCount;

    constructor(IERC20 token_, IStaking staking_, IParameterRegistry registry_)
        EIP712("openledger RewardDistributor", "1")
    {
        token = token_;
        staking = staking_;
        registry = registry_;
    }

    function rootOf(uint64 epoch) external view returns (bytes32 root, uint256 total, uint64 finalAt) {
        Epoch storage e = _epochs[epoch];
        return (e.root, e.total, e.finalAt);
    }

    /// The last block whose escrow releases `epoch` pays (0 for an epoch not posted).
    function cutoffOf(uint64 epoch) external view returns (uint64) {
        return _epochs[epoch].toBlock;
    }

    /// The root claims use for `epoch`: nonzero once it is final (finalized or not).
    function finalRootOf(uint64 epoch) external view returns (bytes32) {
        bytes32 root = _finalRoots[epoch];
        if (root != bytes32(0)) return root;
        Epoch storage e = _epochs[epoch];
        return e.root != bytes32(0) && block.timestamp >= e.finalAt ? e.root : bytes32(0);
    }

    function epochRootDigest(uint64 epoch, bytes32 root, uint256 total, uint64 toBlock) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(EPOCH_ROOT_TYPEHASH, epoch, root, total, toBlock)));
    }

    /// Adds `amount` OPEN (approve first) to what roots may pay out.
    function fund(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint128 funded = totalFunded + SafeCast.toUint128(amount);
        totalFunded = funded;
        emit Funded(msg.sender, amount, funded);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// Posts `epoch`'s root, signed by an aggregator quorum, paying the escrow releases up
    /// to block `toBlock` (after the previous epoch's, and already mined). The previous
    /// root must be final (so at most the latest is pending; it gets finalized here) and
    /// the funds must cover the root's total: totals are cumulative, so this covers what's unclaimed.
    function postRoot(uint64 epoch, bytes32 root, uint256 total, uint64 toBlock, bytes calldata signatures) external {
        uint64 expected = nextEpoch;
        if (epoch != expected) revert WrongEpoch(expected, epoch);
        if (root == bytes32(0)) revert ZeroRoot();
        if (toBlock >= block.number) revert CutoffNotMined(toBlock, block.number);
        uint256 previousTotal = 0;
        if (epoch > 1) {
            Epoch storage prev = _epochs[epoch - 1];
            if (block.timestamp < prev.finalAt) revert PreviousRootNotFinal(epoch - 1, prev.finalAt);
            if (toBlock <= prev.toBlock) revert CutoffNotAfterPrevious(prev.toBlock, toBlock);
            previousTotal = prev.total;
            _finalize(epoch - 1, prev.root);
        }
        // Cumulative amounts only grow, so their sum can't shrink.
        if (total < previousTotal) revert TotalDecreased(previousTotal, total);
        uint256 funded = totalFunded;
        if (total > funded) revert RootNotFunded(total, funded);
        _checkQuorum(
            epochRootDigest(epoch, root, total, toBlock),
            signatures,
            staking,
            Roles.AGGREGATOR,
            registry.minStake(Roles.AGGREGATOR),
            registry.aggregatorQuorum()
        );
        uint64 finalAt = uint64(block.timestamp) + registry.challengeWindow();
        // total <= totalFunded, a uint128.
        _epochs[epoch] = Epoch(root, uint128(total), finalAt, toBlock);
        nextEpoch = epoch + 1;
        emit RootPosted(epoch, root, total, finalAt, toBlock);
    }

    /// Makes claims against a final root cheap (one storage read). Anyone may call; a no-op if done.
    function finalize(uint64 epoch) external {
        Epoch storage e = _epochs[epoch];
        bytes32 root = e.root;
        if (root == bytes32(0)) revert UnknownEpoch(epoch);
        if (block.timestamp < e.finalAt) revert RootNotFinal(epoch, e.finalAt);
        _finalize(epoch, root);
    }

    function _finalize(uint64 epoch, bytes32 root) internal {
        if (_finalRoots[epoch] != bytes32(0)) return;
        _finalRoots[epoch] = root;
        emit RootFinalized(epoch, root);
    }

    /// Cancels the pending (latest, not yet final) root; the epoch can then be posted
    /// again. Anyone may challenge (a watcher needs no role), for the registry's bond
    /// (approve first), with `evidence`: the hash of what the challenger found, published
    /// off chain (settlement/epoch/audit.ts). The bond waits in settleChallenge().
    function challengeRoot(uint64 epoch, bytes32 evidence) external returns (uint256 id) {
        uint64 latest = nextEpoch - 1;
        if (epoch != latest || epoch == 0) revert NotLatestEpoch(latest, epoch);
        if (evidence == bytes32(0)) revert EvidenceRequired();
        Epoch storage e = _epochs[epoch];
        if (block.timestamp >= e.finalAt) revert RootAlreadyFinal(epoch, e.finalAt);
        bytes32 root = e.root;
        uint256 bond = registry.challengeBond();
        id = challengeCount++;
        challenges[id] = Challenge(msg.sender, epoch, root, bond);
        delete _epochs[epoch]; // never finalized: finalize() needs the window to be over
        nextEpoch = epoch;
        emit RootChallenged(epoch, root, evidence, msg.sender, id, bond);
        token.safeTransferFrom(msg.sender, address(this), bond);
    }

    /// Once the challenged epoch has a final root: the bond back to the challenger if that
    /// root is another one (the challenge changed the outcome), else to the treasury.
    /// Anyone may call; each challenge settles once.
    function settleChallenge(uint256 id) external {
        Challenge memory c = challenges[id];
        if (c.challenger == address(0)) revert UnknownChallenge(id);
        bytes32 finalRoot = _finalRoot(c.epoch);
        bool upheld = finalRoot != c.root;
        address to = upheld ? c.challenger : registry.treasury();
        delete challenges[id];
        emit ChallengeSettled(id, c.epoch, upheld, to, c.bond);
        token.safeTransfer(to, c.bond);
    }

    /// Pays `account` what `epoch`'s final root owes it beyond earlier claims. Anyone may
    /// submit (relayers); the tokens always go to `account`.
    function claim(uint64 epoch, address account, uint256 cumulative, bytes32[] calldata proof) external {
        bytes32 root = _finalRoot(epoch);
        if (_processProof(proof, _leaf(account, cumulative)) != root) revert InvalidProof();
        uint256 prev = claimed[account];
        if (cumulative <= prev) revert NothingToClaim(account);
        uint256 amount;
        unchecked { amount = cumulative - prev; }
        claimed[account] = cumulative;
        emit Claimed(account, epoch, amount, cumulative);
        token.safeTransfer(account, amount);
    }

    /// Claims for several accounts with one OpenZeppelin multiproof. `accounts` and
    /// `cumulatives` must list the proven leaves in the order the multiproof consumes
    /// them: the `leaves` order StandardMerkleTree.getMultiProof returns. Accounts with
    /// nothing due are skipped, so one already-claimed account doesn't sink the batch.
    function claimMultiple(
        uint64 epoch,
        address[] calldata accounts,
        uint256[] calldata cumulatives,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) external {
        if (accounts.length != cumulatives.length) revert LengthMismatch(accounts.length, cumulatives.length);
        bytes32 root = _finalRoot(epoch);
        bytes32[] memory leaves = new bytes32[](accounts.length);
        for (uint256 i = 0; i < accounts.length; i++) leaves[i] = _leaf(accounts[i], cumulatives[i]);
        if (!MerkleProof.multiProofVerifyCalldata(proof, proofFlags, root, leaves)) revert InvalidProof();
        for (uint256 i = 0; i < accounts.length; i++) _payIfDue(epoch, accounts[i], cumulatives[i]);
    }

    function _payIfDue(uint64 epoch, address account, uint256 cumulative) internal {
        uint256 prev = claimed[account];
        if (cumulative <= prev) return;
        claimed[account] = cumulative;
        emit Claimed(account, epoch, cumulative - prev, cumulative);
        token.safeTransfer(account, cumulative - prev);
    }

    /// One cold read once finalized; else the epoch record decides (final or not, known or not).
    function _finalRoot(uint64 epoch) internal view returns (bytes32 root) {
        root = _finalRoots[epoch];
        if (root != bytes32(0)) return root;
        Epoch storage e = _epochs[epoch];
        root = e.root;
        if (root == bytes32(0)) revert UnknownEpoch(epoch);
        uint64 finalAt = e.finalAt;
        if (block.timestamp < finalAt) revert RootNotFinal(epoch, finalAt);
    }

    /// MerkleProof.processProofCalldata with sorted pairs (Hashes.commutativeKeccak256),
    /// as one assembly loop: ~1k gas less at depth 17, which is what keeps claim under
    /// 60k. The multiproof path uses OpenZeppelin's own code; the tests check both
    /// against proofs from the OpenZeppelin merkle-tree package.
    function _processProof(bytes32[] calldata proof, bytes32 leaf) internal pure returns (bytes32 node) {
        assembly ("memory-safe") {
            node := leaf
            let end := add(proof.offset, shl(5, proof.length))
            for { let p := proof.offset } lt(p, end) { p := add(p, 0x20) } {
                let sibling := calldataload(p)
                // The smaller word first.
                let lo := xor(node, mul(xor(node, sibling), gt(node, sibling)))
                mstore(0x00, lo)
                mstore(0x20, xor(xor(node, sibling), lo))
                node := keccak256(0x00, 0x40)
            }
        }
    }

    /// StandardMerkleTree leaf for ['address', 'uint256']: keccak256(bytes.concat(keccak256(abi.encode(a, c)))).
    function _leaf(address account, uint256 cumulative) internal pure returns (bytes32 leaf) {
        assembly ("memory-safe") {
            mstore(0x00, account)
            mstore(0x20, cumulative)
            mstore(0x00, keccak256(0x00, 0x40))
            leaf := keccak256(0x00, 0x20)
        }
    }
}
