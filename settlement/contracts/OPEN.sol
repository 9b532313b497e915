// SPDX-License-Identifier: Apache-2.0
// The OPEN token: a plain fixed-supply ERC20 with EIP-2612 permit, all minted once to
// the treasury given at deploy. No mint, no burn, no owner: the supply never changes.
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

contract OPEN is ERC20, ERC20Permit {
    error ZeroTreasury();

    constructor(address treasury, uint256 initialSupply) ERC20("OpenLedger", "OPEN") ERC20Permit("OpenLedger") {
        if (treasury == address(0)) revert ZeroTreasury();
        _mint(treasury, initialSupply);
    }
}
