// The naive baseline of the settlement bench (BENCHMARKS.md): one ERC-20 transfer per
// recipient per epoch, packed into as few transactions as fit a block. A minimal batch
// contract, bench-only, so it lives here as a source string and is compiled with the
// same solc-js and settings as settlement/contracts (compile.ts compiles only that
// folder). Two ways to pay: pay() pulls from the caller with transferFrom (approve
// max once: OpenZeppelin's ERC20 then never writes the allowance), send() pays out of
// the contract's own balance with transfer (one allowance read less per recipient).
import { ContractFactory, type Contract, type InterfaceAbi, type Signer } from 'ethers'
import { SOLC_SETTINGS } from '../../settlement/chain/compile.ts'

export const BATCH_TRANSFER_SOURCE = `// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

interface IERC20Min {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

contract BatchTransfer {
    error LengthMismatch(uint256 to, uint256 amounts);
    error TransferFailed(uint256 index);

    function pay(IERC20Min token, address[] calldata to, uint256[] calldata amounts) external {
        if (to.length != amounts.length) revert LengthMismatch(to.length, amounts.length);
        for (uint256 i = 0; i < to.length; ) {
            if (!token.transferFrom(msg.sender, to[i], amounts[i])) revert TransferFailed(i);
            unchecked { ++i; }
        }
    }

    function send(IERC20Min token, address[] calldata to, uint256[] calldata amounts) external {
        if (to.length != amounts.length) revert LengthMismatch(to.length, amounts.length);
        for (uint256 i = 0; i < to.length; ) {
            if (!token.transfer(to[i], amounts[i])) revert TransferFailed(i);
            unchecked { ++i; }
        }
    }
}
`

interface SolcOut {
  errors?: Array<{ severity: string, formattedMessage: string }>
  contracts?: Record<string, Record<string, { abi: unknown[], evm: { bytecode: { object: string } } }>>
}

/** solc-js adds an unhandledRejection listener on load (see compile.ts); take it off again. */
async function loadSolc (): Promise<any> {
  const before = new Set(process.listeners('unhandledRejection'))
  const solc = (await import('solc')).default
  for (const l of process.listeners('unhandledRejection')) if (!before.has(l)) process.removeListener('unhandledRejection', l)
  return solc
}

export async function compileBatchTransfer (): Promise<{ abi: InterfaceAbi, bytecode: string, solcVersion: string }> {
  const solc = await loadSolc()
  const input = { language: 'Solidity', sources: { 'BatchTransfer.sol': { content: BATCH_TRANSFER_SOURCE } }, settings: SOLC_SETTINGS }
  const out = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOut
  const errors = (out.errors ?? []).filter(e => e.severity === 'error')
  if (errors.length > 0) throw new Error(`BatchTransfer: solc errors\n${errors.map(e => e.formattedMessage).join('\n')}`)
  const c = out.contracts?.['BatchTransfer.sol']?.BatchTransfer
  if (c === undefined) throw new Error('BatchTransfer: no output from solc')
  return { abi: c.abi as InterfaceAbi, bytecode: '0x' + c.evm.bytecode.object, solcVersion: solc.version() as string }
}

export async function deployBatchTransfer (signer: Signer): Promise<{ contract: Contract, solcVersion: string }> {
  const { abi, bytecode, solcVersion } = await compileBatchTransfer()
  const c = await new ContractFactory(abi, bytecode, signer).deploy()
  await c.waitForDeployment()
  return { contract: c as unknown as Contract, solcVersion }
}
