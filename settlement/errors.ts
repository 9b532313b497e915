// The one error base of the settlement engine: policies, the Merkle tree, the epoch
// builder and the chain side each subclass it. The class name is the error's `name`,
// so callers branch on it; `details` carries the specifics and `message` stays short.

export class SettlementError extends Error {
  readonly details: Record<string, unknown>

  constructor (message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.name = new.target.name
    this.details = details
  }
}
