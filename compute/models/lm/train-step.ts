// The language model as the trainer sees it: each step feeds the windows at a batch of
// indices (short batches padded and masked) to the step graph.

import type { ParamSet } from '../../tensors/param-set.ts'
import type { StepResult, StepRunner } from '../step-runner.ts'
import { lmBatch, type LmWindows } from './data.ts'

export function lmStepFn (runner: StepRunner, windows: LmWindows, batch: number): (params: ParamSet, indices: readonly number[]) => Promise<StepResult> {
  const dims = [batch, windows.seq]
  return async (params, indices) => {
    const b = lmBatch(windows, indices, batch)
    return await runner.run(params, { tokens: { data: b.tokens, dims }, targets: { data: b.targets, dims }, mask: { data: b.mask, dims } }, b.count)
  }
}
