// Learning-rate schedules: linear warm-up, then constant or cosine decay to a floor.
// A pure function of the step, so a resumed run continues the same curve.

export interface LrSchedule {
  peak: number
  warmup: number
  total: number
  kind: 'constant' | 'cosine'
  /** Cosine decays to peak * floor. */
  floor: number
}

export function learningRate (s: LrSchedule, step: number): number {
  if (s.warmup > 0 && step < s.warmup) return s.peak * (step + 1) / s.warmup
  if (s.kind === 'constant') return s.peak
  const span = Math.max(1, s.total - s.warmup)
  const progress = Math.min(1, (step - s.warmup) / span)
  return s.peak * (s.floor + (1 - s.floor) * 0.5 * (1 + Math.cos(Math.PI * progress)))
}
