// Typed errors of the simulator: a scenario it cannot run, a sweep it cannot parse.
// The class name is the error's `name`, so the CLI and tests branch on it; `details`
// names the field and the value, and `message` stays short.

export class SimError extends Error {
  readonly details: Record<string, unknown>

  constructor (message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.name = new.target.name
    this.details = details
  }
}

/** A scenario file or override that is malformed or out of range. */
export class InvalidScenarioError extends SimError {}
