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
    /// distinct peers (ascending) each staking >= minStake for `role`. Returns the count.
    function _checkQuorum(
        bytes32 digest,
        bytes calldata signatures,
        IStaking staking,
        uint8 role,
        uint256 minStake,
        uint256 quorum
    ) internal view returns (uint256 count) {
        if (signatures.length % 65 != 0) revert SignaturesMalformed(signatures.length);
        count = signatures.length / 65;
        if (count < quorum || count == 0) revert TooFewSignatures(count, quorum);
        address last = address(0);
        for (uint256 i = 0; i < count; i++) {
            bytes32 r;
            bytes32 s;
            uint8 v;
            assembly ("memory-safe") {
                let p := add(signatures.offset, mul(i, 65))
                r := calldataload(p)
                s := calldataload(add(p, 32))
                v := byte(0, calldataload(add(p, 64)))
            }
            (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest, v, r, s);
            if (err != ECDSA.RecoverError.NoError) revert InvalidSignature(i);
            if (signer <= last) revert SignersNotAscending(i, signer);
            last = signer;
            uint256 stake = staking.stakeOf(signer, role);
            if (stake < minStake) revert SignerNotStaked(signer, role, stake, minStake);
        }
    }
}
