// Typed errors of the storage engine. Each class name is its `name`, so callers (and
// the CLI, and remote peers reading an error frame) can branch on it.

export class StorageError extends Error {
  readonly details: Record<string, unknown>

  constructor (message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.name = new.target.name
    this.details = details
  }
}
