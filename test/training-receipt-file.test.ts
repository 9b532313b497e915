// The training receipt file (compute/jobs/training-receipt-file.ts): one encoding per
// receipt, so one CID; anything else a worker might send is refused with a typed error.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { decodeTrainingReceipt, encodeTrainingReceipt, MAX_TRAINING_RECEIPT_BYTES } from '../compute/jobs/training-receipt-file.ts'
import { BadReceiptError } from '../compute/verify/errors.ts'
import { expectThrows } from './helpers/expect-throws.ts'

const h = (s: string): string => createHash('sha256').update(s).digest('hex')
const receipt = { job: h('job'), chain: [{ step: 50, hash: h('a') }, { step: 100, hash: h('b') }] }
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('training receipt file', function () {
  it('encodes as workers always wrote it and decodes back', function () {
    const b = encodeTrainingReceipt(receipt)
    assert.equal(Buffer.from(b).toString(), JSON.stringify(receipt))
    assert.deepEqual(decodeTrainingReceipt(b), receipt)
  })

  it('refuses other encodings of the same receipt: whitespace, key order', function () {
    expectThrows(() => decodeTrainingReceipt(bytes(JSON.stringify(receipt, null, 1))), BadReceiptError)
    expectThrows(() => decodeTrainingReceipt(bytes(JSON.stringify({ chain: receipt.chain, job: receipt.job }))), BadReceiptError)
    expectThrows(() => decodeTrainingReceipt(bytes(JSON.stringify({ job: receipt.job, chain: receipt.chain.map(c => ({ hash: c.hash, step: c.step })) }))), BadReceiptError)
  })

  it('refuses what no run has: extra keys, bad hashes, step 0, an empty chain, not JSON, not UTF-8, too large', function () {
    for (const bad of [
      { ...receipt, extra: 1 },
      { job: receipt.job, chain: [{ step: 50, hash: h('a'), loss: 1 }] },
      { job: receipt.job, chain: [{ step: 50, hash: 'ab' }] },
      { job: 'job-1', chain: receipt.chain },
      { job: receipt.job, chain: [{ step: 0, hash: h('a') }] },
      { job: receipt.job, chain: [] }
    ]) expectThrows(() => decodeTrainingReceipt(bytes(JSON.stringify(bad))), BadReceiptError)
    expectThrows(() => decodeTrainingReceipt(bytes('{"job":')), BadReceiptError)
    expectThrows(() => decodeTrainingReceipt(new Uint8Array([0xff, 0xfe])), BadReceiptError)
    expectThrows(() => decodeTrainingReceipt(new Uint8Array(MAX_TRAINING_RECEIPT_BYTES + 1)), BadReceiptError)
    expectThrows(() => encodeTrainingReceipt({ job: 'x', chain: [] }), BadReceiptError)
  })
})
