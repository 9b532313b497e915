// The receipt file of a LoRA training job: the run's fingerprint and its checkpoint hash
// chain, as the worker serves it to verifiers, referees and replacement workers and as a
// job result names it by CID. JSON `{"job":…,"chain":[{"step":…,"hash":…},…],"device":{…}}`
// in exactly that key order and no whitespace (receipts before devices have no "device",
// and are checked bit for bit); decoding caps
// the size, checks the schema and refuses any other encoding of the same content, so
// one receipt has one CID. Whether it is a run of the job is checkReceipt's question
// (compute/verify/training.ts).
import { z } from 'zod'
import { DEVICES, MAX_HARDWARE_CHARS } from '../onnx/device-names.ts'
import { BadReceiptError } from '../verify/errors.ts'
import type { TrainingReceipt } from '../verify/sample.ts'
import { checkJsonFile, parseJsonFile, sameBytes, utf8 } from './json-file.ts'

export const TRAINING_RECEIPT_FORMAT = 'openledger/training-receipt/1'
/** A million steps at a checkpoint every 50: 20,000 entries of ~90 bytes. */
export const MAX_TRAINING_RECEIPT_BYTES = 4 * 1024 * 1024
const MAX_ENTRIES = 40_000

const hex64 = z.string().regex(/^[0-9a-f]{64}$/)
const ReceiptSchema = z.strictObject({
  job: hex64,
  chain: z.array(z.strictObject({ step: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER), hash: hex64 })).min(1).max(MAX_ENTRIES),
  device: z.strictObject({
    device: z.enum(DEVICES),
    ort: z.string().regex(/^[0-9A-Za-z.+-]{1,32}$/),
    hardware: z.string().min(1).max(MAX_HARDWARE_CHARS).regex(/^[\x20-\x7e]+$/)
  }).optional()
})

export function encodeTrainingReceipt (receipt: TrainingReceipt): Uint8Array {
  const d = receipt.device
  const value = { job: receipt.job, chain: receipt.chain.map(c => ({ step: c.step, hash: c.hash })), ...(d !== undefined ? { device: { device: d.device, ort: d.ort, hardware: d.hardware } } : {}) }
  checkJsonFile(ReceiptSchema, value, 'receipt', TRAINING_RECEIPT_FORMAT, BadReceiptError)
  return utf8(JSON.stringify(value))
}

/** The receipt as sent; throws BadReceiptError, also for a valid receipt in another encoding. */
export function decodeTrainingReceipt (bytes: Uint8Array): TrainingReceipt {
  const v = checkJsonFile(ReceiptSchema, parseJsonFile(bytes, MAX_TRAINING_RECEIPT_BYTES, 'receipt', BadReceiptError), 'receipt', TRAINING_RECEIPT_FORMAT, BadReceiptError)
  const receipt: TrainingReceipt = { job: v.job, chain: v.chain, ...(v.device !== undefined ? { device: v.device } : {}) }
  if (!sameBytes(encodeTrainingReceipt(receipt), bytes)) throw new BadReceiptError('receipt file is not in canonical encoding', { file: 'receipt' })
  return receipt
}
