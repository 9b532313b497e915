// One job as this peer knows it: market/<job>.json, written atomically after every change.
import type { JobAnnounce, JobAssign, JobBid, JobResult, JobRuling, JobVerdict } from '../../protocols/messages/index.ts'
import type { Produced } from './adversaries/cheats.ts'

export type JobPhase = 'bidding' | 'assigned' | 'training' | 'submitted' | 'verifying' | 'verified' | 'released' | 'failed' | 'unassigned' | 'refunded'

/** market/<job>.json: everything this peer knows and did about one job. */
export interface JobState {
  job: string
  role: 'requester' | 'worker' | 'verifier' | 'referee'
  phase: JobPhase
  announce: JobAnnounce
  requester: string
  requesterPeer?: string
  bids?: Array<JobBid & { peer: string, address: string }>
  assign?: JobAssign
  result?: JobResult
  /** Worker: the factory job that trained the result, and the folder of the checkpoints it hands over (none: it has none). */
  factoryJob?: string
  checkpointDir?: string
  /** Verdicts from the assigned verifiers, each with the address that signed its envelope. */
  verdicts?: Array<JobVerdict & { by: string }>
  /** Requester: when the assigned worker's result is due, and the workers replaced for silence. */
  resultDueAt?: number
  silent?: string[]
  release?: { tx: string, by: string }
  /** Requester: the fee taken back after the deadline, for a job that could not complete. */
  refund?: { tx: string }
  /** Worker: the job drew a forced error; the honest result waits here until the reveal (realInfer: the real result message of an inference batch or an attribution). */
  forced?: { real?: Produced, realInfer?: JobResult, resultHash: string, revealed?: boolean }
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
