// What a bench module exports and what its run() returns. The harness (bench/run.ts)
// adds the bench name, the machine and the date around the result.

export interface BenchResult {
  /** The project's figures, e.g. { envelopesPerSec: 1234 }. Medians unless the name says otherwise. */
  figures: Record<string, number>
  /** The same-run baseline's figures, or null when the figure is absolute (see BENCHMARKS.md). */
  baseline: Record<string, number> | null
  /** Project / baseline for the headline figure, or null without a baseline. */
  ratio: number | null
  /** Timed repetitions per case (after warm-up); for sample-based benches, the sample count. */
  reps: number
  /** Unit of each figure, for the table. */
  units?: Record<string, string>
  /** Parameters the run used (counts, flags), so the numbers can be reproduced. */
  params?: Record<string, unknown>
  /** Extra figures: per-repetition values, breakdowns, spreads. */
  detail?: Record<string, unknown>
  /** Short remarks that belong with the numbers (caveats, what the ratio means). */
  notes?: string[]
  /** Extra libraries whose versions matter for this bench (added to machine.libs). */
  libs?: string[]
  /** Extra tables for the human-readable output only (the JSON carries `detail`). */
  tables?: Array<{ title: string, rows: string[][] }>
}

export interface Bench {
  name: string
  description: string
  /** Flags the bench accepts, one line each, for the harness's usage text. */
  flags?: string[]
  run: (args: string[]) => Promise<BenchResult>
}

/** Thrown for bad bench flags; the harness prints the message and exits 2. */
export class BenchUsageError extends Error {
  override name = 'BenchUsageError'
}
