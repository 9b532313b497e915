// SPDX-License-Identifier: Apache-2.0
// Checks that an EIP-712 digest was signed by enough distinct staked peers of one
// role. Signatures are 65 bytes each (r, s, v), concatenated; their signers must be
// strictly ascending by address, which rejects a repeated signer with one comparison
// instead of a set. Each signer must hold at least the registry's min stake for the role.
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IStaking} from "./Interfaces.sol";

abstract contract QuorumSigned {
    error SignaturesMalformed(uint256 length);
    error TooFewSignatures(uint256 count, uint256 quorum);
    error InvalidSignature(uint256 index);
    error SignersNotAscending(uint256 index, address signer);
    error SignerNotStaked(address signer, uint8 role, uint256 stake, uint256 minStake);

    /// Reverts unless `signatures` holds >= quorum valid signatures over `digest` by
    /// distinct peers (ascending) each staking >= minStake for `role`. Returns the signers.
    function _checkQuorum(
        bytes32 digest,
        bytes calldata signatures,
        IStaking staking,
        uint8 role,
        uint256 minStake,
        uint256 quorum
    ) internal view returns (address[] memory signers) {
        if (signatures.length % 65 != 0) revert SignaturesMalformed(signatures.length);
        uint256 count = signatures.length / 65;
        if (count < quorum || count == 0) revert TooFewSignatures(count, quorum);
        signers = new address[](count);
        address last = address(0);
        for (uint256 i = 0; i < count; i++) {
            address signer = _signerAt(digest, signatures, i);
            if (signer <= last) revert SignersNotAscending(i, signer);
            last = signer;
            signers[i] = signer;
            uint256 stake = staking.stakeOf(signer, role);
            if (stake < minStake) revert SignerNotStaked(signer, role, stake, minStake);
        }
    }

    /// The signer of the i-th 65-byte signature (its own frame keeps the loop's stack small).
    function _signerAt(bytes32 digest, bytes calldata signatures, uint256 i) private pure returns (address signer) {
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            let p := add(signatures.offset, mul(i, 65))
            r := calldataload(p)
            s := calldataload(add(p, 32))
            v := byte(0, calldataload(add(p, 64)))
        }
        ECDSA.RecoverError err;
        (signer, err, ) = ECDSA.tryRecover(digest, v, r, s);
        if (err != ECDSA.RecoverError.NoError) revert InvalidSignature(i);
    }
}
