// The release rule and the fault rule the live market and the simulator share
// (settlement/policy/release.ts, verdict.ts): who can get a job's escrow released, with
// whose signatures, and which fault a failing check proves.
import assert from 'node:assert/strict'
import { classifyFault, InvalidPolicyInputError, releaseDecision, type ReleaseVerdict } from '../settlement/policy/index.ts'
import { expectThrows } from './helpers/expect-throws.ts'

const ok = (verifier: string, valid = true): ReleaseVerdict => ({ verifier, approved: true, valid })
const no = (verifier: string): ReleaseVerdict => ({ verifier, approved: false, valid: false })

describe('release policy', function () {
  it('releases with every valid approval once the quorum approved and every assigned verifier spoke', function () {
    const d = releaseDecision({ assigned: ['0xA', '0xB'], verdicts: [ok('0xB'), ok('0xA')], quorum: 2 })
    assert.deepEqual(d, { release: true, signers: ['0xB', '0xA'] })
  })

  it('waits for a silent verifier until the grace is over, then releases with the approvals it has', function () {
    const input = { assigned: ['0xA', '0xB'], verdicts: [ok('0xA')], quorum: 1 }
    assert.deepEqual(releaseDecision(input), { release: false, signers: ['0xA'], wait: 'silent-verifiers' })
    assert.deepEqual(releaseDecision({ ...input, graceOver: true }), { release: true, signers: ['0xA'] })
  })

  it('a forged or unstaked approval does not count toward the quorum', function () {
    const d = releaseDecision({ assigned: ['0xA', '0xB'], verdicts: [ok('0xA'), ok('0xB', false)], quorum: 2, graceOver: true })
    assert.equal(d.release, false)
    assert.equal(d.wait, 'quorum')
    assert.deepEqual(d.signers, ['0xA'])
  })

  it('one signer counts once, whatever case its address is in', function () {
    const d = releaseDecision({ assigned: ['0xab'], verdicts: [ok('0xAB'), ok('0xab')], quorum: 2, graceOver: true })
    assert.deepEqual(d, { release: false, signers: ['0xAB'], wait: 'quorum' })
  })

  it('a rejection holds the payment for good; one the referee refuted does not, and the referee\'s approval counts', function () {
    const held = releaseDecision({ assigned: ['0xA', '0xB'], verdicts: [ok('0xA'), no('0xB')], quorum: 1, graceOver: true })
    assert.deepEqual(held, { release: false, signers: [], wait: 'rejected' })
    const cleared = releaseDecision({ assigned: ['0xA', '0xB'], verdicts: [no('0xB')], refuted: ['0xb'], referee: { address: '0xR', valid: true }, quorum: 1, graceOver: true })
    assert.deepEqual(cleared, { release: true, signers: ['0xR'] })
    const forgedReferee = releaseDecision({ assigned: ['0xB'], verdicts: [no('0xB')], refuted: ['0xB'], referee: { address: '0xR', valid: false }, quorum: 1 })
    assert.deepEqual(forgedReferee, { release: false, signers: [], wait: 'quorum' })
  })

  it('a revealed forced error is never paid, however many approved it', function () {
    const d = releaseDecision({ assigned: ['0xA', '0xB'], verdicts: [ok('0xA'), ok('0xB')], quorum: 1, forcedError: true, graceOver: true })
    assert.deepEqual(d, { release: false, signers: [], wait: 'forced-error' })
  })

  it('no verdict, no release', function () {
    assert.deepEqual(releaseDecision({ assigned: ['0xA'], verdicts: [], quorum: 1, graceOver: true }), { release: false, signers: [], wait: 'quorum' })
  })

  it('refuses a quorum below one and malformed verdicts', function () {
    for (const quorum of [0, -1, 1.5, Number.NaN]) expectThrows(() => releaseDecision({ assigned: [], verdicts: [], quorum }), InvalidPolicyInputError)
    expectThrows(() => releaseDecision({ assigned: [], verdicts: [{ verifier: '0xA', approved: 'yes' } as unknown as ReleaseVerdict], quorum: 1 }), InvalidPolicyInputError)
  })
})

describe('fault policy', function () {
  it('maps what a check found to the fault it proves', function () {
    assert.equal(classifyFault({ replayMismatch: true }), 'skipped-steps')
    assert.equal(classifyFault({ notThisRun: true }), 'stale-result')
    assert.equal(classifyFault({ replayMismatch: true, notThisRun: true }), 'skipped-steps')
    assert.equal(classifyFault({}), 'wrong-result')
  })

  it('a failure on the network proves no fault, whatever else was seen', function () {
    assert.equal(classifyFault({ unproven: true, replayMismatch: true }), null)
  })
})
