// The market's records: market/<job>.json per job this peer took part in, written
// atomically on every save (a kill -9 loses nothing written), read once and kept in
// memory (handlers of one job share the same object, so a change is seen by all).
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { readJsonIfExists, writeJsonAtomic } from '../../storage/atomic-file.ts'
import { EXIT, PeerError } from '../errors.ts'
import type { JobState } from './job-state.ts'

export class UnknownJobError extends PeerError {
  constructor (job: string) { super(`no job ${job} on this peer`, EXIT.notFound, { job }) }
}

export type JobSummary = Pick<JobState, 'job' | 'role' | 'phase' | 'updatedAt'>

const JOB_ID = /^0x[0-9a-f]{64}$/

export class JobStore {
  readonly dir: string
  private readonly jobs = new Map<string, JobState>()

  constructor (dir: string) {
    this.dir = dir
  }

  /** The job's record, or undefined (also for anything that is not a job id). */
  async load (job: string): Promise<JobState | undefined> {
    if (!JOB_ID.test(job)) return undefined
    const cached = this.jobs.get(job)
    if (cached !== undefined) return cached
    const s = await readJsonIfExists<JobState>(join(this.dir, `${job}.json`))
    if (s !== undefined) this.jobs.set(job, s)
    return s
  }

  async status (job: string): Promise<JobState> {
    const s = await this.load(job)
    if (s === undefined) throw new UnknownJobError(job)
    return s
  }

  async save (state: JobState): Promise<void> {
    state.updatedAt = Date.now()
    this.jobs.set(state.job, state)
    await writeJsonAtomic(join(this.dir, `${state.job}.json`), state)
  }

  /** Every job this peer took part in, newest first. */
  async list (): Promise<JobSummary[]> {
    const names = await readdir(this.dir).catch(() => [] as string[])
    const out: JobSummary[] = []
    for (const n of names) {
      const m = /^(0x[0-9a-f]{64})\.json$/.exec(n)
      const s = m === null ? undefined : await this.load(m[1])
      if (s !== undefined) out.push({ job: s.job, role: s.role, phase: s.phase, updatedAt: s.updatedAt })
    }
    return out.sort((a, b) => b.updatedAt - a.updatedAt)
  }
}
