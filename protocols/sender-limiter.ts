// Rate limits on whoever is behind a message: the peer that handed it to us and the
// key that signed it, each with its own token bucket (./rate-limiter.ts). One key
// cannot spread its flood over many connections, since every connection draws on the
// key's one bucket, and one peer cannot spread its flood over many keys, since every
// key it brings draws on the peer's one bucket. A message takes a token from both or
// from neither, so a refusal on one account never spends the other.
import { RateLimiter, type RateLimit } from './rate-limiter.ts'

export interface SenderLimits {
  /** Messages one neighbour may hand us, whoever signed them. */
  perPeer: RateLimit
  /** Messages one signing key may get accepted, whoever relays them. */
  perSigner: RateLimit
}

export class SenderLimiter {
  private readonly peers: RateLimiter
  private readonly signers: RateLimiter

  constructor (limits: SenderLimits, maxKeys = 10_000) {
    this.peers = new RateLimiter(limits.perPeer, maxKeys)
    this.signers = new RateLimiter(limits.perSigner, maxKeys)
  }

  /** Before anything is read: refuse a peer already over its allowance, at no cost to us. */
  checkPeer (peer: string, now = Date.now()): void {
    this.peers.check(peer, now)
  }

  /**
   * Once the signature verified (so a forgery cannot spend someone else's allowance):
   * take one token from the peer and one from the signer, or throw RateLimitedError
   * and take none.
   */
  take (peer: string, signer: string, now = Date.now()): void {
    this.peers.check(peer, now)
    this.signers.check(signer, now)
    this.peers.take(peer, now)
    this.signers.take(signer, now)
  }
}
