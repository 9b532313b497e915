// Typed errors of the money-deciding policies. Each class name is its `name`, so the
// epoch builder and the simulator can branch on it; `details` carries the specifics
// (which contribution, which field, what value) and `message` stays short. The base is
// defined here rather than on settlement/errors.ts so the policy folder imports nothing
// outside itself (sim/ and the epoch builder take it whole); same shape as
// SettlementError, but not a subclass of it (callers catch PolicyError).

export class PolicyError extends Error {
  readonly details: Record<string, unknown>

  constructor (message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.name = new.target.name
    this.details = details
  }
}

/** Input a policy refuses to decide on: malformed contributions, parameters out of range, an impossible split. */
export class InvalidPolicyInputError extends PolicyError {}
