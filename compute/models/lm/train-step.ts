// The language model as the trainer sees it: each step feeds the windows at a batch of
// indices (short batches padded and masked) to the step graph.

import type { ParamSet } from '../../tensors/param-set.ts'
import { scaleStep, type StepResult, type StepRunner } from '../step-runner.ts'
import { BadTrainingDataError } from '../../errors.ts'
import { lmBatch, type LmWindows } from './data.ts'

/**
 * The step function over `windows`. With `keep` (one byte per window, 0 = masked), the
 * masked windows' token mask is zeroed after lmBatch and the loss and gradients scaled by
 * kept/full tokens, so the normaliser stays the full batch's token count (see
 * classifierStepFn). Without masked windows in a batch the step is the unmasked one.
 */
export function lmStepFn (runner: StepRunner, windows: LmWindows, batch: number, keep?: Uint8Array): (params: ParamSet, indices: readonly number[]) => Promise<StepResult> {
  if (keep !== undefined && keep.length !== windows.count) throw new BadTrainingDataError('one mask entry per window', { mask: keep.length, windows: windows.count })
  const dims = [batch, windows.seq]
  return async (params, indices) => {
    const b = lmBatch(windows, indices, batch)
    const feeds = { tokens: { data: b.tokens, dims }, targets: { data: b.targets, dims }, mask: { data: b.mask, dims } }
    if (keep === undefined || indices.every(i => keep[i] !== 0)) return await runner.run(params, feeds, b.count)
    let kept = b.count
    indices.forEach((idx, row) => {
      if (keep[idx] !== 0) return
      for (let t = row * windows.seq; t < (row + 1) * windows.seq; t++) { kept -= b.mask[t]; b.mask[t] = 0 }
    })
    return scaleStep(await runner.run(params, feeds, kept), b.count > 0 ? kept / b.count : 0)
  }
}
