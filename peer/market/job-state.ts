// One job as this peer knows it (market/<job>.json, kept by ./job-store.ts) and the
// phases it may move through. A phase change goes through transition(), which refuses
// what no role can do: leave a final phase (released, refunded), go back to bidding, or
// take a phase its role never has (a verifier is never 'released', a requester never
// 'training'). A late message (a failing verdict after the release) must not rewrite a
// finished job: handlers ask canTransition() first.
import { IllegalTransitionError } from './errors.ts'
import type { JobAnnounce, JobAssign, JobBid, JobResult, JobRuling, JobVerdict } from '../../protocols/messages/index.ts'

export type JobPhase = 'bidding' | 'assigned' | 'training' | 'submitted' | 'verifying' | 'verified' | 'released' | 'failed' | 'unassigned' | 'refunded'
export type JobRole = 'requester' | 'worker' | 'verifier' | 'referee'

/** The phases each role's record can be in. */
export const PHASES_OF: Readonly<Record<JobRole, readonly JobPhase[]>> = {
  requester: ['bidding', 'assigned', 'unassigned', 'submitted', 'failed', 'released', 'refunded'],
  worker: ['bidding', 'unassigned', 'training', 'submitted', 'failed', 'released'],
  verifier: ['bidding', 'unassigned', 'assigned', 'verifying', 'verified', 'failed'],
  referee: ['bidding', 'unassigned', 'assigned', 'verifying', 'verified', 'failed']
}

/** Phases a job never leaves. */
export const FINAL_PHASES: readonly JobPhase[] = ['released', 'refunded']

export { IllegalTransitionError }

/** Why `state` cannot move to `to` as `role` (default: its own), or undefined when it can. */
function refusal (state: Pick<JobState, 'phase' | 'role'>, to: JobPhase, role: JobRole): string | undefined {
  if (FINAL_PHASES.includes(state.phase)) return state.phase === to && role === state.role ? undefined : `a ${state.phase} job is final`
  if (to === 'bidding') return 'a job goes back to bidding never'
  if (!PHASES_OF[role].includes(to)) return `a ${role} is never ${to}`
  return undefined
}

export function canTransition (state: Pick<JobState, 'phase' | 'role'>, to: JobPhase, role: JobRole = state.role): boolean {
  return refusal(state, to, role) === undefined
}

/** Moves `state` to phase `to` (and role `role`, when assigned one); throws IllegalTransitionError. Saving is the caller's. */
export function transition (state: JobState, to: JobPhase, role: JobRole = state.role): void {
  const why = refusal(state, to, role)
  if (why !== undefined) throw new IllegalTransitionError(`job ${state.job}: ${why}`, { job: state.job, from: state.phase, to, role: state.role, as: role })
  state.role = role
  state.phase = to
}

/** market/<job>.json: everything this peer knows and did about one job. */
export interface JobState {
  job: string
  role: JobRole
  phase: JobPhase
  announce: JobAnnounce
  requester: string
  requesterPeer?: string
  bids?: Array<JobBid & { peer: string, address: string }>
  assign?: JobAssign
  result?: JobResult
  /** Worker: the folder of the checkpoints it hands over (none: it has none). */
  checkpointDir?: string
  /** Verdicts from the assigned verifiers, each with the address that signed its envelope. */
  verdicts?: Array<JobVerdict & { by: string }>
  /** Requester: when the assigned worker's result is due, and the workers replaced for silence. */
  resultDueAt?: number
  silent?: string[]
  release?: { tx: string, by: string }
  /** Requester: the fee taken back after the deadline, for a job that could not complete. */
  refund?: { tx: string }
  /** Worker: the job drew a forced error; the honest result waits here (its receipt in <job>.receipt.real.bin) until the reveal. */
  forced?: { real: JobResult, realCheckpointDir?: string, resultHash: string, revealed?: boolean }
  /** Results revealed by the worker as forced errors (their verdicts no longer count). */
  revealed?: string[]
  /** Verifier: verifiers it proved approved a forced error, slashed on chain. */
  lazySlashes?: Array<{ verifier: string, tx: string, amount: string, evidence: string }>
  /** Worker: the step it resumed from, inherited from a silent worker's checkpoints that its verifiers held. Verifier: the newest checkpoint it holds. */
  resumedFrom?: number
  held?: number
  /** Worker: how long producing the result took; whether it was one of the adversaries' lies (demonstrations). Verifier: replay time and whole wall time of its last check. */
  computeMs?: number
  cheated?: boolean
  wallMs?: number
  /** Verifier: what its failing verdict's evidence hash commits to. */
  evidence?: unknown
  /** Verifier: the slash it proved on chain. Referee: the slash of the party its ruling refuted. */
  slash?: { tx: string, amount: string, evidence: string }
  /** Rulings of the job's referee on disputed verdicts (the referee's own, with what its evidence hash commits to). */
  rulings?: Array<JobRuling & { detail?: unknown }>
  error?: string
  updatedAt: number
}

/** Whether every assigned verifier gave a verdict on this result. */
export function allSpoke (state: JobState, resultHash: string): boolean {
  return (state.assign?.verifiers ?? []).every(x => (state.verdicts ?? []).some(d => d.resultHash === resultHash && d.by.toLowerCase() === x.address.toLowerCase()))
}

/** One verdict per verifier on this result, as the shared verdict rule takes them (addresses lowercase: one order everywhere). */
export function verdictsOn (state: JobState, resultHash: string): Array<{ verifier: string, approved: boolean }> {
  const by = new Map<string, boolean>()
  for (const d of state.verdicts ?? []) if (d.resultHash === resultHash) by.set(d.by.toLowerCase(), d.ok)
  return [...by].map(([verifier, approved]) => ({ verifier, approved }))
}

/** A bidder keeps role 'worker' when another was assigned: only the assigned one releases (and spends gas on it). */
export function isAssignedWorker (state: JobState, peerId: string): boolean {
  return state.role === 'worker' && state.assign?.workers.some(w => w.peer === peerId) === true
}

