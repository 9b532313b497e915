// Typed errors of the compute engine. Each class name is its `name`, so callers (the
// CLI, a peer answering a job, a verifier) can branch on it; `details` carries the
// specifics and `message` stays short.

export class ComputeError extends Error {
  readonly details: Record<string, unknown>

  constructor (message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.name = new.target.name
    this.details = details
  }
}

/** A graph that cannot be built: unknown value, incompatible shapes, bad attribute. */
export class GraphBuildError extends ComputeError {}

/** Autodiff met an operator it has no gradient rule for (or a case the rule refuses). */
export class NoGradientError extends ComputeError {}

/** Model, adapter, tokenizer or checkpoint bytes that do not decode or do not validate. */
export class MalformedArtifactError extends ComputeError {}

/** An adapter built for another base model, or tensors of the wrong shape for this model. */
export class ShapeMismatchError extends ComputeError {}

/** Training produced a non-finite loss or gradient, or the loss ran away. */
export class DivergenceError extends ComputeError {}

/** Input data the job cannot use: empty, oversize, wrong kind. */
export class BadTrainingDataError extends ComputeError {}

/** An inference request the model cannot serve: empty or oversize prompt, bad token, bad limits. */
export class InvalidRequestError extends ComputeError {}

/** A job's prompts or outputs file that does not decode or breaks its format's limits. */
export class BadJobFileError extends ComputeError {}
