// Typed errors of training and inference verification. A refusal (bytes or outputs
// that do not match the receipt, a receipt that cannot be a run of this task, a dispute
// that is not one) is an error a verifier raises before spending compute; a replay that
// disagrees is not an error but a mismatch in the verdict, since that is what
// verification exists to find.

import { ComputeError } from '../errors.ts'

/** The worker's receipt cannot be a run of this task: wrong job, steps or length. */
export class BadReceiptError extends ComputeError {}

/** Checkpoint bytes handed over do not hash to the receipt entry, or do not link to the one before. */
export class CheckpointRefusedError extends ComputeError {}

/** A dispute (bisection or referee call) that is malformed: parties agree where they must differ, bad bounds, state not the agreed one. */
export class BadDisputeError extends ComputeError {}

/** Inference outputs handed over that do not hash to the receipt's entries, or that no generation of the job could give. */
export class OutputRefusedError extends ComputeError {}
