// Typed errors of the money-deciding policies. Each class name is its `name`, so the
// epoch builder and the simulator can branch on it; `details` carries the specifics
// (which contribution, which field, what value) and `message` stays short.
import { SettlementError } from '../errors.ts'

export class PolicyError extends SettlementError {}

/** Input a policy refuses to decide on: malformed contributions, parameters out of range, an impossible split. */
export class InvalidPolicyInputError extends PolicyError {}
