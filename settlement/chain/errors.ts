// Typed errors of the chain side: compiling the contracts, running anvil, deploying,
// and contract calls that reverted. Each class name is its `name`; `details` carries
// the specifics (solc's messages, the Solidity error name and its arguments) and
// `message` stays short, so callers branch on `name` and `details.error`.
import { SettlementError } from '../errors.ts'

export class ChainError extends SettlementError {}

/** solc reported errors; `details.errors` lists solc's formatted messages. */
export class CompileError extends ChainError {}

/** anvil could not start, or stopped answering JSON-RPC. */
export class AnvilError extends ChainError {}

/** A deploy step failed; `details.step` names it. */
export class DeployError extends ChainError {}

/**
 * A call or transaction reverted. `details.error` is the Solidity custom error's name
 * (or 'Error' / 'Panic' / 'unknown'), `details.args` its decoded arguments by name,
 * `details.data` the raw revert data, `details.contract` and `details.method` where it failed.
 */
export class ContractRevertError extends ChainError {
  get error (): string { return this.details.error as string }
  get args (): Record<string, unknown> { return this.details.args as Record<string, unknown> }
}

