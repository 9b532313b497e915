// The verdict policy (settlement/policy/verdict.ts) that the simulator judges every job
// by: forced errors prove lazy approvals, a referee's fault slashes the worker and pays
// the rejecting verifier as prover, a result that stands pays its signers, and the
// impossible cases are refused.
import assert from 'node:assert/strict'
import { InvalidPolicyInputError, jobVerdict } from '../settlement/policy/index.ts'
import { expectThrows } from './helpers/expect-throws.ts'

const W = '0xw'
const A = '0xa'
const B = '0xb'

describe('job verdict policy', function () {
  it('pays the worker and the approving verifiers when nobody disputes', function () {
    const v = jobVerdict({ worker: W, verdicts: [{ verifier: B, approved: true }, { verifier: A, approved: true }] })
    assert.deepEqual(v, {
      paid: true,
      refund: false,
      signers: [A, B],
      slashes: [],
      outcomes: [{ peer: A, kind: 'verified' }, { peer: B, kind: 'verified' }, { peer: W, kind: 'verified' }]
    })
  })

  it('slashes the worker on a proven fault, with the first rejecting verifier as prover; approvers record a failure', function () {
    const v = jobVerdict({ worker: W, verdicts: [{ verifier: B, approved: false }, { verifier: A, approved: true }], referee: 'fault', fault: 'skipped-steps' })
    assert.equal(v.paid, false)
    assert.equal(v.refund, true)
    assert.deepEqual(v.signers, [])
    assert.deepEqual(v.slashes, [{ peer: W, role: 'worker', fault: 'skipped-steps', prover: B }])
    assert.deepEqual(v.outcomes, [{ peer: A, kind: 'failed' }, { peer: B, kind: 'verified' }, { peer: W, kind: 'slashed' }])
  })

  it('an audit that finds a fault nobody rejected has no prover', function () {
    const v = jobVerdict({ worker: W, verdicts: [{ verifier: A, approved: true }], referee: 'fault' })
    assert.deepEqual(v.slashes, [{ peer: W, role: 'worker', fault: 'wrong-result', prover: null }])
  })

  it('a forced-error job slashes every approver for lazy approval and pays nobody', function () {
    const v = jobVerdict({ worker: W, verdicts: [{ verifier: A, approved: true }, { verifier: B, approved: false }], forcedError: true })
    assert.equal(v.paid, false)
    assert.equal(v.refund, false)
    assert.deepEqual(v.slashes, [{ peer: A, role: 'verifier', fault: 'lazy-approval', prover: B }], 'the verifier that found the planted fault proves the approval')
    assert.deepEqual(v.outcomes, [{ peer: A, kind: 'slashed' }, { peer: B, kind: 'verified' }])
    const alone = jobVerdict({ worker: W, verdicts: [{ verifier: A, approved: true }], forcedError: true })
    assert.deepEqual(alone.slashes, [{ peer: A, role: 'verifier', fault: 'lazy-approval', prover: null }], 'no finder: the network proves it')
  })

  it('a clean referee finding pays the worker; a verifier that rejected a correct result is not paid and records a failure', function () {
    const v = jobVerdict({ worker: W, verdicts: [{ verifier: A, approved: false }, { verifier: B, approved: true }], referee: 'clean' })
    assert.equal(v.paid, true)
    assert.deepEqual(v.signers, [B])
    assert.deepEqual(v.outcomes, [{ peer: A, kind: 'failed' }, { peer: B, kind: 'verified' }, { peer: W, kind: 'verified' }])
  })

  it('a rejection a dispute refuted is slashed for false accusation, with the wronged worker as prover', function () {
    const v = jobVerdict({ worker: W, verdicts: [{ verifier: A, approved: false }, { verifier: B, approved: true }], referee: 'clean', refuted: [A] })
    assert.equal(v.paid, true)
    assert.deepEqual(v.signers, [B])
    assert.deepEqual(v.slashes, [{ peer: A, role: 'verifier', fault: 'false-accusation', prover: W }])
    assert.deepEqual(v.outcomes, [{ peer: A, kind: 'slashed' }, { peer: B, kind: 'verified' }, { peer: W, kind: 'verified' }])
    // Only a rejecter can be refuted, and only by a referee that found the result clean.
    expectThrows(() => jobVerdict({ worker: W, verdicts: [{ verifier: B, approved: true }], referee: 'clean', refuted: [B] }), InvalidPolicyInputError)
    expectThrows(() => jobVerdict({ worker: W, verdicts: [{ verifier: A, approved: false }], referee: 'fault', refuted: [A] }), InvalidPolicyInputError)
  })

  it('an unverified job is refunded with no outcomes', function () {
    assert.deepEqual(jobVerdict({ worker: W, verdicts: [] }), { paid: false, refund: true, signers: [], slashes: [], outcomes: [] })
  })

  it('refuses impossible inputs', function () {
    expectThrows(() => jobVerdict({ worker: W, verdicts: [{ verifier: A, approved: false }] }), InvalidPolicyInputError)
    expectThrows(() => jobVerdict({ worker: W, verdicts: [{ verifier: A, approved: true }, { verifier: A, approved: true }] }), InvalidPolicyInputError)
    expectThrows(() => jobVerdict({ worker: W, verdicts: [{ verifier: W, approved: true }] }), InvalidPolicyInputError)
    expectThrows(() => jobVerdict({ worker: W, verdicts: [], forcedError: true, referee: 'clean' }), InvalidPolicyInputError)
    expectThrows(() => jobVerdict({ worker: '', verdicts: [] }), InvalidPolicyInputError)
    expectThrows(() => jobVerdict({ worker: W, verdicts: [], fault: 'lazy-approval' as any }), InvalidPolicyInputError)
  })
})
