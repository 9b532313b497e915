// The market's typed errors: the class name is the error's name, `details` says which job
// and what was found. They stay inside the peer (logs, evidence), unlike the wire's
// errors (protocols/errors.ts), which a remote peer receives by name.
export class MarketError extends Error {
  readonly details: Record<string, unknown>

  constructor (message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.name = new.target.name
    this.details = details
  }
}

/** A phase change no role may make (./job-state.ts). */
export class IllegalTransitionError extends MarketError {}

/** Receipt bytes that do not hash to the CID the job's result names (./receipts.ts). */
export class ReceiptMismatchError extends MarketError {}

/** A challenger's beacon that is not its signature over the receipt: its sample, and so its claim, cannot be reproduced (./referee.ts). */
export class BeaconMismatchError extends MarketError {}
