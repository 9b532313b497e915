// Replaying segments of a worker's training run on this peer's device, as a verifier's
// check and a referee's cross-class ruling both do: the check mode follows the two device
// stamps (bit for bit on the worker's own CPU class, the pair's measured tolerance
// otherwise, compute/verify/device-tolerance.ts), and the checkpoints that mode needs are
// fetched from the worker and checked against its receipt before anything is replayed.
import { deviceClassName, deviceStamp, type DeviceStamp } from '../../compute/onnx/device-class.ts'
import type { TrainTask } from '../../compute/train/trainer.ts'
import { verifyModeFor } from '../../compute/verify/device-tolerance.ts'
import type { TrainingReceipt } from '../../compute/verify/sample.ts'
import { checkpointsNeeded, verifyTraining, type TrainingVerdict, type VerifyMode } from '../../compute/verify/training.ts'
import type { MarketContext } from './context.ts'
import { fetchCheckpoint } from './receipts.ts'

export interface SegmentReplay { verdict: TrainingVerdict, mode: VerifyMode, mine: DeviceStamp }

/** Throws CheckpointRefusedError / BadReceiptError (from verifyTraining) when the worker's bytes do not hold together. */
export async function replayWorkerSegments (ctx: MarketContext, workerPeer: string, job: string, task: TrainTask, receipt: TrainingReceipt, segments: readonly number[]): Promise<SegmentReplay> {
  const mine = deviceStamp(ctx.device)
  const mode = verifyModeFor(receipt.device, mine)
  if (mode !== 'exact') ctx.log('replaying across device classes', { job, worker: receipt.device !== undefined ? deviceClassName(receipt.device) : undefined, verifier: deviceClassName(mine), tolerance: mode.tolerance })
  const checkpoints = new Map<number, Uint8Array>()
  for (const step of checkpointsNeeded(task, segments, mode)) checkpoints.set(step, await fetchCheckpoint(ctx.wire.fetch, workerPeer, job, step))
  return { verdict: await verifyTraining({ task, receipt, segments, checkpoints, mode }), mode, mine }
}
