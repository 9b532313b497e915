// A job's receipt and checkpoints, one way in and out. The worker keeps the exact
// receipt bytes it committed to (market/<job>.receipt.bin; the real one of a forced
// error waits in <job>.receipt.real.bin until the reveal) and serves them and its
// checkpoints over /openledger/verify; everyone else fetches them through here, and
// nothing fetched is used before it is checked: a receipt against the CID its result
// names, a checkpoint against the hash its receipt's chain names.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { decodeTrainingReceipt, encodeTrainingReceipt } from '../../compute/jobs/training-receipt-file.ts'
import { checkpointHash } from '../../compute/train/checkpoint.ts'
import { CheckpointRefusedError } from '../../compute/verify/errors.ts'
import type { TrainingReceipt } from '../../compute/verify/sample.ts'
import { readJsonIfExists, writeFileAtomic } from '../../storage/atomic-file.ts'
import type { ReceiptPart } from '../../protocols/verify/verify.ts'
import { ReceiptMismatchError } from './errors.ts'

export { ReceiptMismatchError }

/** How a receipt or checkpoint is fetched from a peer (the verify protocol, or memory in tests). */
export type FetchEntry = (peer: string, job: string, entry: ReceiptPart) => Promise<Uint8Array>

/** The CID a job result names its receipt by: raw sha256 of the exact bytes. */
export async function receiptCid (bytes: Uint8Array): Promise<string> {
  return CID.createV1(raw.code, await sha256.digest(bytes)).toString()
}

/** The worker's receipt of `job` from `peer`, checked against the CID its result names. */
export async function fetchReceipt (fetch: FetchEntry, peer: string, job: string, cid: string): Promise<Uint8Array> {
  const bytes = await fetch(peer, job, 'receipt')
  const got = await receiptCid(bytes)
  if (got !== cid) throw new ReceiptMismatchError('the receipt does not hash to the CID the result names', { job, cid, got })
  return bytes
}

/** The checkpoint at `step` from `peer` (served under `job`), checked against the chain's hash when one is named. */
export async function fetchCheckpoint (fetch: FetchEntry, peer: string, job: string, step: number, hash?: string): Promise<Uint8Array> {
  const bytes = await fetch(peer, job, step)
  if (hash !== undefined && checkpointHash(bytes) !== hash) throw new CheckpointRefusedError('the checkpoint is not the one its chain names', { job, step })
  return bytes
}

/** The worker's own receipt files in the market folder. */
export class ReceiptFiles {
  private readonly dir: string

  constructor (dir: string) {
    this.dir = dir
  }

  private path (job: string, real = false): string {
    return join(this.dir, `${job}.receipt${real ? '.real' : ''}.bin`)
  }

  /** Keeps the receipt this worker commits to (and serves); `real`: the one held back by a forced error. */
  async write (job: string, bytes: Uint8Array, real = false): Promise<void> {
    await writeFileAtomic(this.path(job, real), bytes)
  }

  /** The forced error is revealed: the real receipt becomes the one served. */
  async promoteReal (job: string): Promise<void> {
    await writeFileAtomic(this.path(job), await readFile(this.path(job, true)))
  }

  /** The receipt bytes this worker serves for `job`, if any (a record of an older version kept JSON in <job>.receipt.json). */
  async read (job: string): Promise<Uint8Array | undefined> {
    const bytes = await readFile(this.path(job)).catch(() => undefined)
    if (bytes !== undefined) return new Uint8Array(bytes)
    const old = await readJsonIfExists<TrainingReceipt>(join(this.dir, `${job}.receipt.json`))
    return old === undefined ? undefined : encodeTrainingReceipt(old)
  }

  /** This worker's training receipt of `job`, decoded (checked). */
  async training (job: string): Promise<TrainingReceipt | undefined> {
    const bytes = await this.read(job)
    return bytes === undefined ? undefined : decodeTrainingReceipt(bytes)
  }
}
