// The attribution reward policy, rule by rule, and the properties money depends on:
// weights sum to exactly 1, pools split to exactly the pool, input order does not
// matter, splitting a contribution does not pay. Random inputs come from a seeded
// xorshift so every failure reproduces.
import assert from 'node:assert/strict'
import {
  attributionRewards, DEFAULT_ATTRIBUTION_POLICY, InvalidPolicyInputError, splitPool, WEIGHT_UNITS,
  type AttributionContribution, type AttributionPolicy, type AttributionRewards
} from '../settlement/policy/index.ts'
import { expectThrows } from './helpers/expect-throws.ts'
import { xorshift } from './helpers/seeded.ts'

const ULP = 2 ** -53

function int (rand: () => number, n: number): number {
  return Math.floor(rand() * n)
}

function shuffle<T> (xs: readonly T[], rand: () => number): T[] {
  const out = [...xs]
  for (let i = out.length - 1; i > 0; i--) {
    const j = int(rand, i + 1)
    const t = out[i]
    out[i] = out[j]
    out[j] = t
  }
  return out
}

function addr (n: number): string {
  return '0x' + n.toString(16).padStart(40, '0')
}

let nextId = 0
function c (contributor: string, influence: number, order: number, extra: Partial<AttributionContribution> = {}): AttributionContribution {
  return { id: extra.id ?? `cid-${String(nextId++).padStart(6, '0')}`, contributor, influence, order, ...extra }
}

function weightOf (r: AttributionRewards, contributor: string): number {
  return r.contributors.find(x => x.contributor === contributor)?.weight ?? 0
}

function contributionWeight (r: AttributionRewards, id: string): number {
  const x = r.contributions.find(y => y.id === id)
  assert.ok(x != null, `no contribution ${id}`)
  return x.weight
}

/** Weights live on a grid of 2^-53 (so they sum exactly): 0.2 is a unit or two away. */
function assertNear (actual: readonly number[], expected: readonly number[]): void {
  assert.equal(actual.length, expected.length)
  for (const [i, x] of actual.entries()) assert.ok(Math.abs(x - expected[i]) <= 2 * ULP, `[${i}] ${x} != ${expected[i]}`)
}

function sum (xs: readonly number[]): number {
  return xs.reduce((s, x) => s + x, 0)
}

const A = addr(0xa)
const B = addr(0xb)
const C = addr(0xc)
const D = addr(0xd)
const E = addr(0xe)
const F = addr(0xf)
const NO_CAP: Partial<AttributionPolicy> = { maxShare: 1 }

/** A random world: some helpful, harmful, noisy, duplicate and near-duplicate contributions. */
function randomWorld (rand: () => number, size?: number): AttributionContribution[] {
  const n = size ?? 1 + int(rand, 40)
  const people = 1 + int(rand, 12)
  const out: AttributionContribution[] = []
  for (let i = 0; i < n; i++) {
    const u = rand()
    const influence = u < 0.15 ? -rand() : u < 0.2 ? 0 : u < 0.6 ? rand() * 10 : rand() * 1e-3
    const x: AttributionContribution = { id: `r${i}`, contributor: addr(1 + int(rand, people)), influence, order: i * 2 + int(rand, 2) }
    if (i > 0 && rand() < 0.1) x.duplicateOf = `r${int(rand, i)}`
    else if (i > 0 && rand() < 0.2) x.nearDuplicateOf = { id: `r${int(rand, i)}`, similarity: 0.7 + rand() * 0.3 }
    // keep references strictly earlier by order
    const ref = x.duplicateOf ?? x.nearDuplicateOf?.id
    if (ref != null && !(out[Number(ref.slice(1))].order < x.order)) {
      delete x.duplicateOf
      delete x.nearDuplicateOf
    }
    out.push(x)
  }
  return out
}

/** Reference cap in plain floats, the textbook way: cap whoever is over, share the rest, repeat. */
function waterFill (values: readonly number[], cap: number): number[] {
  const capped = values.map(() => false)
  for (;;) {
    const left = 1 - cap * capped.filter(Boolean).length
    const free = sum(values.filter((_, i) => !capped[i]))
    const w = values.map((v, i) => (capped[i] ? cap : left * v / free))
    const over = w.map((x, i) => !capped[i] && x > cap * (1 + 1e-12))
    if (!over.some(Boolean)) return w
    for (const [i, o] of over.entries()) if (o) capped[i] = true
  }
}

describe('settlement/policy: attribution rewards', () => {
  describe('proportional payout', () => {
    it('pays each contributor in proportion to measured influence, sorted by address, summing to 1', () => {
      const r = attributionRewards([c(C, 2, 3), c(A, 1, 1), c(B, 1, 2), c(A, 1, 4)], NO_CAP)
      assert.deepEqual(r.contributors.map(x => x.contributor), [A, B, C])
      assertNear(r.contributors.map(x => x.weight), [0.4, 0.2, 0.4])
      assert.deepEqual(r.contributors.map(x => x.credited), [2, 1, 2])
      assert.deepEqual(r.contributions.map(x => x.order), [1, 2, 3, 4])
      assertNear(r.contributions.map(x => x.weight), [0.2, 0.2, 0.4, 0.2])
      assert.deepEqual(r.flags, [])
      assert.equal(sum(r.contributors.map(x => x.weight)), 1)
    })
  })

  describe('rule 1: negative influence', () => {
    it('earns nothing, is flagged with its value, and changes nobody else\'s weight', () => {
      const good = [c(A, 3, 1, { id: 'a' }), c(B, 1, 2, { id: 'b' })]
      const bad = c(C, -2.5, 3, { id: 'c' })
      const r = attributionRewards([...good, bad], NO_CAP)
      assert.deepEqual(r.flags, [{ reason: 'negative-influence', id: 'c', contributor: C, influence: -2.5 }])
      assert.equal(contributionWeight(r, 'c'), 0)
      assert.equal(r.contributions.find(x => x.id === 'c')?.credited, 0)
      assert.equal(weightOf(r, C), 0)
      assert.ok(!r.contributors.some(x => x.contributor === C), 'an unpaid contributor is not listed')
      assert.deepEqual(r.contributors, attributionRewards(good, NO_CAP).contributors)
    })

    it('a harmful contribution does not reduce the same contributor\'s helpful ones', () => {
      const r = attributionRewards([c(A, 1, 1), c(A, -5, 2), c(B, 1, 3)], NO_CAP)
      assert.equal(weightOf(r, A), 0.5)
    })
  })

  describe('rule 2: exact duplicates', () => {
    it('a duplicate earns nothing and points at the original; the original keeps only its own influence', () => {
      const orig = c(A, 2, 1, { id: 'orig' })
      const other = c(B, 2, 2, { id: 'other' })
      const copy = c(C, 5, 3, { id: 'copy', duplicateOf: 'orig' })
      const r = attributionRewards([orig, other, copy], NO_CAP)
      assert.deepEqual(r.flags, [{ reason: 'duplicate', id: 'copy', contributor: C, original: 'orig' }])
      assert.equal(contributionWeight(r, 'copy'), 0)
      assert.equal(weightOf(r, A), 0.5, 'the copy\'s influence is not moved to the original')
      assert.deepEqual(r.contributors, attributionRewards([orig, other], NO_CAP).contributors)
    })

    it('re-uploading your own file (from the same or another address) earns nothing more', () => {
      const base = [c(A, 2, 1, { id: 'mine' }), c(B, 2, 2)]
      const whole = weightOf(attributionRewards(base, NO_CAP), A)
      const again = attributionRewards([...base, c(A, 2, 3, { duplicateOf: 'mine' }), c(F, 2, 4, { duplicateOf: 'mine' })], NO_CAP)
      assert.equal(weightOf(again, A) + weightOf(again, F), whole)
    })

    it('a harmful duplicate is flagged both ways', () => {
      const r = attributionRewards([c(A, 1, 1, { id: 'o' }), c(B, -1, 2, { id: 'd', duplicateOf: 'o' })], NO_CAP)
      assert.deepEqual(r.flags.map(f => f.reason), ['duplicate', 'negative-influence'])
    })
  })

  describe('rule 3: near-duplicates at or above the threshold', () => {
    const at = DEFAULT_ATTRIBUTION_POLICY.nearDuplicateAt
    for (const similarity of [at, (at + 1) / 2, 1]) {
      it(`similarity ${similarity} earns nothing and is flagged`, () => {
        const r = attributionRewards([c(A, 1, 1, { id: 'o' }), c(B, 1, 2, { id: 'n', nearDuplicateOf: { id: 'o', similarity } })], NO_CAP)
        assert.deepEqual(r.flags, [{ reason: 'near-duplicate', id: 'n', contributor: B, original: 'o', similarity }])
        assert.equal(contributionWeight(r, 'n'), 0)
        assert.equal(weightOf(r, A), 1)
      })
    }

    it('the threshold is a parameter', () => {
      const input = [c(A, 1, 1, { id: 'o' }), c(B, 1, 2, { nearDuplicateOf: { id: 'o', similarity: 0.7 } })]
      assert.equal(weightOf(attributionRewards(input, { ...NO_CAP, nearDuplicateAt: 0.7, sharedFrom: 0.5 }), B), 0)
      assert.equal(weightOf(attributionRewards(input, NO_CAP), B), 0.5, 'below sharedFrom: counts in full')
    })
  })

  describe('rule 4: early versus late near-duplicates share the value they have in common', () => {
    const { sharedFrom, nearDuplicateAt } = DEFAULT_ATTRIBUTION_POLICY
    const mid = (sharedFrom + nearDuplicateAt) / 2

    it('of two similar contributions of equal value, the earlier one gets more', () => {
      const r = attributionRewards([c(A, 1, 1, { id: 'early' }), c(B, 1, 2, { id: 'late', nearDuplicateOf: { id: 'early', similarity: mid } })], NO_CAP)
      const late = r.contributions.find(x => x.id === 'late')
      assert.ok(late != null)
      assert.ok(Math.abs(late.credited - 0.5) < 1e-12, `half the shared value at mid-band, got ${late.credited}`)
      assert.ok(weightOf(r, A) > weightOf(r, B))
      assert.ok(Math.abs(weightOf(r, A) - 2 / 3) < 1e-12)
      const flag = r.flags[0]
      assert.equal(flag.reason, 'near-duplicate-shared')
      assert.ok(flag.reason === 'near-duplicate-shared' && flag.original === 'early' && Math.abs(flag.discount - 0.5) < 1e-12)
    })

    it('swapping who came first swaps who gets more', () => {
      const r = attributionRewards([c(B, 1, 1, { id: 'early' }), c(A, 1, 2, { id: 'late', nearDuplicateOf: { id: 'early', similarity: mid } })], NO_CAP)
      assert.ok(weightOf(r, B) > weightOf(r, A))
    })

    it('the discount grows from nothing at sharedFrom to everything at nearDuplicateAt, without a jump', () => {
      const credited = (similarity: number): number => {
        const r = attributionRewards([c(A, 1, 1, { id: 'o' }), c(B, 1, 2, { id: 'n', nearDuplicateOf: { id: 'o', similarity } })], NO_CAP)
        return r.contributions.find(x => x.id === 'n')?.credited ?? NaN
      }
      assert.equal(credited(sharedFrom - 0.01), 1)
      assert.equal(credited(sharedFrom), 1)
      let last = 1
      for (let s = sharedFrom + 0.01; s < nearDuplicateAt; s += 0.01) {
        const v = credited(s)
        assert.ok(v < last, `decreasing at ${s}`)
        last = v
      }
      assert.ok(credited(nearDuplicateAt - 1e-9) < 1e-6, 'just below the threshold almost nothing is left')
      assert.equal(credited(nearDuplicateAt), 0)
    })

    it('only the value the original already provides is shared: a later, much better version keeps its excess', () => {
      const r = attributionRewards([c(A, 1, 1, { id: 'o' }), c(B, 10, 2, { id: 'n', nearDuplicateOf: { id: 'o', similarity: mid } })], NO_CAP)
      const late = r.contributions.find(x => x.id === 'n')
      assert.ok(late != null && Math.abs(late.credited - 9.5) < 1e-12, `10 - 0.5 * min(10, 1), got ${late?.credited}`)
    })

    it('a harmful original shares nothing: the later version that fixed it is paid in full', () => {
      const r = attributionRewards([c(A, -1, 1, { id: 'o' }), c(B, 1, 2, { id: 'n', nearDuplicateOf: { id: 'o', similarity: mid } })], NO_CAP)
      assert.equal(weightOf(r, B), 1)
      assert.deepEqual(r.flags.map(f => f.reason), ['negative-influence'])
    })

    it('splitting the later version into several near-duplicates does not escape the discount', () => {
      const orig = c(A, 1, 1, { id: 'o' })
      const near = { id: 'o', similarity: mid }
      const whole = attributionRewards([orig, c(B, 2, 2, { nearDuplicateOf: near })], NO_CAP)
      const parts = attributionRewards([orig, c(B, 0.5, 2, { nearDuplicateOf: near }), c(E, 0.75, 3, { nearDuplicateOf: near }), c(F, 0.75, 4, { nearDuplicateOf: near })], NO_CAP)
      assert.ok(weightOf(parts, B) + weightOf(parts, E) + weightOf(parts, F) <= weightOf(whole, B))
    })
  })

  describe('rule 5: noise', () => {
    it('positive influence below minInfluence, and zero influence, earn nothing and are not flagged as harmful', () => {
      const r = attributionRewards([c(A, 1, 1), c(B, 0.009, 2, { id: 'tiny' }), c(C, 0, 3, { id: 'zero' }), c(D, 0.01, 4, { id: 'enough' })], { ...NO_CAP, minInfluence: 0.01 })
      assert.deepEqual(r.flags, [
        { reason: 'noise', id: 'tiny', contributor: B, influence: 0.009 },
        { reason: 'noise', id: 'zero', contributor: C, influence: 0 }
      ])
      assert.deepEqual(r.contributors.map(x => x.contributor), [A, D])
      assert.ok(Math.abs(weightOf(r, D) - 0.01 / 1.01) < 1e-15)
    })
  })

  describe('the per-address cap', () => {
    it('caps one address and redistributes its excess in proportion among the others', () => {
      const r = attributionRewards([c(A, 70, 1), c(B, 10, 2), c(C, 10, 3), c(D, 5, 4), c(E, 5, 5)], { maxShare: 0.4 })
      assert.equal(weightOf(r, A), 0.4)
      // 0.6 left for 30 units of influence: 0.02 each
      for (const [who, w] of [[B, 0.2], [C, 0.2], [D, 0.1], [E, 0.1]] as const) assert.ok(Math.abs(weightOf(r, who) - w) <= 2 * ULP, `${who}: ${weightOf(r, who)}`)
      assert.deepEqual(r.contributors.map(x => x.capped), [true, false, false, false, false])
      assert.deepEqual(r.flags, [{ reason: 'capped', contributor: A, uncappedShare: 0.7 }])
      assert.equal(sum(r.contributors.map(x => x.weight)), 1)
    })

    it('iterates until stable when redistribution pushes others over the cap too', () => {
      // Proportional: .40 .30 .20 .05 .03 .02. Capping A and B leaves .5 for 30 units, so C
      // would get .333: over the cap as well, found only on the second pass.
      const r = attributionRewards([c(A, 40, 1), c(B, 30, 2), c(C, 20, 3), c(D, 5, 4), c(E, 3, 5), c(F, 2, 6)], { maxShare: 0.25 })
      const expect = [0.25, 0.25, 0.25, 0.125, 0.075, 0.05]
      for (const [i, x] of r.contributors.entries()) assert.ok(Math.abs(x.weight - expect[i]) <= 2 * ULP, `${x.contributor}: ${x.weight}`)
      assert.deepEqual(r.contributors.map(x => x.capped), [true, true, true, false, false, false])
      assert.deepEqual(r.flags.map(f => f.reason === 'capped' ? f.contributor : f.reason), [A, B, C])
      assert.equal(sum(r.contributors.map(x => x.weight)), 1)
    })

    it('when exactly 1/cap addresses are paid, each gets the cap whatever its influence', () => {
      const r = attributionRewards([c(A, 100, 1), c(B, 1, 2), c(C, 1, 3), c(D, 1, 4)], { maxShare: 0.25 })
      assert.deepEqual(r.contributors.map(x => x.weight), [0.25, 0.25, 0.25, 0.25])
      assert.deepEqual(r.contributors.map(x => x.capped), [true, false, false, false])
    })

    it('when too few addresses are paid for the cap to hold, it is not applied, and that is flagged', () => {
      const r = attributionRewards([c(A, 3, 1), c(B, 1, 2)], { maxShare: 0.25 })
      assert.deepEqual(r.contributors.map(x => x.weight), [0.75, 0.25])
      assert.deepEqual(r.contributors.map(x => x.capped), [false, false])
      assert.deepEqual(r.flags, [{ reason: 'cap-infeasible', contributors: 2, maxShare: 0.25 }])
    })

    it('a capped address\'s weight is split over its contributions by value, summing to its weight', () => {
      const r = attributionRewards([c(A, 30, 1, { id: 'a1' }), c(A, 10, 2, { id: 'a2' }), c(B, 1, 3), c(C, 1, 4), c(D, 1, 5), c(E, 1, 6)], { maxShare: 0.25 })
      assert.equal(weightOf(r, A), 0.25)
      assert.equal(contributionWeight(r, 'a1'), 0.1875)
      assert.equal(contributionWeight(r, 'a2'), 0.0625)
    })

    it('random inputs: nobody above the cap, uncapped weights proportional, capped ones held the most influence', () => {
      const rand = xorshift(0xcafe)
      for (let t = 0; t < 300; t++) {
        const maxShare = [0.05, 0.1, 0.2, 0.25, 0.3, 0.5, 1][int(rand, 7)]
        const r = attributionRewards(randomWorld(rand), { maxShare })
        const capUnits = Math.floor(maxShare * 2 ** 53)
        const infeasible = r.flags.some(f => f.reason === 'cap-infeasible')
        assert.equal(infeasible, r.contributors.length > 0 && r.contributors.length * capUnits < 2 ** 53)
        if (infeasible) continue
        const free = r.contributors.filter(x => !x.capped)
        for (const x of r.contributors) assert.ok(x.weight * 2 ** 53 <= capUnits, `${x.weight} > cap ${maxShare}`)
        for (const x of r.contributors.filter(y => y.capped)) {
          assert.equal(x.weight * 2 ** 53, capUnits)
          for (const y of free) assert.ok(x.credited >= y.credited, 'a capped address had at least the influence of every uncapped one')
        }
        const ref = waterFill(r.contributors.map(x => x.credited), maxShare)
        for (const [i, x] of r.contributors.entries()) assert.ok(Math.abs(x.weight - ref[i]) <= 1e-12, `${x.weight} vs reference ${ref[i]}`)
        if (free.length > 1) {
          const top = free.reduce((a, b) => (b.weight > a.weight ? b : a))
          const rate = top.weight / top.credited
          for (const y of free) assert.ok(Math.abs(y.weight - rate * y.credited) <= 4 * ULP + 1e-12 * y.weight, 'uncapped: one rate per unit of influence')
        }
      }
    })
  })

  describe('weights sum to exactly 1', () => {
    it('random inputs: contributor and contribution weights each sum to exactly 1 in any order, never NaN', () => {
      const rand = xorshift(0x5eed)
      for (let t = 0; t < 500; t++) {
        const r = attributionRewards(randomWorld(rand), { maxShare: [0.1, 0.25, 1][int(rand, 3)] })
        const cw = r.contributors.map(x => x.weight)
        const pw = r.contributions.map(x => x.weight)
        for (const w of [...cw, ...pw]) assert.ok(Number.isFinite(w) && w >= 0 && w <= 1)
        if (r.contributors.length === 0) {
          assert.equal(sum(pw), 0)
          continue
        }
        assert.equal(sum(cw), 1)
        assert.equal(sum(shuffle(cw, rand)), 1)
        assert.equal(sum(shuffle(pw, rand)), 1)
        for (const x of r.contributors) {
          assert.equal(sum(r.contributions.filter(y => y.contributor === x.contributor).map(y => y.weight)), x.weight)
        }
        for (const y of r.contributions) if (y.credited === 0) assert.equal(y.weight, 0)
      }
    })

    it('empty input: no weights and a nothing-paid flag', () => {
      assert.deepEqual(attributionRewards([]), { contributors: [], contributions: [], flags: [{ reason: 'nothing-paid' }] })
    })

    it('all harmful or noise: no weights, the flags, nothing-paid, no NaN', () => {
      const r = attributionRewards([c(A, -1, 1, { id: 'x' }), c(B, 0, 2, { id: 'y' }), c(C, -0, 3, { id: 'z' })])
      assert.deepEqual(r.contributors, [])
      assert.deepEqual(r.contributions.map(x => x.weight), [0, 0, 0])
      assert.deepEqual(r.flags.map(f => f.reason), ['negative-influence', 'noise', 'noise', 'nothing-paid'])
    })
  })

  describe('determinism', () => {
    it('the same contributions in any order give the same result', () => {
      const rand = xorshift(0x0de7)
      for (let t = 0; t < 200; t++) {
        const world = randomWorld(rand)
        const policy = { maxShare: [0.1, 0.25, 1][int(rand, 3)], minInfluence: rand() < 0.5 ? 0 : 1e-4 }
        const r = attributionRewards(world, policy)
        assert.deepEqual(attributionRewards(shuffle(world, rand), policy), r)
        assert.deepEqual(attributionRewards([...world].reverse(), policy), r)
      }
    })

    it('ties in order are broken by id', () => {
      const r = attributionRewards([c(B, 1, 5, { id: 'b' }), c(A, 1, 5, { id: 'a' })])
      assert.deepEqual(r.contributions.map(x => x.id), ['a', 'b'])
    })

    it('does not modify its input', () => {
      const world = randomWorld(xorshift(7), 30)
      const copy = structuredClone(world)
      attributionRewards(world)
      assert.deepEqual(world, copy)
    })
  })

  describe('sybil resistance: splitting one contribution into many does not earn more', () => {
    /** Splits v into k positive pieces that are multiples of 2^-20, so they add up to v exactly. */
    function pieces (v: number, k: number, rand: () => number): number[] {
      const total = Math.round(v * 2 ** 20)
      const cuts = Array.from({ length: k - 1 }, () => 1 + int(rand, total - 1)).sort((a, b) => a - b)
      const bounds = [0, ...cuts, total]
      return bounds.slice(1).map((b, i) => (b - bounds[i]) / 2 ** 20).filter(x => x > 0)
    }

    it('under the same address: exactly the same weight', () => {
      const rand = xorshift(0x51b1)
      for (let t = 0; t < 200; t++) {
        const world = randomWorld(rand, 2 + int(rand, 20)).map(x => ({ ...x, influence: Math.round(x.influence * 2 ** 20) / 2 ** 20 }))
        const victim = world.find(x => x.influence > 1 && x.duplicateOf == null && x.nearDuplicateOf == null && !world.some(y => y.duplicateOf === x.id || y.nearDuplicateOf?.id === x.id))
        if (victim == null) continue
        const policy = { maxShare: [0.1, 0.25, 1][int(rand, 3)] }
        const whole = attributionRewards(world, policy)
        const split = pieces(victim.influence, 2 + int(rand, 6), rand)
        const rest = world.filter(x => x !== victim)
        const parts = split.map((v, i) => ({ id: `${victim.id}.${i}`, contributor: victim.contributor, influence: v, order: victim.order + i / split.length }))
        const r = attributionRewards([...rest, ...parts], policy)
        assert.equal(weightOf(r, victim.contributor), weightOf(whole, victim.contributor))
      }
    })

    it('under many new addresses (no cap binding): never more, up to one 2^-53 rounding unit per address', () => {
      const rand = xorshift(0x51b2)
      for (let t = 0; t < 200; t++) {
        const world = randomWorld(rand, 2 + int(rand, 20)).map(x => ({ ...x, influence: Math.round(x.influence * 2 ** 20) / 2 ** 20 }))
        const victim = world.find(x => x.influence > 1 && x.duplicateOf == null && x.nearDuplicateOf == null && !world.some(y => y.duplicateOf === x.id || y.nearDuplicateOf?.id === x.id))
        if (victim == null) continue
        const whole = attributionRewards(world, NO_CAP)
        const before = sum(whole.contributions.filter(x => x.id === victim.id).map(x => x.weight))
        const split = pieces(victim.influence, 2 + int(rand, 6), rand)
        const rest = world.filter(x => x !== victim)
        const parts = split.map((v, i) => ({ id: `${victim.id}.${i}`, contributor: addr(0x5b000 + i), influence: v, order: victim.order + i / split.length }))
        const r = attributionRewards([...rest, ...parts], NO_CAP)
        const after = sum(r.contributions.filter(x => x.id.startsWith(`${victim.id}.`)).map(x => x.weight))
        assert.ok(after <= before + split.length * ULP, `split ${after} > whole ${before}`)
      }
    })

    it('pieces that fall under the noise floor are lost: splitting small costs', () => {
      const policy = { ...NO_CAP, minInfluence: 0.1 }
      const whole = attributionRewards([c(A, 0.3, 1), c(B, 1, 2)], policy)
      const split = attributionRewards([c(A, 0.05, 1), c(A, 0.05, 1.1), c(A, 0.2, 1.2), c(B, 1, 2)], policy)
      assert.ok(weightOf(split, A) < weightOf(whole, A))
    })

    it('known limit, documented: the cap is per address, so sybils splitting a capped address escape it', () => {
      const others = [c(B, 1, 2), c(C, 1, 3), c(D, 1, 4), c(E, 1, 5)]
      const whole = attributionRewards([c(A, 8, 1), ...others], { maxShare: 0.25 })
      const split = attributionRewards([c(A, 4, 1), c(F, 4, 1.5), ...others], { maxShare: 0.25 })
      assert.equal(weightOf(whole, A), 0.25)
      assert.equal(weightOf(split, A) + weightOf(split, F), 0.5)
    })
  })

  describe('input validation', () => {
    const ok = (): AttributionContribution[] => [c(A, 1, 1, { id: 'o' }), c(B, 1, 2, { id: 'l' })]

    it('refuses a non-finite influence or order', () => {
      for (const influence of [NaN, Infinity, -Infinity]) {
        const err = expectThrows(() => attributionRewards([c(A, influence, 1, { id: 'bad' })]), InvalidPolicyInputError)
        assert.equal(err.details.id, 'bad')
      }
      expectThrows(() => attributionRewards([c(A, 1, NaN)]), InvalidPolicyInputError)
      expectThrows(() => attributionRewards([{ id: 'x', contributor: A, influence: '1' as unknown as number, order: 1 }]), InvalidPolicyInputError)
    })

    it('refuses influence whose sum overflows', () => {
      expectThrows(() => attributionRewards([c(A, 1e308, 1), c(A, 1e308, 2)]), InvalidPolicyInputError)
      assert.equal(attributionRewards([c(A, 1e308, 1), c(B, 5e-324, 2)], NO_CAP).contributors.length, 2, 'extremes that do not overflow are fine')
    })

    it('refuses duplicate ids, empty ids and contributors, one address spelled two ways', () => {
      expectThrows(() => attributionRewards([c(A, 1, 1, { id: 'x' }), c(B, 1, 2, { id: 'x' })]), InvalidPolicyInputError)
      expectThrows(() => attributionRewards([c(A, 1, 1, { id: '' })]), InvalidPolicyInputError)
      expectThrows(() => attributionRewards([c('', 1, 1)]), InvalidPolicyInputError)
      const mixed = '0xAbCdEf0000000000000000000000000000000001'
      expectThrows(() => attributionRewards([c(mixed, 1, 1), c(mixed.toLowerCase(), 1, 2)]), InvalidPolicyInputError)
    })

    it('refuses a duplicateOf or nearDuplicateOf that is unknown, later, simultaneous or itself', () => {
      const [o, l] = ok()
      const cases: AttributionContribution[][] = [
        [o, { ...l, duplicateOf: 'nope' }],
        [{ ...o, duplicateOf: 'l' }, l],
        [o, { ...l, order: 1, duplicateOf: 'o' }],
        [o, { ...l, duplicateOf: 'l' }],
        [o, { ...l, nearDuplicateOf: { id: 'nope', similarity: 0.9 } }],
        [{ ...o, nearDuplicateOf: { id: 'l', similarity: 0.9 } }, l],
        [o, { ...l, duplicateOf: 'o', nearDuplicateOf: { id: 'o', similarity: 0.9 } }]
      ]
      for (const input of cases) expectThrows(() => attributionRewards(input), InvalidPolicyInputError)
      const err = expectThrows(() => attributionRewards([{ ...o, duplicateOf: 'l' }, l]), InvalidPolicyInputError)
      assert.deepEqual(err.details, { id: 'o', order: 1, duplicateOf: 'l', originalOrder: 2 })
    })

    it('refuses a similarity outside [0, 1]', () => {
      const [o, l] = ok()
      for (const similarity of [-0.1, 1.1, NaN]) {
        expectThrows(() => attributionRewards([o, { ...l, nearDuplicateOf: { id: 'o', similarity } }]), InvalidPolicyInputError)
      }
    })

    it('refuses parameters out of range', () => {
      const bad: Array<Partial<AttributionPolicy>> = [
        { maxShare: 0 }, { maxShare: -0.1 }, { maxShare: 1.01 }, { maxShare: NaN },
        { nearDuplicateAt: 0 }, { nearDuplicateAt: 1.5 },
        { sharedFrom: -0.1 }, { sharedFrom: 0.95, nearDuplicateAt: 0.9 },
        { minInfluence: -1 }, { minInfluence: Infinity }
      ]
      for (const p of bad) expectThrows(() => attributionRewards(ok(), p), InvalidPolicyInputError)
      assert.equal(attributionRewards(ok(), { maxShare: 1, sharedFrom: 0.9, nearDuplicateAt: 0.9 }).contributors.length, 2, 'an empty sharing band is allowed')
    })
  })
})

describe('settlement/policy: splitPool', () => {
  it('splits by largest remainder, ties to the lower address', () => {
    assert.deepEqual(splitPool(10n, [{ contributor: C, weight: 0.2 }, { contributor: A, weight: 0.5 }, { contributor: B, weight: 0.3 }]),
      [{ contributor: A, amount: 5n }, { contributor: B, amount: 3n }, { contributor: C, amount: 2n }])
    assert.deepEqual(splitPool(10n, [{ contributor: C, weight: 1 }, { contributor: B, weight: 1 }, { contributor: A, weight: 1 }]).map(x => x.amount), [4n, 3n, 3n])
    assert.deepEqual(splitPool(1n, [{ contributor: B, weight: 0.5 }, { contributor: A, weight: 0.5 }]), [{ contributor: A, amount: 1n }, { contributor: B, amount: 0n }])
    // 7 * [.6, .25, .15] = 4.2, 1.75, 1.05: floors 4 1 1, the one left goes to the largest remainder (.75)
    assert.deepEqual(splitPool(7n, [{ contributor: A, weight: 0.6 }, { contributor: B, weight: 0.25 }, { contributor: C, weight: 0.15 }]).map(x => x.amount), [4n, 2n, 1n])
  })

  it('random pools and weights: sums to exactly the pool, each amount the floor of its exact quota or one more', () => {
    const rand = xorshift(0x9001)
    for (let t = 0; t < 500; t++) {
      const n = 1 + int(rand, 30)
      const ints: number[] = Array.from({ length: n }, () => (rand() < 0.1 ? 0 : 1 + int(rand, 1_000_000)))
      if (Math.max(...ints) === 0) ints[0] = 1
      const pool = [0n, 1n, BigInt(int(rand, 1000)), 10n ** 27n + BigInt(int(rand, 1e9)), BigInt(n - 1)][int(rand, 5)]
      const weights = shuffle(ints.map((w, i) => ({ contributor: addr(i + 1), weight: w })), rand)
      const shares = splitPool(pool, weights)
      assert.equal(shares.reduce((s, x) => s + x.amount, 0n), pool)
      assert.deepEqual(shares.map(x => x.contributor), [...shares.map(x => x.contributor)].sort())
      const total = BigInt(ints.reduce((s, x) => s + x, 0))
      for (const x of shares) {
        const w = BigInt(ints[Number(BigInt(x.contributor)) - 1])
        const floor = (pool * w) / total
        assert.ok(x.amount === floor || x.amount === floor + 1n, `${x.amount} vs quota ${floor}`)
        if (w === 0n) assert.equal(x.amount, 0n)
      }
    }
  })

  it('splits attribution weights exactly, the pool in wei', () => {
    const rand = xorshift(0xbeef)
    for (let t = 0; t < 200; t++) {
      const r = attributionRewards(randomWorld(rand))
      if (r.contributors.length === 0) continue
      const pool = 10n ** 24n + BigInt(int(rand, 1e9))
      const shares = splitPool(pool, r.contributors)
      assert.equal(shares.reduce((s, x) => s + x.amount, 0n), pool)
      for (const [i, x] of shares.entries()) {
        const exact = (pool * BigInt(r.contributors[i].weight * 2 ** 53)) / WEIGHT_UNITS
        assert.ok(x.amount === exact || x.amount === exact + 1n)
      }
    }
  })

  it('zero pool is fine, even with no one to pay; a non-zero pool with no one is refused', () => {
    assert.deepEqual(splitPool(0n, []), [])
    assert.deepEqual(splitPool(0n, [{ contributor: A, weight: 0 }]), [{ contributor: A, amount: 0n }])
    expectThrows(() => splitPool(5n, []), InvalidPolicyInputError)
    expectThrows(() => splitPool(5n, [{ contributor: A, weight: 0 }]), InvalidPolicyInputError)
  })

  it('refuses a negative pool, bad weights, an address listed twice', () => {
    expectThrows(() => splitPool(-1n, [{ contributor: A, weight: 1 }]), InvalidPolicyInputError)
    expectThrows(() => splitPool(1 as unknown as bigint, [{ contributor: A, weight: 1 }]), InvalidPolicyInputError)
    for (const weight of [NaN, Infinity, -0.5]) expectThrows(() => splitPool(5n, [{ contributor: A, weight }]), InvalidPolicyInputError)
    expectThrows(() => splitPool(5n, [{ contributor: A, weight: 1 }, { contributor: A, weight: 2 }]), InvalidPolicyInputError)
    expectThrows(() => splitPool(5n, [{ contributor: '', weight: 1 }]), InvalidPolicyInputError)
  })
})

describe('fit gate', () => {
  it('fails contributions the model fits worse than the validation data, and only those', async () => {
    const { fitGate, InvalidPolicyInputError } = await import('../settlement/policy/index.ts')
    const r = fitGate([{ id: 'a', meanLoss: 0.01 }, { id: 'b', meanLoss: 0.5 }, { id: 'c', meanLoss: 0.2 }], 0.2)
    assert.deepEqual(r.unfit.map(u => u.id), ['b'])
    assert.equal(r.unfit[0].bar, 0.2)
    assert.deepEqual(fitGate([{ id: 'b', meanLoss: 0.5 }], 0.2, { margin: 3 }).unfit, [])
    // A language model's bar is looser: a speech 5% harder than validation text passes.
    const { FIT_GATES } = await import('../settlement/policy/index.ts')
    assert.deepEqual(fitGate([{ id: 'hard', meanLoss: 1.05 }, { id: 'noise', meanLoss: 1.6 }], 1, FIT_GATES.lm).unfit.map(u => u.id), ['noise'])
    assert.deepEqual(fitGate([{ id: 'hard', meanLoss: 1.05 }], 1, FIT_GATES.classifier).unfit.map(u => u.id), ['hard'])
    for (const bad of [() => fitGate([{ id: 'a', meanLoss: Number.NaN }], 0.1), () => fitGate([], -1), () => fitGate([], 0.1, { margin: 0 })]) {
      assert.throws(bad, (err: Error) => err instanceof InvalidPolicyInputError && err.name === 'InvalidPolicyInputError')
    }
  })
})
