// The forced-error draw and reveal (peer/market/forced-errors.ts): deterministic per
// worker and job, at the policy's rate, bound to the bids digest, and a reveal that
// does not open the bid's commitment or did not draw is refused.
import assert from 'node:assert/strict'
import { Wallet, id, parseUnits } from 'ethers'
import { forcedCommit, forcedRate, forcedSecret, isForced, validReveal } from '../peer/market/forced-errors.ts'
import { forcedErrorRate } from '../settlement/policy/index.ts'

describe('forced errors: the draw, the reveal, the rate', () => {
  const wallet = new Wallet('0x' + '11'.repeat(32))
  const job = id('job-1')
  const digest = id('bids')

  it('derives one secret per worker and job, the same every time', () => {
    assert.equal(forcedSecret(wallet, job), forcedSecret(wallet, job))
    assert.notEqual(forcedSecret(wallet, job), forcedSecret(wallet, id('job-2')))
    assert.notEqual(forcedSecret(wallet, job), forcedSecret(new Wallet('0x' + '22'.repeat(32)), job))
    assert.match(forcedCommit(forcedSecret(wallet, job)), /^0x[0-9a-f]{64}$/)
  })

  it('draws at the rate asked: never at 0, always at 1, about q in between', () => {
    let hits = 0
    const n = 4000
    for (let i = 0; i < n; i++) {
      const secret = id(`secret-${i}`)
      assert.equal(isForced({ secret, job, bidsDigest: digest, rate: 0 }), false)
      assert.equal(isForced({ secret, job, bidsDigest: digest, rate: 1 }), true)
      if (isForced({ secret, job, bidsDigest: digest, rate: 0.1 })) hits++
    }
    assert.ok(Math.abs(hits / n - 0.1) < 0.02, `${hits} of ${n}`)
    assert.throws(() => isForced({ secret: id('s'), job, bidsDigest: digest, rate: 1.5 }), RangeError)
  })

  it('binds the draw to the bids digest fixed after the commitment', () => {
    const secret = forcedSecret(wallet, job)
    const draws = Array.from({ length: 200 }, (_, i) => isForced({ secret, job, bidsDigest: id(`bids-${i}`), rate: 0.5 }))
    assert.ok(draws.includes(true) && draws.includes(false), 'another assignment draws differently')
  })

  it('accepts a reveal only when it opens the commitment and drew a forced error', () => {
    let secret = ''
    for (let i = 0; ; i++) { secret = id(`s-${i}`); if (isForced({ secret, job, bidsDigest: digest, rate: 0.5 })) break }
    const commit = forcedCommit(secret)
    assert.equal(validReveal({ secret, commit, job, bidsDigest: digest, rate: 0.5 }), true)
    assert.equal(validReveal({ secret, commit: undefined, job, bidsDigest: digest, rate: 0.5 }), false, 'no commitment in the bid')
    assert.equal(validReveal({ secret: id('other'), commit, job, bidsDigest: digest, rate: 0.5 }), false, 'does not open the commitment')
    assert.equal(validReveal({ secret, commit, job, bidsDigest: digest, rate: 0 }), false, 'did not draw')
  })

  it('takes its rate from the shared policy over the job\'s terms', () => {
    const fee = parseUnits('100', 18)
    const q = forcedRate({ fee, workerBps: 5000, auditBps: 1000, verifierSlash: parseUnits('100', 18) })
    assert.equal(q, forcedErrorRate({ costSaved: parseUnits('5', 18), reward: 0n, stake: parseUnits('100', 18) }).p)
    assert.ok(q > 0.07 && q < 0.08, `1.5 x 5 / 100: ${q}`)
  })
})
