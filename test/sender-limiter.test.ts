import assert from 'node:assert/strict'
import { z } from 'zod'
import { sealEnvelope } from '../protocols/envelope.ts'
import { InvalidSignatureError } from '../protocols/errors.ts'
import { Inbound, type InboundEvent } from '../protocols/inbound.ts'
import { RateLimitedError, RateLimiter } from '../protocols/rate-limiter.ts'
import { defineMessage, MessageRegistry } from '../protocols/registry.ts'
import { ReplayGuard } from '../protocols/replay-guard.ts'
import { SenderLimiter } from '../protocols/sender-limiter.ts'
import { signerFromPrivateKey } from '../protocols/signer.ts'
import { expectThrows } from './helpers/expect-throws.ts'

const T = 1_000_000

describe('SenderLimiter: per signing key and per peer', () => {
  it('one key spread over many peers gets one allowance', () => {
    const l = new SenderLimiter({ perPeer: { burst: 100, refillMs: 1_000 }, perSigner: { burst: 3, refillMs: 1_000 } })
    for (let i = 0; i < 3; i++) l.take(`peer-${i}`, 'key', T)
    const err = expectThrows(() => l.take('peer-99', 'key', T), RateLimitedError)
    assert.equal(err.name, 'RateLimitedError')
    l.take('peer-99', 'other-key', T) // the new peer was not charged for the refusal
    l.take('peer-5', 'key', T + 1_000) // one token back a second later
  })

  it('one peer spread over many keys gets one allowance', () => {
    const l = new SenderLimiter({ perPeer: { burst: 3, refillMs: 1_000 }, perSigner: { burst: 100, refillMs: 1_000 } })
    for (let i = 0; i < 3; i++) l.take('peer', `key-${i}`, T)
    expectThrows(() => l.take('peer', 'key-99', T), RateLimitedError)
    expectThrows(() => l.checkPeer('peer', T), RateLimitedError)
    l.take('other-peer', 'key-99', T) // the new key was not charged for the refusal
  })

  it('a refusal on one account spends nothing on the other', () => {
    const l = new SenderLimiter({ perPeer: { burst: 3, refillMs: 60_000 }, perSigner: { burst: 1, refillMs: 60_000 } })
    l.take('p', 'a', T)
    for (let i = 0; i < 5; i++) expectThrows(() => l.take('p', 'a', T), RateLimitedError)
    l.take('p', 'b', T) // p still had two tokens
    l.take('p', 'c', T)
    expectThrows(() => l.take('p', 'd', T), RateLimitedError)
    l.take('q', 'd', T) // d still had its token
  })

  it('checkPeer and RateLimiter.check take nothing', () => {
    const r = new RateLimiter({ burst: 1, refillMs: 60_000 })
    for (let i = 0; i < 5; i++) r.check('x', T)
    r.take('x', T)
    expectThrows(() => r.check('x', T), RateLimitedError)
    const l = new SenderLimiter({ perPeer: { burst: 1, refillMs: 60_000 }, perSigner: { burst: 1, refillMs: 60_000 } })
    for (let i = 0; i < 5; i++) l.checkPeer('p', T)
    l.take('p', 'k', T)
  })

  describe('at the inbound door', () => {
    const registry = new MessageRegistry([
      defineMessage({ type: 'ping/1', maxBodyBytes: 64, schema: z.object({ n: z.number().int() }) })
    ])
    const network = 'limit-test'
    const victim = signerFromPrivateKey(new Uint8Array(32).fill(8))
    const seal = (n: number): Uint8Array => sealEnvelope({ network, type: 'ping/1', body: { n }, signer: victim, registry })

    function door (): { inbound: Inbound, events: InboundEvent[] } {
      const events: InboundEvent[] = []
      return { inbound: new Inbound({ network, registry, replayGuard: new ReplayGuard(), onEvent: (e) => events.push(e) }), events }
    }

    it('a forgery under a key does not spend its allowance; an honest message still gets through', () => {
      const { inbound } = door()
      const limiter = new SenderLimiter({ perPeer: { burst: 100, refillMs: 60_000 }, perSigner: { burst: 1, refillMs: 60_000 } })
      for (let i = 0; i < 5; i++) {
        const forged = seal(i)
        forged[forged.length - 5] ^= 0x01
        expectThrows(() => inbound.open(forged, 'gossip:t', 'attacker', ['ping/1'], undefined, limiter), InvalidSignatureError)
      }
      inbound.open(seal(10), 'gossip:t', 'relay', ['ping/1'], undefined, limiter)
      expectThrows(() => inbound.open(seal(11), 'gossip:t', 'relay', ['ping/1'], undefined, limiter), RateLimitedError)
    })

    it('a refused message keeps its nonce unburnt, and the refusal is Ignored, not held against the relay', () => {
      const { inbound, events } = door()
      const limiter = new SenderLimiter({ perPeer: { burst: 100, refillMs: 1_000 }, perSigner: { burst: 1, refillMs: 1_000 } })
      inbound.open(seal(1), 'gossip:t', 'relay', ['ping/1'], undefined, limiter)
      const later = seal(2)
      expectThrows(() => inbound.open(later, 'gossip:t', 'relay', ['ping/1'], undefined, limiter), RateLimitedError)
      assert.equal(events.at(-1)?.verdict, 'ignore')
      assert.equal(events.at(-1)?.error?.name, 'RateLimitedError')
      // Once there is room (here: another allowance), the same message is accepted, not a replay.
      const roomy = new SenderLimiter({ perPeer: { burst: 100, refillMs: 1_000 }, perSigner: { burst: 100, refillMs: 1_000 } })
      assert.equal(inbound.open<{ n: number }>(later, 'gossip:t', 'relay', ['ping/1'], undefined, roomy).body.n, 2)
    })
  })
})
