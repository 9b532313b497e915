// Typed errors for everything that crosses the wire. Each class sets `name`, so a
// caller (or a remote peer reading an error frame) can branch on it without parsing
// messages, in the manner of js-libp2p's interface/src/errors.ts. `details` carries
// the specifics; `message` stays short (viem's style).

export class WireError extends Error {
  readonly details: Record<string, unknown>

  constructor (message: string, details: Record<string, unknown> = {}) {
    super(message)
    // The class name is the error name: subclasses need no boilerplate.
    this.name = new.target.name
    this.details = details
  }
}

/** Bytes that do not decode as msgpack, or an envelope of the wrong shape. */
export class MalformedMessageError extends WireError {}

/** A message larger than the cap for its type (or than any envelope may be). */
export class MessageTooLargeError extends WireError {}

/** An envelope version this node does not speak. */
export class UnsupportedVersionError extends WireError {}

/** A message type no registry entry knows. */
export class UnknownMessageTypeError extends WireError {}

/** A known message type that does not belong on this topic or protocol. */
export class UnexpectedMessageTypeError extends WireError {}

/** The signature does not verify against the signer key for the envelope's digest. */
export class InvalidSignatureError extends WireError {}

/**
 * A refusal that says nothing against whoever handed the message over: a relay may
 * have passed it on in good faith (it was in time by the relay's clock, or new to the
 * relay), or it is over our own allowance. Gossip Ignores these rather than Rejecting
 * them, so an attacker cannot get honest relays penalised by feeding them such messages.
 */
export class UntimelyError extends WireError {}

/** The (signer, nonce) pair was already seen inside the replay window. */
export class ReplayedNonceError extends UntimelyError {}

/** The timestamp is older than the replay window accepts. */
export class StaleTimestampError extends UntimelyError {}

/** The timestamp is further in the future than the allowed clock skew. */
export class FutureTimestampError extends UntimelyError {}

/** The body does not match the schema of its message type. */
export class InvalidBodyError extends WireError {}

/** A remote peer answered a request with an error frame. */
export class RemoteError extends WireError {}

/** A remote peer took too long, or the stream closed before a full answer. */
export class RequestTimeoutError extends WireError {}
