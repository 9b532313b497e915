// SPDX-License-Identifier: Apache-2.0
// gOPEN: OPEN locked 1:1 for voting power. Wrapping (depositFor) and unwrapping
// (withdrawTo) are the only moves: gOPEN cannot be transferred between holders, so
// votes can't be borrowed for one snapshot and handed on. The clock is the block
// timestamp, so governance periods are seconds and anvil's time warps drive them.
// A first wrap delegates the holder's votes to itself, so locking is enough to vote.
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {ERC20Wrapper} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Wrapper.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

contract GOpen is ERC20, ERC20Permit, ERC20Votes, ERC20Wrapper {
    error GOpenNonTransferable(address from, address to);

    constructor(IERC20 open) ERC20("Governance OpenLedger", "gOPEN") ERC20Permit("Governance OpenLedger") ERC20Wrapper(open) {}

    function clock() public view override returns (uint48) {
        return uint48(block.timestamp);
    }

    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    function decimals() public view override(ERC20, ERC20Wrapper) returns (uint8) {
        return super.decimals();
    }

    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        if (from != address(0) && to != address(0)) revert GOpenNonTransferable(from, to);
        super._update(from, to, value);
        if (from == address(0) && delegates(to) == address(0)) _delegate(to, to);
    }
}
