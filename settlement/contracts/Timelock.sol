// SPDX-License-Identifier: Apache-2.0
// Brings OpenZeppelin's TimelockController into the build so the deployer gets its
// artifact; no changes. The governor proposes, anyone executes after the delay.
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

contract Timelock is TimelockController {
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}
