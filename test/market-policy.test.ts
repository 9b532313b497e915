// The task market's money-deciding policies: the audit and forced-error rates make
// cheating lose in expectation on random costs, rewards and stakes (exactly, in wei);
// reputation is order-independent, decays and punishes slashes hardest; assignment does
// not depend on bid order, prefers cheap and reputable peers by a documented exchange
// rate and never lets a worker verify itself; a slash splits exactly as Staking does.
import assert from 'node:assert/strict'
import { keccak_256 } from '@noble/hashes/sha3.js'
import {
  assignJob, assignmentTiebreak, auditProbability, expectedCheatProfit, forcedErrorRate, reputation, slashFor, splitFee,
  DAY_MS, DEFAULT_ASSIGNMENT_POLICY, DEFAULT_DETERRENCE, DEFAULT_REPUTATION_POLICY, InvalidPolicyInputError,
  type AssignmentJob, type Bid, type Outcome
} from '../settlement/policy/index.ts'
import { expectThrows } from './helpers/expect-throws.ts'
import { xorshift } from './helpers/seeded.ts'

/** A random bigint in [0, 10^digits), skewed so small and large values both occur. */
function randWei (rand: () => number, maxDigits = 24): bigint {
  const digits = 1 + Math.floor(rand() * maxDigits)
  let s = ''
  for (let i = 0; i < digits; i++) s += Math.floor(rand() * 10)
  return BigInt(s)
}

function shuffle<T> (xs: readonly T[], rand: () => number): T[] {
  const out = [...xs]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

/** x = m / 2^e, exactly. */
function dyadic (x: number): { m: bigint, e: bigint } {
  let e = 0n
  while (!Number.isInteger(x)) { x *= 2; e++ }
  return { m: BigInt(x), e }
}

/** a >= n / d for a double a and bigints n >= 0, d > 0, exactly. */
function atLeast (a: number, n: bigint, d: bigint): boolean {
  const { m, e } = dyadic(a)
  return m * d >= n << e
}

const OPEN = 10n ** 18n

describe('market policy: audit rate and forced errors', function () {
  it('sets p to margin x c / (R + S) and the registry rate in whole basis points', function () {
    const r = auditProbability({ costSaved: 10n * OPEN, reward: 50n * OPEN, stake: 50n * OPEN })
    assert.equal(r.breakEven, 0.1)
    assert.ok(Math.abs(r.required - 0.15) < 1e-15)
    assert.ok(atLeast(r.p, 15n, 100n) && r.p - 0.15 < 1e-15)
    assert.equal(r.bps, 1500)
    assert.equal(r.deterred, true)
    assert.equal(r.clamped, null)
    assert.ok(expectedCheatProfit({ costSaved: 10n * OPEN, reward: 50n * OPEN, stake: 50n * OPEN, p: r.p }) < 0n)
    assert.deepEqual(DEFAULT_DETERRENCE, { margin: 1.5, floor: 0.01, cap: 1 })
  })

  it('computes the expected gain of cheating as c - p (R + S), rounded down, with an exact sign', function () {
    // Not caught: paid R and kept c; caught: kept c, lost R and S.
    assert.equal(expectedCheatProfit({ costSaved: 100n, reward: 300n, stake: 700n, p: 0.25 }), 100n - 250n)
    assert.equal(expectedCheatProfit({ costSaved: 100n, reward: 0n, stake: 0n, p: 0.5 }), 100n)
    // Exactly at break-even: 0; a hair either side keeps its sign.
    assert.equal(expectedCheatProfit({ costSaved: 1n, reward: 1n, stake: 1n, p: 0.5 }), 0n)
    assert.equal(expectedCheatProfit({ costSaved: 1n, reward: 1n, stake: 1n, p: 0.5 + 2 ** -53 }), -1n)
    assert.equal(expectedCheatProfit({ costSaved: 1n, reward: 1n, stake: 1n, p: 0.5 - 2 ** -54 }), 0n)
  })

  it('rounds p up, never down, so margin 1 still deters exactly', function () {
    const input = { costSaved: 1n, reward: 1n, stake: 2n, margin: 1, floor: 0 }
    const r = auditProbability(input)
    assert.ok(r.p > 1 / 3 - 1e-16 && atLeast(r.p, 1n, 3n))
    assert.ok(expectedCheatProfit({ ...input, p: r.p }) < 0n)
    assert.equal(r.bps, 3334)
  })

  it('clamps to the floor and to the cap, and says when the cap cannot deter', function () {
    const free = auditProbability({ costSaved: 0n, reward: 10n, stake: 10n })
    assert.deepEqual([free.p, free.bps, free.clamped, free.deterred], [0.01, 100, 'floor', true])
    const low = auditProbability({ costSaved: 1n, reward: 10n * OPEN, stake: 10n * OPEN, floor: 0.05 })
    assert.deepEqual([low.p, low.bps, low.clamped], [0.05, 500, 'floor'])
    const high = auditProbability({ costSaved: 90n, reward: 50n, stake: 50n, cap: 0.5 })
    assert.deepEqual([high.p, high.bps, high.clamped, high.deterred], [0.5, 5000, 'cap', false])
    assert.ok(expectedCheatProfit({ costSaved: 90n, reward: 50n, stake: 50n, p: high.p }) > 0n)
    const nothingAtRisk = auditProbability({ costSaved: 1n, reward: 0n, stake: 0n })
    assert.deepEqual([nothingAtRisk.breakEven, nothingAtRisk.p, nothingAtRisk.deterred], [Infinity, 1, false])
    // The bound just fits under the cap: deterred at exactly the cap.
    const edge = auditProbability({ costSaved: 2n, reward: 1n, stake: 2n, margin: 1.5, floor: 0 })
    assert.deepEqual([edge.p, edge.bps, edge.deterred], [1, 10_000, true])
  })

  it('on random c, R, S and policies: deterred exactly when margin c <= cap (R + S), and then cheating loses', function () {
    const rand = xorshift(7)
    let deterred = 0
    for (let i = 0; i < 3000; i++) {
      const costSaved = randWei(rand)
      const reward = randWei(rand)
      const stake = randWei(rand)
      // Multiples of 2^-10, so the exact check below is plain bigint arithmetic.
      const margin = 1 + Math.floor(rand() * 2048) / 1024
      const cap = Math.floor(rand() * 1025) / 1024
      const floor = Math.floor(rand() * (cap * 1024 + 1) * 0.3) / 1024
      const r = auditProbability({ costSaved, reward, stake, margin, floor, cap })
      const capRS = (reward + stake) * BigInt(cap * 1024) * 1024n
      const mc = costSaved * BigInt(margin * 1024) * 1024n
      assert.equal(r.deterred, mc <= capRS, `case ${i}`)
      assert.ok(r.p >= floor && r.p <= cap)
      assert.ok(Math.abs(r.bps - r.p * 10_000) < 1, `bps ${r.bps} for p ${r.p}, case ${i}`)
      if (r.deterred) {
        deterred++
        assert.ok(BigInt(r.bps) * (reward + stake) * 1024n >= costSaved * BigInt(margin * 1024) * 10_000n, `bps below the bound, case ${i}`)
        assert.ok(reward + stake === 0n || atLeast(r.p, costSaved * BigInt(margin * 1024), (reward + stake) * 1024n), `p below the bound, case ${i}`)
        const profit = expectedCheatProfit({ costSaved, reward, stake, p: r.p })
        if (costSaved > 0n) {
          assert.ok(profit < 0n, `cheating pays at p = ${r.p}, case ${i}`)
          // And by at least the margin: c - margin c = -(margin - 1) c.
          assert.ok(Number(profit) <= -(margin - 1) * Number(costSaved) * (1 - 1e-9) + 1)
        } else assert.ok(profit <= 0n)
      } else {
        assert.equal(r.p, cap)
      }
    }
    assert.ok(deterred > 500 && deterred < 2900, `deterred ${deterred} of 3000`)
  })

  it('sets the forced-error rate from the verifier\'s saved cost, pay and stake', function () {
    // v = 2, r_v = 8, S_v = 40: q >= 1.5 x 2 / 48 = 0.0625.
    const q = forcedErrorRate({ costSaved: 2n * OPEN, reward: 8n * OPEN, stake: 40n * OPEN })
    assert.equal(q.p, 0.0625)
    assert.equal(q.bps, 625)
    assert.ok(expectedCheatProfit({ costSaved: 2n * OPEN, reward: 8n * OPEN, stake: 40n * OPEN, p: q.p }) < 0n)
    const lazy = forcedErrorRate({ costSaved: 2n * OPEN, reward: 8n * OPEN, stake: 40n * OPEN, margin: 1, floor: 0 })
    assert.equal(expectedCheatProfit({ costSaved: 2n * OPEN, reward: 8n * OPEN, stake: 40n * OPEN, p: lazy.p - 2 ** -20 }) > 0n, true)
  })

  it('composes with the fee split and the slash: the registry defaults deter a cheat saving up to 6.66 OPEN on a 100 OPEN job', function () {
    const R = splitFee({ fee: 100n * OPEN, worker: '0x01', verifiers: ['0x02'] }).parts.worker
    const S = slashFor({ role: 'worker', stake: 100n * OPEN, registrySlashAmount: 50n * OPEN, proverShareBps: 5000 }).slashed
    assert.equal(R + S, 100n * OPEN)
    // registry auditRateBps = 1000 (10%): with margin 1.5, c up to 10% x 100 / 1.5.
    assert.ok(auditProbability({ costSaved: 666n * OPEN / 100n, reward: R, stake: S }).bps <= 1000)
    assert.ok(auditProbability({ costSaved: 667n * OPEN / 100n, reward: R, stake: S }).bps > 1000)
  })

  it('refuses malformed input', function () {
    const ok = { costSaved: 1n, reward: 1n, stake: 1n }
    for (const bad of [
      { ...ok, costSaved: -1n }, { ...ok, reward: 1 as unknown as bigint }, { ...ok, stake: undefined as unknown as bigint },
      { ...ok, margin: 0.9 }, { ...ok, margin: NaN }, { ...ok, floor: 0.5, cap: 0.4 }, { ...ok, cap: 1.5 }, { ...ok, floor: -0.1 }
    ]) {
      expectThrows(() => auditProbability(bad), InvalidPolicyInputError)
      expectThrows(() => forcedErrorRate(bad), InvalidPolicyInputError)
    }
    expectThrows(() => expectedCheatProfit({ ...ok, p: 1.1 }), InvalidPolicyInputError)
    expectThrows(() => expectedCheatProfit({ ...ok, p: NaN }), InvalidPolicyInputError)
  })
})

describe('market policy: reputation', function () {
  const now = 1_000 * DAY_MS

  it('gives a newcomer the prior mean', function () {
    const r = reputation([], now)
    assert.deepEqual(r, { score: 0.5, alpha: 1, beta: 1, counts: { verified: 0, failed: 0, timeout: 0, slashed: 0 } })
    assert.equal(reputation([], now, { priorAlpha: 2, priorBeta: 1 }).score, 2 / 3)
    assert.equal(DEFAULT_REPUTATION_POLICY.halfLifeMs, 30 * DAY_MS)
  })

  it('counts verified jobs for, failures against, a timeout half and a slash ten times', function () {
    const r = reputation([{ kind: 'verified', at: now }, { kind: 'verified', at: now, weight: 2 }, { kind: 'failed', at: now }], now)
    assert.deepEqual([r.alpha, r.beta, r.score], [4, 2, 4 / 6])
    assert.deepEqual(r.counts, { verified: 2, failed: 1, timeout: 0, slashed: 0 })
    assert.equal(reputation([{ kind: 'timeout', at: now }], now).beta, 1.5)
    const slashed = reputation([{ kind: 'slashed', at: now }], now)
    const tenFailures = reputation(Array.from({ length: 10 }, () => ({ kind: 'failed' as const, at: now })), now)
    assert.equal(slashed.score, tenFailures.score)
    assert.equal(slashed.score, 1 / 12)
  })

  it('halves an outcome\'s weight every half-life and never counts a future one more than in full', function () {
    const h = DEFAULT_REPUTATION_POLICY.halfLifeMs
    assert.equal(reputation([{ kind: 'failed', at: now - h }], now).beta, 1.5)
    assert.equal(reputation([{ kind: 'verified', at: now - 2 * h }], now).alpha, 1.25)
    assert.equal(reputation([{ kind: 'verified', at: now + h }], now).alpha, 2)
    assert.equal(reputation([{ kind: 'failed', at: now - 3 }], now, { halfLifeMs: 3 }).beta, 1.5)
    // An old slash fades: a year on it costs a peer with steady honest work almost nothing.
    const work: Outcome[] = Array.from({ length: 60 }, (_, d) => ({ kind: 'verified', at: now - (d + 1) * DAY_MS }))
    const clean = reputation(work, now).score
    const old = reputation([...work, { kind: 'slashed', at: now - 365 * DAY_MS }], now).score
    const recent = reputation([...work, { kind: 'slashed', at: now - DAY_MS }], now).score
    assert.ok(clean - old < 0.01 && clean - recent > 0.15, `${clean} ${old} ${recent}`)
  })

  it('does not depend on the order of the history', function () {
    const rand = xorshift(3)
    const kinds = ['verified', 'failed', 'timeout', 'slashed'] as const
    for (let t = 0; t < 50; t++) {
      const history: Outcome[] = Array.from({ length: 1 + Math.floor(rand() * 40) }, () => ({
        kind: kinds[Math.floor(rand() * (rand() < 0.7 ? 1 : 4))],
        at: now - Math.floor(rand() * 200 * DAY_MS),
        weight: rand() < 0.5 ? undefined : rand() * 5
      }))
      const r = reputation(history, now)
      assert.ok(r.score >= 0 && r.score <= 1)
      for (let k = 0; k < 3; k++) assert.deepEqual(reputation(shuffle(history, rand), now), r)
    }
  })

  it('puts a caught cheater below honest peers with the same record otherwise', function () {
    const verified = (n: number): Outcome[] => Array.from({ length: n }, (_, i) => ({ kind: 'verified' as const, at: now - i * DAY_MS }))
    const cheater = reputation([...verified(3), { kind: 'slashed', at: now - DAY_MS }], now)
    for (const n of [0, 1, 3]) assert.ok(cheater.score < reputation(verified(n), now).score)
  })

  it('refuses malformed input', function () {
    expectThrows(() => reputation([{ kind: 'lied' as 'failed', at: now }], now), InvalidPolicyInputError)
    expectThrows(() => reputation([{ kind: 'failed', at: NaN }], now), InvalidPolicyInputError)
    expectThrows(() => reputation([{ kind: 'failed', at: now, weight: -1 }], now), InvalidPolicyInputError)
    expectThrows(() => reputation([], Infinity), InvalidPolicyInputError)
    expectThrows(() => reputation([], now, { halfLifeMs: 0 }), InvalidPolicyInputError)
    expectThrows(() => reputation([], now, { priorBeta: 0 }), InvalidPolicyInputError)
    expectThrows(() => reputation([], now, { penalty: { failed: 1, timeout: -1, slashed: 10 } }), InvalidPolicyInputError)
    expectThrows(() => reputation(null as unknown as Outcome[], now), InvalidPolicyInputError)
  })
})

describe('market policy: assignment', function () {
  const job: AssignmentJob = { id: 'job-1', maxPrice: 1000n, requiredStake: 100n, workers: 1, verifiers: 2, requester: 'req' }
  const bid = (peer: string, over: Partial<Bid> = {}): Bid => ({ peer, price: 500n, stake: 100n, reputation: 0.5, ...over })

  it('picks referees from the verifier bids left over, never a worker or verifier, without needing one to be complete', function () {
    const bids = [bid('w', { role: 'worker', price: 100n }), bid('v1', { role: 'verifier', reputation: 0.9 }), bid('v2', { role: 'verifier', reputation: 0.8 }), bid('r', { role: 'verifier', reputation: 0.7 }), bid('x', { role: 'verifier', reputation: 0.6 })]
    const a = assignJob({ ...job, referees: 1 }, bids)
    assert.deepEqual([a.workers, a.verifiers, a.referees], [['w'], ['v1', 'v2'], ['r']])
    assert.equal(a.bids.find(b => b.peer === 'r')?.chosen, 'referee')
    const none = assignJob({ ...job, referees: 1 }, bids.slice(0, 3))
    assert.deepEqual(none.referees, [])
    assert.equal(none.complete, true)
    assert.deepEqual(assignJob(job, bids).referees, [], 'none unless asked for')
  })

  it('prefers the cheaper of two equally reputable bidders', function () {
    const a = assignJob({ ...job, verifiers: 0 }, [bid('a', { price: 600n }), bid('b', { price: 599n })])
    assert.deepEqual(a.workers, ['b'])
    assert.equal(a.complete, true)
    const b = a.bids.find(x => x.peer === 'b')
    assert.equal(b?.worker?.rank, 0)
    assert.equal(b?.parts.price, 0.401)
  })

  it('lets a cheap, low-reputation bidder win only with a discount above 0.7 x the reputation gap x maxPrice', function () {
    // Reputation 0.9 against 0.5: the gap 0.4 is worth 0.28 x maxPrice = 280 wei.
    const reputable = bid('good', { price: 800n, reputation: 0.9 })
    assert.deepEqual(assignJob({ ...job, verifiers: 0 }, [reputable, bid('cheap', { price: 521n })]).workers, ['good'])
    assert.deepEqual(assignJob({ ...job, verifiers: 0 }, [reputable, bid('cheap', { price: 519n })]).workers, ['cheap'])
    // A slashed peer (1/12) must undercut a newcomer (1/2) by 0.7 x 5/12 x maxPrice, about 292 wei.
    const newcomer = bid('new', { price: 800n })
    assert.deepEqual(assignJob({ ...job, verifiers: 0 }, [newcomer, bid('cheat', { price: 509n, reputation: 1 / 12 })]).workers, ['new'])
    assert.deepEqual(assignJob({ ...job, verifiers: 0 }, [newcomer, bid('cheat', { price: 507n, reputation: 1 / 12 })]).workers, ['cheat'])
  })

  it('rejects bids over the price, under the stake, without capacity, too slow, or from the requester, and says why', function () {
    const a = assignJob({ ...job, deadlineMs: 60_000, exclude: ['old'] }, [
      bid('pricey', { price: 1001n }), bid('poor', { stake: 99n }), bid('busy', { capacity: 0 }),
      bid('slow', { etaMs: 60_001 }), bid('req'), bid('old'), bid('fine', { etaMs: 60_000, capacity: 1 })
    ])
    const why = Object.fromEntries(a.bids.map(b => [b.peer, b.reasons]))
    assert.deepEqual(why.pricey, [{ reason: 'price-above-max', maxPrice: 1000n }])
    assert.deepEqual(why.poor, [{ reason: 'stake-below-required', role: 'worker', required: 100n }, { reason: 'stake-below-required', role: 'verifier', required: 100n }])
    assert.deepEqual(why.busy, [{ reason: 'no-capacity' }])
    assert.deepEqual(why.req, [{ reason: 'excluded' }])
    assert.deepEqual(why.old, [{ reason: 'excluded' }])
    assert.deepEqual(why.fine, [])
    // Too slow to work, still fine to verify.
    assert.deepEqual(why.slow, [{ reason: 'too-slow', deadlineMs: 60_000 }])
    assert.deepEqual(a.workers, ['fine'])
    assert.deepEqual(a.verifiers, ['slow'])
    assert.equal(a.complete, false)
    for (const p of ['pricey', 'poor', 'busy', 'req', 'old']) {
      const b = a.bids.find(x => x.peer === p)
      assert.equal(b?.worker, undefined)
      assert.equal(b?.verifier, undefined)
      assert.equal(b?.chosen, null)
    }
  })

  it('counts stake above the required only up to the cap', function () {
    const parts = (stake: bigint): number | undefined => assignJob(job, [bid('x', { stake })]).bids[0].parts.stake
    assert.deepEqual([parts(100n), parts(150n), parts(200n), parts(10_000n)], [0, 0.5, 1, 1])
    assert.equal(assignJob({ ...job, requiredStake: 0n }, [bid('x', { stake: 0n })]).bids[0].parts.stake, 1)
    assert.equal(DEFAULT_ASSIGNMENT_POLICY.stakeCapBps, 20_000)
  })

  it('breaks ties by keccak256(job id || peer), whatever the bid order', function () {
    const bids = ['p1', 'p2', 'p3', 'p4', 'p5'].map(p => bid(p))
    const expected = bids.map(b => b.peer).sort((a, b) => {
      const ha = Buffer.from(keccak_256(new TextEncoder().encode('job-1' + a))).toString('hex')
      const hb = Buffer.from(keccak_256(new TextEncoder().encode('job-1' + b))).toString('hex')
      return ha < hb ? -1 : 1
    })
    const a = assignJob({ ...job, workers: 2, verifiers: 3 }, bids)
    assert.deepEqual([...a.workers, ...a.verifiers], expected)
    assert.equal(a.bids[0].tiebreak, assignmentTiebreak('job-1', 'p1'))
    // Another job orders the same bidders differently.
    const orders = new Set<string>()
    for (let j = 0; j < 20; j++) orders.add(assignJob({ ...job, id: `job-${j}`, workers: 5, verifiers: 0 }, bids).workers.join())
    assert.ok(orders.size > 10)
  })

  it('is deterministic under bid permutation, and never picks a worker as verifier, on random markets', function () {
    const rand = xorshift(11)
    const roles = [undefined, 'any', 'worker', 'verifier'] as const
    for (let t = 0; t < 200; t++) {
      const n = Math.floor(rand() * 25)
      const bids: Bid[] = Array.from({ length: n }, (_, i) => ({
        peer: `peer-${i}`,
        price: BigInt(Math.floor(rand() * 1200)),
        stake: BigInt(Math.floor(rand() * 300)),
        // Coarse values, so exact ties happen.
        reputation: Math.floor(rand() * 5) / 4,
        capacity: rand() < 0.1 ? 0 : undefined,
        role: roles[Math.floor(rand() * 4)]
      }))
      const j: AssignmentJob = { ...job, id: `job-${t}`, workers: Math.floor(rand() * 4), verifiers: Math.floor(rand() * 4), requiredVerifierStake: 50n }
      const a = assignJob(j, bids)
      for (let k = 0; k < 3; k++) assert.deepEqual(assignJob(j, shuffle(bids, rand)), a)
      assert.ok(a.workers.length <= j.workers && a.verifiers.length <= j.verifiers)
      assert.equal(new Set([...a.workers, ...a.verifiers]).size, a.workers.length + a.verifiers.length)
      for (const w of a.workers) assert.notEqual(bids.find(b => b.peer === w)?.role, 'verifier')
      for (const v of a.verifiers) assert.notEqual(bids.find(b => b.peer === v)?.role, 'worker')
      // The chosen are the best eligible: nobody unchosen outranks a chosen worker.
      const ranked = a.bids.filter(b => b.worker !== undefined).sort((x, y) => (x.worker?.rank ?? 0) - (y.worker?.rank ?? 0))
      assert.deepEqual(a.workers, ranked.slice(0, j.workers).map(b => b.peer))
      for (const b of a.bids) {
        if (b.worker === undefined && b.verifier === undefined) assert.ok(b.reasons.length > 0, `${b.peer} eligible for nothing without a reason`)
      }
    }
  })

  it('ranks verifiers by reputation and stake, not price', function () {
    const a = assignJob({ ...job, workers: 0, verifiers: 1 }, [bid('cheap', { price: 0n }), bid('trusted', { price: 1000n, reputation: 0.6 })])
    assert.deepEqual(a.verifiers, ['trusted'])
  })

  it('honours a requester\'s device need for the worker only: another kind, an unstated device or a slower rate is refused, with why', function () {
    const cpu = { kind: 'cpu', class: 'cpu/x64 EPYC/ort 1.30.0', gflops: 40 }
    const gpu = { kind: 'webgpu', class: 'webgpu/NVIDIA L4/ort 1.30.0', gflops: 900 }
    const bids = [
      bid('cheap-cpu', { role: 'worker', price: 1n, device: cpu }),
      bid('silent', { role: 'worker', price: 1n }),
      bid('slow-gpu', { role: 'worker', price: 2n, device: { ...gpu, gflops: 100 } }),
      bid('gpu', { role: 'worker', price: 900n, device: gpu }),
      bid('v-cpu', { role: 'verifier', device: cpu }),
      bid('v-none', { role: 'verifier' })
    ]
    const a = assignJob({ ...job, needs: { device: 'webgpu', minGflops: 500 } }, bids)
    assert.deepEqual([a.workers, [...a.verifiers].sort()], [['gpu'], ['v-cpu', 'v-none']], 'verifiers may run on any device')
    const why = (p: string) => a.bids.find(b => b.peer === p)?.reasons
    assert.deepEqual(why('cheap-cpu'), [{ reason: 'wrong-device', device: 'webgpu' }, { reason: 'below-min-rate', minGflops: 500 }])
    assert.deepEqual(why('silent'), [{ reason: 'wrong-device', device: 'webgpu' }, { reason: 'below-min-rate', minGflops: 500 }])
    assert.deepEqual(why('slow-gpu'), [{ reason: 'below-min-rate', minGflops: 500 }])
    // A rate alone: any kind that states enough.
    assert.deepEqual(assignJob({ ...job, verifiers: 0, needs: { minGflops: 30 } }, bids).workers, ['cheap-cpu'])
    // No need: the cheapest, whatever its device (today's behaviour).
    assert.deepEqual(assignJob({ ...job, verifiers: 0 }, bids).workers, ['cheap-cpu'])
    expectThrows(() => assignJob({ ...job, needs: { minGflops: -1 } }, bids), InvalidPolicyInputError)
    expectThrows(() => assignJob({ ...job, needs: { device: '' } }, bids), InvalidPolicyInputError)
    expectThrows(() => assignJob(job, [bid('a', { device: { kind: 'cpu', class: '', gflops: 1 } })]), InvalidPolicyInputError)
    expectThrows(() => assignJob(job, [bid('a', { device: { kind: 'cpu', class: 'c', gflops: NaN } })]), InvalidPolicyInputError)
  })

  it('picks a referee on the worker\'s device class before a better-ranked one on another (only it replays the work bit for bit)', function () {
    const cpuA = { kind: 'cpu', class: 'cpu/x64 EPYC/ort 1.30.0', gflops: 40 }
    const cpuB = { kind: 'cpu', class: 'cpu/arm64 Neoverse/ort 1.30.0', gflops: 30 }
    const bids = [
      bid('w', { role: 'worker', price: 100n, device: cpuA }),
      bid('v1', { role: 'verifier', reputation: 0.9, device: cpuB }),
      bid('v2', { role: 'verifier', reputation: 0.8, device: cpuB }),
      bid('r-other', { role: 'verifier', reputation: 0.7, device: cpuB }),
      bid('r-same', { role: 'verifier', reputation: 0.1, device: cpuA })
    ]
    assert.deepEqual(assignJob({ ...job, referees: 1 }, bids).referees, ['r-same'])
    assert.deepEqual(assignJob({ ...job, referees: 2 }, bids).referees, ['r-same', 'r-other'])
    // Nobody left on the worker's class: the best remaining, as before.
    assert.deepEqual(assignJob({ ...job, referees: 1 }, bids.slice(0, 4)).referees, ['r-other'])
  })

  it('refuses malformed input', function () {
    expectThrows(() => assignJob(job, [bid('a'), bid('a', { price: 1n })]), InvalidPolicyInputError)
    expectThrows(() => assignJob(job, [bid('a', { price: -1n })]), InvalidPolicyInputError)
    expectThrows(() => assignJob(job, [bid('a', { reputation: 1.5 })]), InvalidPolicyInputError)
    expectThrows(() => assignJob(job, [bid('a', { reputation: NaN })]), InvalidPolicyInputError)
    expectThrows(() => assignJob(job, [bid('a', { role: 'boss' as 'any' })]), InvalidPolicyInputError)
    expectThrows(() => assignJob(job, [bid('')]), InvalidPolicyInputError)
    expectThrows(() => assignJob({ ...job, workers: 1.5 }, []), InvalidPolicyInputError)
    expectThrows(() => assignJob({ ...job, maxPrice: 10 as unknown as bigint }, []), InvalidPolicyInputError)
    expectThrows(() => assignJob(job, [], { weights: { price: 5000, reputation: 5000, stake: 1 } }), InvalidPolicyInputError)
    expectThrows(() => assignJob(job, [], { stakeCapBps: 9999 }), InvalidPolicyInputError)
  })
})

describe('market policy: slashing', function () {
  const registry = { registrySlashAmount: 50n * OPEN, proverShareBps: 5000 }

  it('takes the registry amount and splits it between prover and treasury', function () {
    const s = slashFor({ fault: 'wrong-result', role: 'worker', stake: 100n * OPEN, ...registry })
    assert.deepEqual(s, { fault: 'wrong-result', role: 'worker', roleId: 0, amount: 50n * OPEN, slashed: 50n * OPEN, toProver: 25n * OPEN, toTreasury: 25n * OPEN, submit: true })
    const v = slashFor({ fault: 'lazy-approval', role: 'verifier', stake: 100n * OPEN, ...registry })
    assert.equal(v.roleId, 1)
    assert.equal(v.slashed, 50n * OPEN)
  })

  it('takes no more than the stake, rounds the prover\'s part down as Staking does, and pays the treasury all without a prover', function () {
    const s = slashFor({ fault: 'copied-result', role: 'worker', stake: 33n, registrySlashAmount: 50n, proverShareBps: 5000 })
    assert.deepEqual([s.slashed, s.toProver, s.toTreasury], [33n, 16n, 17n])
    const n = slashFor({ role: 'aggregator', stake: 100n, registrySlashAmount: 50n, proverShareBps: 5000, hasProver: false })
    assert.deepEqual([n.fault, n.roleId, n.toProver, n.toTreasury], [null, 2, 0n, 50n])
    const none = slashFor({ fault: 'stale-result', role: 'worker', stake: 0n, ...registry })
    assert.deepEqual([none.slashed, none.submit], [0n, false])
  })

  it('always splits exactly, on random stakes, amounts and shares', function () {
    const rand = xorshift(5)
    for (let i = 0; i < 1000; i++) {
      const stake = randWei(rand)
      const registrySlashAmount = randWei(rand)
      const proverShareBps = Math.floor(rand() * 10_001)
      const s = slashFor({ fault: 'skipped-steps', role: 'worker', stake, registrySlashAmount, proverShareBps })
      assert.equal(s.slashed, stake < registrySlashAmount ? stake : registrySlashAmount)
      assert.equal(s.toProver + s.toTreasury, s.slashed)
      assert.equal(s.toProver, s.slashed * BigInt(proverShareBps) / 10_000n)
    }
  })

  it('refuses a fault of another role and malformed input', function () {
    expectThrows(() => slashFor({ fault: 'lazy-approval', role: 'worker', stake: 1n, ...registry }), InvalidPolicyInputError)
    expectThrows(() => slashFor({ fault: 'wrong-result', role: 'verifier', stake: 1n, ...registry }), InvalidPolicyInputError)
    expectThrows(() => slashFor({ fault: 'unpaid-refusal' as 'wrong-result', role: 'worker', stake: 1n, ...registry }), InvalidPolicyInputError)
    expectThrows(() => slashFor({ role: 'requester' as 'worker', stake: 1n, ...registry }), InvalidPolicyInputError)
    expectThrows(() => slashFor({ role: 'worker', stake: -1n, ...registry }), InvalidPolicyInputError)
    expectThrows(() => slashFor({ role: 'worker', stake: 1n, registrySlashAmount: 1n, proverShareBps: 10_001 }), InvalidPolicyInputError)
    expectThrows(() => slashFor({ role: 'worker', stake: 1n, registrySlashAmount: 1n, proverShareBps: 0.5 }), InvalidPolicyInputError)
  })
})
