// SPDX-License-Identifier: Apache-2.0
// Stake roles shared by Staking, the registry (min stake and slash amount per role) and
// the contracts that count signers: plain uint8 constants so they cost nothing.
pragma solidity ^0.8.24;

library Roles {
    uint8 internal constant WORKER = 0;
    uint8 internal constant VERIFIER = 1;
    uint8 internal constant AGGREGATOR = 2;
    uint8 internal constant COUNT = 3;
}
