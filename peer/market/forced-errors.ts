// Forced errors keep verifiers honest (Truebit's idea): on a share q of jobs the worker
// itself delivers a result with a planted fault, so a verifier that approves without
// checking is caught approving a known fault, and loses its verifier stake.
//   - The draw: the worker commits keccak256(secret) in its bid; the job is forced when
//     keccak256(secret, job, bidsDigest) < q * 2^256. The bids digest is fixed by the
//     requester after the commitment, so the worker cannot grind a draw (in particular it
//     cannot make a job "forced" to excuse a real cheat); nobody else knows the secret
//     before the reveal, so a verifier cannot tell a forced job from any other.
//   - The fault: every checkpoint of the honest run moved by one weight and relinked,
//     with the adapter that matches it. Every segment then fails to replay, so any
//     honest sample finds it, and the adapter binding still holds (only replay tells).
//   - q comes from the shared policy (forcedErrorRate) over the job's on-chain terms.
//   - Inference batches: the first token of every output flipped, outputs file and
//     receipt rebuilt to match (plantInferenceFault): only re-generation finds it.
// Left alone: a worker gains nothing from a forced job and could skip planting (then
// lazy verifiers meet fewer faults); Truebit pays a jackpot to the finder for this.
import { join } from 'node:path'
import { keccak256, solidityPacked, type Wallet } from 'ethers'
import { decodeAdapter, encodeAdapter } from '../../compute/models/artifacts.ts'
import { checkpointHash, decodeCheckpoint, encodeCheckpoint } from '../../compute/train/checkpoint.ts'
import { forcedErrorRate } from '../../settlement/policy/index.ts'
import { encodeOutputsFile, encodeReceiptFile } from '../../compute/jobs/infer-files.ts'
import { inferenceChain, tokensHash, type InferenceReceipt } from '../../compute/verify/inference-receipt.ts'
import type { Produced } from './adversaries/cheats.ts'
import { FileCheckpointStore } from '../models/checkpoint-files.ts'
import type { ModelFactory, TrainRequest } from '../models/model-factory.ts'
import type { ModelRegistry } from '../models/model-registry.ts'

/** The worker's secret for one job: keccak256 of its deterministic signature, the same after a restart. */
export function forcedSecret (wallet: Wallet, job: string): string {
  return keccak256(wallet.signMessageSync(`openledger/forced-secret/1 ${job}`))
}

export function forcedCommit (secret: string): string {
  return keccak256(secret)
}

const TWO_53 = 2n ** 53n

/** Whether the job drew a forced error at rate q. */
export function isForced (opts: { secret: string, job: string, bidsDigest: string, rate: number }): boolean {
  if (!(opts.rate >= 0 && opts.rate <= 1)) throw new RangeError('forced-error rate must be in [0, 1]')
  const draw = BigInt(keccak256(solidityPacked(['bytes32', 'bytes32', 'bytes32'], [opts.secret, opts.job, opts.bidsDigest])))
  // draw / 2^256 < q, with q rounded down to a multiple of 2^-53 (exact for every double >= 2^-53).
  return draw < (BigInt(Math.floor(opts.rate * Number(TWO_53))) << 203n)
}

/** A reveal is valid when the secret opens the bid's commitment and draws a forced error. */
export function validReveal (opts: { secret: string, commit: string | undefined, job: string, bidsDigest: string, rate: number }): boolean {
  return opts.commit !== undefined && forcedCommit(opts.secret) === opts.commit && isForced(opts)
}

/**
 * The job's forced-error rate by the shared policy, from its on-chain terms: a lazy
 * verifier saves the check (the audited share of the work, priced at the worker's part
 * of the fee) and risks the verifier slash.
 */
export function forcedRate (terms: { fee: bigint, workerBps: number, auditBps: number, verifierSlash: bigint }): number {
  return forcedErrorRate({
    costSaved: terms.fee * BigInt(terms.workerBps) * BigInt(terms.auditBps) / 100_000_000n,
    // Not the verifier's pay: after a reveal the real result is verified and paid anew, so a
    // lazy approver forfeits nothing but the slash (the simulator prices it the same way).
    reward: 0n,
    stake: terms.verifierSlash
  }).p
}

/** The planted fault: the honest run with one weight moved in every checkpoint, relinked, and its adapter. */
export async function plantFault (opts: {
  factory: ModelFactory
  models: Pick<ModelRegistry, 'adapterBytes' | 'addAdapter' | 'model' | 'resolveModel'>
  req: TrainRequest
  honest: Produced
  dir: string
  job: string
}): Promise<Produced> {
  const { honest } = opts
  if (honest.checkpointDir === undefined) throw new Error('the honest run has no checkpoints to plant a fault in')
  const replay = await opts.factory.replayTask(opts.req, AbortSignal.timeout(600_000))
  try {
    const specs = replay.task.specs
    const from = new FileCheckpointStore(honest.checkpointDir)
    const to = new FileCheckpointStore(join(opts.dir, `${opts.job}.forced`))
    const chain: Array<{ step: number, hash: string }> = []
    let prev: string | null = null
    let last
    for (const entry of honest.checkpoints) {
      const c = decodeCheckpoint(await from.load(entry.step), specs)
      const first = c.params.get(specs[0].name)!
      first.data[0] += 1e-3 * (1 + Math.abs(first.data[0]))
      c.meta = { ...c.meta, prev }
      const bytes = encodeCheckpoint(c)
      await to.save(entry.step, bytes)
      prev = checkpointHash(bytes)
      chain.push({ step: entry.step, hash: prev })
      last = c
    }
    const baseCid = replay.base.cid
    const adapter = decodeAdapter(await opts.models.adapterBytes(honest.adapter), replay.base)
    adapter.params = last!.params
    adapter.meta = { ...adapter.meta, provenance: { job: honest.job, checkpoints: chain } }
    const entry = await opts.models.addAdapter(encodeAdapter(adapter, replay.base.meta), { base: baseCid, kind: replay.base.meta.kind })
    return { adapter: entry.cid, job: honest.job, checkpoints: chain, checkpointDir: to.dir }
  } finally {
    await replay.release()
  }
}

/**
 * The planted fault of an inference batch: the first token of every output is changed
 * (a bit flipped), and outputs file and receipt are rebuilt to match, so the receipt
 * checks out and only re-generation finds it, whichever requests a verifier samples.
 * Undefined when every output is empty (nothing to plant in: the job is not forced).
 */
export async function plantInferenceFault (run: { outputs: readonly Int32Array[], receipt: InferenceReceipt }, job: string, storeFile: (bytes: Uint8Array) => Promise<string>): Promise<{ result: string, receipt: InferenceReceipt, receiptBytes: Uint8Array } | undefined> {
  if (run.outputs.every(o => o.length === 0)) return undefined
  const outputs = run.outputs.map(o => {
    const c = Int32Array.from(o)
    if (c.length > 0) c[0] ^= 1
    return c
  })
  const entries = run.receipt.outputs.map((e, i) => ({ ...e, output: tokensHash(outputs[i]) }))
  const chain = inferenceChain(run.receipt.job, entries)
  const receipt: InferenceReceipt = { job: run.receipt.job, outputs: entries, head: chain[chain.length - 1] }
  const result = await storeFile(encodeOutputsFile({ job, outputs }))
  return { result, receipt, receiptBytes: encodeReceiptFile(receipt) }
}
