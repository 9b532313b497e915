// The fee split: four parts by basis points, verifiers equal, contributors by weight,
// nobody-there parts to the treasury; on random fees, weights and policies the outputs
// always sum to exactly the fee and each part is within one wei of its exact quota.
import assert from 'node:assert/strict'
import { DEFAULT_FEE_SPLIT, InvalidPolicyInputError, splitFee, type FeeSplit, type FeeSplitPolicy } from '../settlement/policy/index.ts'
import { expectThrows } from './helpers/expect-throws.ts'
import { xorshift } from './helpers/seeded.ts'

function addr (n: number): string {
  return '0x' + n.toString(16).padStart(40, '0')
}

function total (s: FeeSplit): bigint {
  return s.worker.amount + s.verifiers.reduce((a, p) => a + p.amount, 0n) + s.contributors.reduce((a, p) => a + p.amount, 0n) + s.treasury
}

const W = addr(1)
const V = [addr(3), addr(2)]

describe('fee split policy', function () {
  it('cuts a round fee exactly by the default basis points', function () {
    const s = splitFee({ fee: 10_000n, worker: W, verifiers: V, contributorWeights: [{ contributor: addr(9), weight: 3 }, { contributor: addr(8), weight: 1 }] })
    assert.deepEqual(s.parts, { worker: 5000n, verifiers: 2000n, contributors: 2500n, treasury: 500n })
    assert.deepEqual(s.verifiers, [{ account: addr(2), amount: 1000n }, { account: addr(3), amount: 1000n }])
    assert.deepEqual(s.contributors, [{ account: addr(8), amount: 625n }, { account: addr(9), amount: 1875n }])
    assert.equal(s.treasury, 500n)
    assert.deepEqual(s.redirected, { verifiers: 0n, contributors: 0n })
    assert.equal(total(s), 10_000n)
  })

  it('gives the odd units of the verifiers part to the lowest addresses', function () {
    const s = splitFee({ fee: 102n, worker: W, verifiers: [addr(7), addr(5), addr(6)] }, { worker: 0, verifiers: 10_000, contributors: 0, treasury: 0 })
    assert.deepEqual(s.verifiers.map(p => p.amount), [34n, 34n, 34n])
    const t = splitFee({ fee: 101n, worker: W, verifiers: [addr(7), addr(5), addr(6)] }, { worker: 0, verifiers: 10_000, contributors: 0, treasury: 0 })
    assert.deepEqual(t.verifiers, [{ account: addr(5), amount: 34n }, { account: addr(6), amount: 34n }, { account: addr(7), amount: 33n }])
  })

  it('sends the contributors part to the treasury when there are no weights, and the verifiers part when nobody signed', function () {
    for (const contributorWeights of [undefined, [], [{ contributor: addr(4), weight: 0 }]]) {
      const s = splitFee({ fee: 10_000n, worker: W, verifiers: [], contributorWeights })
      assert.equal(s.treasury, 500n + 2500n + 2000n)
      assert.deepEqual(s.redirected, { verifiers: 2000n, contributors: 2500n })
      assert.deepEqual(s.payouts, [{ account: W, amount: 5000n }])
      assert.equal(total(s), 10_000n)
    }
  })

  it('merges an address that has several roles into one payout', function () {
    const s = splitFee({ fee: 10_000n, worker: W, verifiers: [W, addr(2)], contributorWeights: [{ contributor: W, weight: 1 }] })
    assert.deepEqual(s.payouts, [{ account: W, amount: 5000n + 1000n + 2500n }, { account: addr(2), amount: 1000n }])
  })

  it('a zero fee pays zero to everyone', function () {
    const s = splitFee({ fee: 0n, worker: W, verifiers: V, contributorWeights: [{ contributor: addr(4), weight: 1 }] })
    assert.equal(total(s), 0n)
    assert.deepEqual(s.payouts, [])
  })

  it('sums to exactly the fee on random fees, weights and policies, each part within one wei of its quota', function () {
    const rand = xorshift(20260601)
    for (let round = 0; round < 2000; round++) {
      const cuts = [0, 0, 0].map(() => Math.floor(rand() * 10_001)).sort((a, b) => a - b)
      const policy: FeeSplitPolicy = round % 4 === 0
        ? DEFAULT_FEE_SPLIT
        : { worker: cuts[0], verifiers: cuts[1] - cuts[0], contributors: cuts[2] - cuts[1], treasury: 10_000 - cuts[2] }
      const fee = round % 3 === 0 ? BigInt(Math.floor(rand() * 1000)) : BigInt(Math.floor(rand() * 2 ** 53)) * 10n ** BigInt(Math.floor(rand() * 12))
      const nv = Math.floor(rand() * 5)
      const verifiers = Array.from({ length: nv }, (_, i) => addr(100 + i * 7 + (round % 5)))
      const nc = Math.floor(rand() * 8)
      const contributorWeights = Array.from({ length: nc }, (_, i) => ({ contributor: addr(1000 + i), weight: rand() < 0.2 ? 0 : rand() * 10 }))
      const s = splitFee({ fee, worker: addr(round % 3 === 0 ? 100 : 1), verifiers: [...new Set(verifiers)], contributorWeights }, policy)
      assert.equal(total(s), fee)
      assert.equal(s.parts.worker + s.parts.verifiers + s.parts.contributors + s.parts.treasury, fee)
      for (const key of ['worker', 'verifiers', 'contributors', 'treasury'] as const) {
        const exact = fee * BigInt(policy[key])
        const got = s.parts[key] * 10_000n
        assert.ok(got >= exact - 10_000n && got <= exact + 10_000n, `${key} part ${s.parts[key]} far from ${fee} x ${policy[key]} bp`)
      }
      const paid = s.payouts.reduce((a, p) => a + p.amount, 0n)
      assert.equal(paid + s.treasury, fee)
      if (s.verifiers.length > 0) {
        const amounts = s.verifiers.map(p => p.amount)
        const max = amounts.reduce((a, b) => a > b ? a : b)
        const min = amounts.reduce((a, b) => a < b ? a : b)
        assert.ok(max - min <= 1n)
      }
      // deterministic and independent of input order
      const again = splitFee({ fee, worker: s.worker.account, verifiers: [...new Set(verifiers)].reverse(), contributorWeights: [...contributorWeights].reverse() }, policy)
      assert.deepEqual(again, s)
    }
  })

  it('refuses bad input with InvalidPolicyInputError', function () {
    const ok = { fee: 100n, worker: W, verifiers: V }
    const bad: Array<[string, () => unknown]> = [
      ['negative fee', () => splitFee({ ...ok, fee: -1n })],
      ['number fee', () => splitFee({ ...ok, fee: 1 as unknown as bigint })],
      ['bps not summing', () => splitFee(ok, { worker: 5000, verifiers: 1000, contributors: 1000, treasury: 1000 })],
      ['fractional bps', () => splitFee(ok, { worker: 6999.5, verifiers: 1000.5, contributors: 1500, treasury: 500 })],
      ['negative bps', () => splitFee(ok, { worker: 11_000, verifiers: -1000, contributors: 0, treasury: 0 })],
      ['empty worker', () => splitFee({ ...ok, worker: '' })],
      ['duplicate verifier', () => splitFee({ ...ok, verifiers: [addr(2), addr(2)] })],
      ['duplicate verifier with 0 bp', () => splitFee({ ...ok, verifiers: [addr(2), addr(2)] }, { worker: 10_000, verifiers: 0, contributors: 0, treasury: 0 })],
      ['two spellings', () => splitFee({ ...ok, worker: '0xAB' + '0'.repeat(38), verifiers: ['0xab' + '0'.repeat(38)] })],
      ['bad weight', () => splitFee({ ...ok, contributorWeights: [{ contributor: addr(4), weight: -1 }] })],
      ['NaN weight among zeros', () => splitFee({ ...ok, contributorWeights: [{ contributor: addr(4), weight: Number.NaN }] })],
      ['duplicate contributor', () => splitFee({ ...ok, contributorWeights: [{ contributor: addr(4), weight: 1 }, { contributor: addr(4), weight: 2 }] })]
    ]
    for (const [what, fn] of bad) {
      const err = expectThrows(fn, InvalidPolicyInputError)
      assert.ok(err.message.length > 0, what)
    }
  })
})
