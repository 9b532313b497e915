// The task market's wire messages: each one seals and opens in a signed envelope, and
// what a peer must never accept (a passing verdict without the escrow signature, wei
// that is not an integer, a job id that is not 32 bytes, a message on the wrong topic)
// is refused with a typed error before anything acts on it.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { openEnvelope, sealEnvelope } from '../protocols/envelope.ts'
import { InvalidBodyError, UnexpectedMessageTypeError } from '../protocols/errors.ts'
import { defaultRegistry, DisputeClaimMessage, DisputeQueryMessage, JobAnnounceMessage, JobAssignMessage, JobBidMessage, JobResultMessage, JobRulingMessage, JobVerdictMessage } from '../protocols/messages/index.ts'
import { signerFromPrivateKey } from '../protocols/signer.ts'
import { JOBS_TOPIC, VERDICTS_TOPIC } from '../protocols/topics.ts'
import { expectThrows } from './helpers/expect-throws.ts'

const registry = defaultRegistry()
const signer = signerFromPrivateKey(randomBytes(32))
const job = '0x' + 'ab'.repeat(32)
const address = '0x' + '12'.repeat(20)
const cid = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

const bodies = {
  [JobAnnounceMessage.type]: { job, kind: 'train', spec: { datanet: cid, base: cid, params: { steps: 200, lr: 0.002 } }, escrow: { chainId: 31337, contract: address, amount: '100000000000000000000', deadline: 1_900_000_000_000 }, maxPrice: '100000000000000000000', requiredStake: '100000000000000000000', workers: 1, verifiers: 2, bidUntil: 1_800_000_000_000 },
  [JobBidMessage.type]: { job, role: 'worker', price: '90000000000000000000', etaMs: 60_000, stake: '100000000000000000000' },
  [JobAssignMessage.type]: { job, workers: [{ peer: '16Uiu2HAm4iJX4ycKu9TFHRiRvTNm5fAnuBcMAnS37wnftN7nDkwd', address, price: '9' }], verifiers: [{ peer: '16Uiu2HAmCzB9pLDsbFErZjv9DoY4trcBS6urPL44KZ3dmu6tFPju', address, price: '1' }], bidsDigest: job, escrow: { spec: job, signature: '0x' + '11'.repeat(65) } },
  [JobResultMessage.type]: { job, worker: address, result: cid, resultHash: job, receipt: { head: job, entries: 4, every: 50, steps: 200, chain: cid }, participation: '0x' + '22'.repeat(65) },
  [JobVerdictMessage.type]: { job, worker: address, resultHash: job, ok: true, checked: [1, 3], completion: '0x' + '11'.repeat(65), participation: '0x' + '22'.repeat(65) },
  [DisputeQueryMessage.type]: { job, resultHash: job, segment: 1, step: 75, state: false },
  [DisputeClaimMessage.type]: { job, resultHash: job, step: 75, hash: 'cd'.repeat(32) },
  [JobRulingMessage.type]: { job, worker: address, resultHash: job, challenger: address, step: 99, rounds: 6, faulty: 'challenger', evidence: { hash: job, cid }, completion: '0x' + '11'.repeat(65) }
}

const seal = (type: string, body: unknown): Uint8Array => sealEnvelope({ network: 'devnet', type, body, signer, registry })

describe('task market messages', () => {
  it('every job message seals and opens, signed by its sender', () => {
    for (const [type, body] of Object.entries(bodies)) {
      const env = openEnvelope(seal(type, body), { network: 'devnet', registry })
      assert.equal(env.type, type)
      assert.deepEqual(env.body, body)
    }
  })

  it('refuses bodies a peer must not act on, with InvalidBodyError', () => {
    const bad: Array<[string, unknown]> = [
      [JobVerdictMessage.type, { ...bodies[JobVerdictMessage.type], completion: undefined }],
      [JobVerdictMessage.type, { ...bodies[JobVerdictMessage.type], ok: false }],
      [JobBidMessage.type, { ...bodies[JobBidMessage.type], price: '1.5' }],
      [JobBidMessage.type, { ...bodies[JobBidMessage.type], price: '-1' }],
      [JobBidMessage.type, { ...bodies[JobBidMessage.type], job: '0xabc' }],
      [JobAnnounceMessage.type, { ...bodies[JobAnnounceMessage.type], workers: 0 }],
      [JobAnnounceMessage.type, { ...bodies[JobAnnounceMessage.type], kind: 'mine-bitcoin' }],
      [JobResultMessage.type, { ...bodies[JobResultMessage.type], result: 'not a cid' }],
      // A state hash is the checkpoint's bare hex; a ruling for the worker carries the referee's completion, any other none.
      [JobVerdictMessage.type, { ...bodies[JobVerdictMessage.type], ok: false, completion: undefined, evidence: { hash: job, cid }, dispute: { segment: 0, step: 50, hash: job } }],
      [DisputeClaimMessage.type, { ...bodies[DisputeClaimMessage.type], hash: 'zz' }],
      [DisputeQueryMessage.type, { ...bodies[DisputeQueryMessage.type], step: -1 }],
      [JobRulingMessage.type, { ...bodies[JobRulingMessage.type], completion: undefined }],
      [JobRulingMessage.type, { ...bodies[JobRulingMessage.type], faulty: 'worker' }],
      [JobRulingMessage.type, { ...bodies[JobRulingMessage.type], faulty: 'nobody', completion: undefined }]
    ]
    for (const [type, body] of bad) {
      expectThrows(() => seal(type, body), InvalidBodyError)
    }
    // A failing verdict carries evidence and no completion signature.
    const failing = { ...bodies[JobVerdictMessage.type], ok: false, completion: undefined, evidence: { hash: job, cid } }
    assert.equal(openEnvelope<{ ok: boolean }>(seal(JobVerdictMessage.type, failing), { network: 'devnet', registry }).body.ok, false)
  })

  it('a bid states its device and an announce what device its worker needs; a malformed one is refused', () => {
    const device = { device: 'webgpu', ort: '1.30.0', hardware: 'NVIDIA L4', gflops: 912.5 }
    const bid = { ...bodies[JobBidMessage.type], device }
    assert.deepEqual(openEnvelope(seal(JobBidMessage.type, bid), { network: 'devnet', registry }).body, bid)
    // The longest stamp still fits the bid's size limit.
    const longest = { ...bid, commit: job, device: { ...device, hardware: 'x'.repeat(160), ort: '1'.repeat(32), gflops: 1e9 } }
    assert.deepEqual(openEnvelope(seal(JobBidMessage.type, longest), { network: 'devnet', registry }).body, longest)
    const announce = { ...bodies[JobAnnounceMessage.type], needs: { device: 'cuda', minGflops: 1000 } }
    assert.deepEqual(openEnvelope(seal(JobAnnounceMessage.type, announce), { network: 'devnet', registry }).body, announce)
    for (const d of [{ ...device, device: 'tpu' }, { ...device, gflops: -1 }, { ...device, gflops: Infinity }, { ...device, hardware: '' }, { ...device, hardware: 'x'.repeat(161) }, { ...device, hardware: 'tab\there' }, { ...device, ort: 'a b' }, { ...device, extra: 1 }]) {
      expectThrows(() => seal(JobBidMessage.type, { ...bid, device: d }), InvalidBodyError)
    }
    for (const needs of [{ device: 'auto' }, { minGflops: 0 }, { minGflops: -5 }, { device: 'cpu', other: true }]) {
      expectThrows(() => seal(JobAnnounceMessage.type, { ...announce, needs }), InvalidBodyError)
    }
  })

  it('keeps each message on its topic', () => {
    const verdict = seal(JobVerdictMessage.type, bodies[JobVerdictMessage.type])
    assert.equal(openEnvelope(verdict, { network: 'devnet', registry, accept: VERDICTS_TOPIC.accept }).type, JobVerdictMessage.type)
    expectThrows(() => openEnvelope(verdict, { network: 'devnet', registry, accept: JOBS_TOPIC.accept }), UnexpectedMessageTypeError)
  })
})
