// Splits a generator's wall time into time inside onnxruntime and the rest (JS:
// request checks, adapter gather, bias and token arrays, sampling), by timing every
// run() of its session. A bench-only probe: the engine is not changed for it.

import type { Session } from '../../compute/onnx/session.ts'
import type { LmGenerator } from '../../compute/serve/generator.ts'

export interface OrtTime {
  /** Milliseconds inside session.run since the last reset. */
  ms: number
  runs: number
}

export function timeRuns (gen: LmGenerator): OrtTime {
  const session = (gen as unknown as { session: Session }).session
  const acc: OrtTime = { ms: 0, runs: 0 }
  const inner = session.run.bind(session)
  session.run = async (feeds, outputs) => {
    const t0 = performance.now()
    try {
      return await inner(feeds, outputs)
    } finally {
      acc.ms += performance.now() - t0
      acc.runs++
    }
  }
  return acc
}
