// A job record's phases (peer/market/job-state.ts): final phases stay final, nothing goes
// back to bidding, and a role never takes a phase it has no business in.
import assert from 'node:assert/strict'
import { canTransition, IllegalTransitionError, PHASES_OF, transition, type JobPhase, type JobRole, type JobState } from '../peer/market/job-state.ts'
import { expectThrows } from './helpers/expect-throws.ts'

const job = (role: JobRole, phase: JobPhase): JobState => ({ job: '0x' + '1'.repeat(64), role, phase, announce: {} as JobState['announce'], requester: '0x0', updatedAt: 0 })

describe('job phases', function () {
  it('walks each role\'s path', function () {
    const r = job('requester', 'bidding')
    for (const p of ['assigned', 'submitted', 'failed', 'submitted', 'released'] as const) transition(r, p)
    const w = job('worker', 'bidding')
    for (const p of ['training', 'submitted', 'released'] as const) transition(w, p)
    const v = job('verifier', 'bidding')
    for (const p of ['assigned', 'verifying', 'failed', 'assigned', 'verifying', 'verified'] as const) transition(v, p)
    assert.equal(v.phase, 'verified')
  })

  it('takes the role a bidder is assigned with its phase', function () {
    const s = job('verifier', 'bidding')
    transition(s, 'assigned', 'referee')
    assert.equal(s.role, 'referee')
  })

  it('a released or refunded job is final; repeating the same final phase is a no-op', function () {
    const s = job('requester', 'released')
    for (const p of ['failed', 'refunded', 'assigned', 'submitted'] as const) {
      assert.equal(canTransition(s, p), false)
      expectThrows(() => transition(s, p), IllegalTransitionError)
    }
    transition(s, 'released')
    assert.equal(s.phase, 'released')
    expectThrows(() => transition(job('requester', 'refunded'), 'released'), IllegalTransitionError)
  })

  it('never back to bidding, never a phase of another role', function () {
    expectThrows(() => transition(job('worker', 'training'), 'bidding'), IllegalTransitionError)
    for (const role of Object.keys(PHASES_OF) as JobRole[]) {
      for (const p of ['training', 'verifying', 'released', 'refunded', 'verified'] as const) {
        assert.equal(canTransition(job(role, 'assigned'), p), PHASES_OF[role].includes(p), `${role} -> ${p}`)
      }
    }
    const e = expectThrows(() => transition(job('verifier', 'verified'), 'released'), IllegalTransitionError)
    assert.equal(e.name, 'IllegalTransitionError')
  })
})
