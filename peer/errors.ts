// Errors a person at the CLI (or a script reading exit codes) acts on. Each has a
// name and an exit code; the CLI prints the message and exits with the code.

export class PeerError extends Error {
  readonly exitCode: number
  readonly details: Record<string, unknown>

  constructor (message: string, exitCode: number, details: Record<string, unknown> = {}) {
    super(message)
    this.name = new.target.name
    this.exitCode = exitCode
    this.details = details
  }
}

export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  passphrase: 4,
  notRunning: 5,
  timeout: 6
} as const

/** A device asked for (node start --device, train --device) that this machine or install cannot give. */
export class DeviceChoiceError extends PeerError {
  constructor (message: string, details?: Record<string, unknown>) { super(message, EXIT.failure, details) }
}

/** Bad arguments or a bad config value. */
export class UsageError extends PeerError {
  constructor (message: string, details?: Record<string, unknown>) { super(message, EXIT.usage, details) }
}

export class KeystoreNotFoundError extends PeerError {
  constructor (path: string) { super(`no keystore at ${path} (create one with: openledger key new --data-dir DIR)`, EXIT.notFound, { path }) }
}

export class KeystoreExistsError extends PeerError {
  constructor (path: string) { super(`a keystore already exists at ${path}; refusing to overwrite it`, EXIT.failure, { path }) }
}

export class CorruptKeystoreError extends PeerError {
  constructor (path: string, reason: string) { super(`keystore at ${path} is unreadable: ${reason}`, EXIT.failure, { path }) }
}

export class NoPassphraseError extends PeerError {
  constructor () { super('no passphrase: set OPENLEDGER_PASSPHRASE, pipe it to --passphrase-stdin, or run in a terminal to be prompted', EXIT.passphrase) }
}

/** The keystore file can be read (or replaced) by other users: they could guess its passphrase offline. */
export class KeystorePermissionsError extends PeerError {
  constructor (path: string, mode: number) {
    super(`keystore at ${path} is open to group or others (mode 0${mode.toString(8)}), who could copy it and try passphrases offline; run: chmod 600 ${path}`, EXIT.failure, { path, mode })
  }
}

export class WrongPassphraseError extends PeerError {
  constructor (path: string) { super(`wrong passphrase for ${path}`, EXIT.passphrase, { path }) }
}

export class NodeNotRunningError extends PeerError {
  constructor (where: string, reason: string) { super(`no node answering at ${where}: ${reason}`, EXIT.notRunning, { where }) }
}

export class DevnetTimeoutError extends PeerError {
  constructor (message: string, details?: Record<string, unknown>) { super(message, EXIT.timeout, details) }
}
