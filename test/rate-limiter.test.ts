import assert from 'node:assert/strict'
import { RateLimitedError, RateLimiter } from '../protocols/rate-limiter.ts'

describe('RateLimiter', () => {
  it('allows a burst, then one request per refill interval, per peer', () => {
    const limiter = new RateLimiter({ burst: 3, refillMs: 1_000 })
    const t = 1_000_000
    for (let i = 0; i < 3; i++) limiter.take('a', t)
    assert.throws(() => limiter.take('a', t + 999), (err: unknown) => err instanceof RateLimitedError && err.name === 'RateLimitedError')
    limiter.take('b', t) // another peer has its own bucket
    limiter.take('a', t + 1_000)
    assert.throws(() => limiter.take('a', t + 1_500), RateLimitedError)
    // A long pause refills up to the burst, not beyond.
    for (let i = 0; i < 3; i++) limiter.take('a', t + 60_000)
    assert.throws(() => limiter.take('a', t + 60_000), RateLimitedError)
  })

  it('stays bounded when many peers come and go', () => {
    const limiter = new RateLimiter({ burst: 2, refillMs: 10 }, 100)
    for (let i = 0; i < 1_000; i++) limiter.take(`peer-${i}`, i * 100)
    assert.ok((limiter as unknown as { buckets: Map<string, unknown> }).buckets.size <= 100)
  })

  it('a flood of new peer ids does not reset a peer that spent its allowance', () => {
    const limiter = new RateLimiter({ burst: 2, refillMs: 60_000 }, 100)
    const t = 1_000_000
    limiter.take('greedy', t)
    limiter.take('greedy', t)
    assert.throws(() => limiter.take('greedy', t), RateLimitedError)
    // 10x the table's size in throwaway ids, each making one request within the same second.
    for (let i = 0; i < 1_000; i++) limiter.take(`sybil-${i}`, t + i)
    assert.throws(() => limiter.take('greedy', t + 1_000), RateLimitedError, 'the spent bucket was forgotten')
    assert.ok((limiter as unknown as { buckets: Map<string, unknown> }).buckets.size <= 100)
  })
})
