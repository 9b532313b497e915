import assert from 'node:assert/strict'
import { z } from 'zod'
import { openEnvelope, sealEnvelope } from '../protocols/envelope.ts'
import {
  FutureTimestampError, ReplayedNonceError, StaleTimestampError, WireError
} from '../protocols/errors.ts'
import { defineMessage, MessageRegistry } from '../protocols/registry.ts'
import { ReplayGuard } from '../protocols/replay-guard.ts'
import { signerFromPrivateKey } from '../protocols/signer.ts'
import { expectThrows } from './helpers/expect-throws.ts'


const NOW = 1_750_000_000_000

describe('protocols/replay-guard', () => {
  describe('defaults', () => {
    it('uses a 120 s age window, 30 s of future skew and 100k entries', () => {
      const g = new ReplayGuard()
      assert.equal(g.maxAgeMs, 120_000)
      assert.equal(g.maxFutureMs, 30_000)
      assert.equal(g.maxEntries, 100_000)
      assert.equal(g.size, 0)
    })
  })

  describe('checkTime window edges', () => {
    const g = new ReplayGuard({ maxAgeMs: 10_000, maxFutureMs: 2_000 })

    it('accepts now, the oldest allowed instant and the furthest allowed future instant', () => {
      g.checkTime(NOW, NOW)
      g.checkTime(NOW - 10_000, NOW)
      g.checkTime(NOW + 2_000, NOW)
    })

    it('rejects one millisecond older than maxAge as StaleTimestampError with details', () => {
      const err = expectThrows(() => g.checkTime(NOW - 10_001, NOW), StaleTimestampError)
      assert.equal(err.details.ts, NOW - 10_001)
      assert.equal(err.details.now, NOW)
      assert.equal(err.details.maxAgeMs, 10_000)
    })

    it('rejects one millisecond beyond maxFuture as FutureTimestampError with details', () => {
      const err = expectThrows(() => g.checkTime(NOW + 2_001, NOW), FutureTimestampError)
      assert.equal(err.details.ts, NOW + 2_001)
      assert.equal(err.details.maxFutureMs, 2_000)
    })

    it('uses the defaults at their exact edges too', () => {
      const d = new ReplayGuard()
      d.checkTime(NOW - 120_000, NOW)
      d.checkTime(NOW + 30_000, NOW)
      expectThrows(() => d.checkTime(NOW - 120_001, NOW), StaleTimestampError)
      expectThrows(() => d.checkTime(NOW + 30_001, NOW), FutureTimestampError)
      expectThrows(() => d.checkTime(0, NOW), StaleTimestampError)
    })
  })

  describe('nonce memory', () => {
    it('checkNonce passes for an unseen key and does not remember it by itself', () => {
      const g = new ReplayGuard()
      g.checkNonce('a')
      g.checkNonce('a')
      assert.equal(g.size, 0)
    })

    it('after record, the same key is a ReplayedNonceError; other keys are fine', () => {
      const g = new ReplayGuard()
      g.record('signer1:nonce1', NOW, NOW)
      assert.equal(g.size, 1)
      const err = expectThrows(() => g.checkNonce('signer1:nonce1'), ReplayedNonceError)
      assert.equal(err.details.key, 'signer1:nonce1')
      g.checkNonce('signer1:nonce2')
      g.checkNonce('signer2:nonce1')
    })

    it('remembers every message while under maxEntries (no early eviction)', () => {
      const g = new ReplayGuard({ maxEntries: 50 })
      for (let i = 0; i < 50; i++) g.record(`k${i}`, NOW + i, NOW + i)
      assert.equal(g.size, 50)
      for (let i = 0; i < 50; i++) expectThrows(() => g.checkNonce(`k${i}`), ReplayedNonceError)
      // Nothing was evicted, so the floor did not rise.
      g.checkTime(NOW, NOW + 49)
    })
  })

  describe('eviction beyond maxEntries', () => {
    it('evicts in arrival order down to 90% of maxEntries and raises the floor', () => {
      const g = new ReplayGuard({ maxEntries: 3 })
      g.record('k0', NOW + 0, NOW + 3)
      g.record('k1', NOW + 1, NOW + 3)
      g.record('k2', NOW + 2, NOW + 3)
      assert.equal(g.size, 3)
      g.record('k3', NOW + 3, NOW + 3)
      // Over the cap: evicted down to floor(0.9 * 3) = 2 entries, oldest arrivals first.
      assert.equal(g.size, 2)
      // k0 and k1 are forgotten as nonces...
      g.checkNonce('k0')
      g.checkNonce('k1')
      // ...but their timestamps are now at or below the floor: a replay is stale.
      expectThrows(() => g.checkTime(NOW + 0, NOW + 3), StaleTimestampError)
      expectThrows(() => g.checkTime(NOW + 1, NOW + 3), StaleTimestampError)
      // Newer entries are still remembered.
      expectThrows(() => g.checkNonce('k2'), ReplayedNonceError)
      expectThrows(() => g.checkNonce('k3'), ReplayedNonceError)
      // Just above the floor is still inside the window.
      g.checkTime(NOW + 2, NOW + 3)
    })

    it('the floor is the newest timestamp among the evicted, even if it arrived first', () => {
      const g = new ReplayGuard({ maxEntries: 2 })
      const now = NOW + 1_000
      g.record('late-ts', NOW + 500, now)
      g.record('a', NOW + 100, now)
      g.record('b', NOW + 200, now) // evicts 'late-ts' and 'a' (oldest arrivals), down to 1
      assert.equal(g.size, 1)
      g.checkNonce('late-ts')
      expectThrows(() => g.checkTime(NOW + 500, now), StaleTimestampError)
      expectThrows(() => g.checkTime(NOW + 300, now), StaleTimestampError)
      g.checkTime(NOW + 501, now)
    })

    it('through openEnvelope: a nonce pushed out by a flood cannot be replayed (stale)', () => {
      const registry = new MessageRegistry([
        defineMessage({ type: 'ping/1', maxBodyBytes: 64, schema: z.object({ n: z.number().int() }) })
      ])
      const signer = signerFromPrivateKey(new Uint8Array(32).fill(3))
      const guard = new ReplayGuard({ maxEntries: 4 })
      const network = 'replay-test'
      const seal = (n: number, ts: number): Uint8Array => sealEnvelope({ network, type: 'ping/1', body: { n }, signer, registry, now: ts })
      const first = seal(0, NOW)
      openEnvelope(first, { network, registry, replayGuard: guard, now: NOW })
      expectThrows(() => openEnvelope(first, { network, registry, replayGuard: guard, now: NOW }), ReplayedNonceError)
      // A flood of later, valid messages pushes `first` out of memory.
      for (let i = 1; i <= 4; i++) openEnvelope(seal(i, NOW + i), { network, registry, replayGuard: guard, now: NOW + 4 })
      assert.equal(guard.size, 3) // 5 recorded, cap 4, evicted down to floor(0.9 * 4)
      // The replay is still refused, now as stale.
      expectThrows(() => openEnvelope(first, { network, registry, replayGuard: guard, now: NOW + 4 }), StaleTimestampError)
      assert.equal(guard.size, 3)
    })
  })

  describe('messages dated ahead of the clock (within the allowed skew)', () => {
    const registry = new MessageRegistry([
      defineMessage({ type: 'ping/1', maxBodyBytes: 64, schema: z.object({ n: z.number().int() }) })
    ])
    const network = 'replay-test'
    const attacker = signerFromPrivateKey(new Uint8Array(32).fill(5))
    const honest = signerFromPrivateKey(new Uint8Array(32).fill(6))
    const seal = (signer: typeof attacker, n: number, ts: number): Uint8Array =>
      sealEnvelope({ network, type: 'ping/1', body: { n }, signer, registry, now: ts })

    it('a flood dated 30 s ahead does not push the floor past now: an honest message dated now is still accepted', () => {
      const guard = new ReplayGuard({ maxEntries: 10, maxAhead: 100 })
      // Twice the window's size, every one dated at the edge of the allowed skew.
      for (let i = 0; i < 20; i++) openEnvelope(seal(attacker, i, NOW + 30_000), { network, registry, replayGuard: guard, now: NOW })
      openEnvelope(seal(honest, 0, NOW - 1_000), { network, registry, replayGuard: guard, now: NOW })
      // Honest traffic overflowing the window raises the floor only as far as its own dates.
      for (let i = 0; i < 20; i++) openEnvelope(seal(honest, 100 + i, NOW - 500 + i), { network, registry, replayGuard: guard, now: NOW })
      openEnvelope(seal(honest, 1, NOW), { network, registry, replayGuard: guard, now: NOW })
      // And a little later, when the clock has not yet reached the flood's date.
      openEnvelope(seal(honest, 2, NOW + 10_000), { network, registry, replayGuard: guard, now: NOW + 10_000 })
    })

    it('a future-dated message is still refused as a replay after a flood, before and after the clock reaches its date', () => {
      const guard = new ReplayGuard({ maxEntries: 10, maxAhead: 10 })
      const early = seal(attacker, 0, NOW + 20_000)
      openEnvelope(early, { network, registry, replayGuard: guard, now: NOW })
      // A flood of messages dated now pushes anything evictable out.
      for (let i = 1; i <= 30; i++) openEnvelope(seal(honest, i, NOW - 30_000 + i), { network, registry, replayGuard: guard, now: NOW })
      expectThrows(() => openEnvelope(early, { network, registry, replayGuard: guard, now: NOW }), ReplayedNonceError)
      for (let i = 31; i <= 60; i++) openEnvelope(seal(honest, i, NOW + 24_900 + i), { network, registry, replayGuard: guard, now: NOW + 25_000 })
      assert.throws(() => openEnvelope(early, { network, registry, replayGuard: guard, now: NOW + 25_000 }),
        (err: unknown) => err instanceof ReplayedNonceError || err instanceof StaleTimestampError)
    })

    it('the floor never passes the local clock, whatever was recorded', () => {
      const guard = new ReplayGuard({ maxEntries: 4 })
      for (let i = 0; i < 50; i++) guard.record(`k${i}`, NOW + 30_000 - i, NOW)
      guard.checkTime(NOW, NOW)
      guard.checkTime(NOW - 60_000, NOW)
    })

    it('stays bounded: beyond its room for messages dated ahead, one more is refused as FutureTimestampError (not a crash)', () => {
      const guard = new ReplayGuard({ maxEntries: 10, maxAhead: 5 })
      for (let i = 0; i < 5; i++) guard.record(`ahead${i}`, NOW + 1_000 + i, NOW)
      const err = expectThrows(() => guard.checkTime(NOW + 2_000, NOW), FutureTimestampError)
      assert.ok(err instanceof WireError)
      assert.equal(err.name, 'FutureTimestampError')
      // Messages dated now are not affected...
      for (let i = 0; i < 30; i++) { guard.checkTime(NOW - 1_000 + i, NOW); guard.record(`now${i}`, NOW - 1_000 + i, NOW) }
      assert.ok(guard.size <= 10 + 5)
      // ...and once the clock passes their dates, the room comes back.
      guard.checkTime(NOW + 6_000, NOW + 5_000)
    })
  })

  describe('sweep', () => {
    it('drops expired entries, so size shrinks', () => {
      const g = new ReplayGuard({ maxAgeMs: 1_000 })
      g.record('a', NOW, NOW)
      g.record('b', NOW + 500, NOW + 500)
      assert.equal(g.size, 2)
      // Far later: both a and b are outside the window and get swept.
      g.record('c', NOW + 5_000, NOW + 5_000)
      assert.equal(g.size, 1)
      expectThrows(() => g.checkNonce('c'), ReplayedNonceError)
      // a was dropped from memory, but its timestamp is outside the window: still refused.
      g.checkNonce('a')
      expectThrows(() => g.checkTime(NOW, NOW + 5_000), StaleTimestampError)
    })

    it('keeps entries that are still inside the window', () => {
      const g = new ReplayGuard({ maxAgeMs: 10_000 })
      g.record('old', NOW, NOW)
      g.record('mid', NOW + 9_000, NOW + 9_000)
      g.record('new', NOW + 15_000, NOW + 15_000) // cutoff NOW + 5_000: drops only 'old'
      assert.equal(g.size, 2)
      g.checkNonce('old')
      expectThrows(() => g.checkNonce('mid'), ReplayedNonceError)
      expectThrows(() => g.checkNonce('new'), ReplayedNonceError)
    })
  })
})
