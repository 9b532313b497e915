// The task market as gossip shows it, for the dashboard: every job announced, whom its
// requester assigned, every verifier's verdict and every forced-error reveal, whether
// or not this peer took part. It listens to messages the market's topic validators have
// already accepted (signature, size, schema, replay checked there) and only reads
// them: nothing here decides anything. In memory and bounded: the newest jobs only.
import type { Message } from '@libp2p/gossipsub'
import { openEnvelope, type Envelope } from '../../protocols/envelope.ts'
import { identityOf } from '../../protocols/identity.ts'
import { JobAnnounceMessage, JobAssignMessage, JobRevealMessage, JobVerdictMessage, type JobAnnounce, type JobAssign, type JobReveal, type JobVerdict } from '../../protocols/messages/index.ts'
import type { MessageRegistry } from '../../protocols/registry.ts'
import { JOBS_TOPIC, topicName, VERDICTS_TOPIC } from '../../protocols/topics.ts'
import type { PeerLibp2p } from '../net/peer-libp2p.ts'

const MAX_JOBS = 200
const MAX_VERDICTS_PER_JOB = 32

export interface SeenJob {
  job: string
  /** When this peer first heard of the job (ms). */
  seenAt: number
  announce?: JobAnnounce & { requester: string }
  assign?: JobAssign
  verdicts: Array<Pick<JobVerdict, 'ok' | 'checked' | 'worker' | 'resultHash'> & { by: string, evidence?: string, at: number }>
  reveals: Array<{ worker: string, resultHash: string, at: number }>
}

export class JobWatch {
  private readonly libp2p: PeerLibp2p
  private readonly network: string
  private readonly registry: MessageRegistry
  private readonly topics: Set<string>
  private readonly jobs = new Map<string, SeenJob>()
  private readonly listener = (evt: CustomEvent<Message>): void => { this.onMessage(evt.detail) }

  constructor (opts: { libp2p: PeerLibp2p, network: string, registry: MessageRegistry }) {
    this.libp2p = opts.libp2p
    this.network = opts.network
    this.registry = opts.registry
    this.topics = new Set([topicName(opts.network, JOBS_TOPIC), topicName(opts.network, VERDICTS_TOPIC)])
  }

  start (): void {
    this.libp2p.services.pubsub.addEventListener('message', this.listener)
  }

  stop (): void {
    this.libp2p.services.pubsub.removeEventListener('message', this.listener)
  }

  list (): SeenJob[] {
    return [...this.jobs.values()]
  }

  private entry (job: string): SeenJob {
    let j = this.jobs.get(job)
    if (j == null) {
      j = { job, seenAt: Date.now(), verdicts: [], reveals: [] }
      this.jobs.set(job, j)
      if (this.jobs.size > MAX_JOBS) this.jobs.delete(this.jobs.keys().next().value!)
    }
    return j
  }

  private onMessage (msg: { topic: string, data: Uint8Array }): void {
    if (!this.topics.has(msg.topic)) return
    let env: Envelope
    try {
      env = openEnvelope(msg.data, { network: this.network, registry: this.registry })
    } catch {
      return // the validator accepted it; a message we cannot read again is just not shown
    }
    const signer = identityOf(env.signer).address
    const now = Date.now()
    if (env.type === JobAnnounceMessage.type) {
      const a = env.body as JobAnnounce
      this.entry(a.job).announce = { ...a, requester: signer }
    } else if (env.type === JobAssignMessage.type) {
      const a = env.body as JobAssign
      const j = this.entry(a.job)
      // Only the requester assigns (when we know who it is).
      if (j.announce == null || j.announce.requester.toLowerCase() === signer.toLowerCase()) j.assign = a
    } else if (env.type === JobVerdictMessage.type) {
      const v = env.body as JobVerdict
      const j = this.entry(v.job)
      if (j.verdicts.length >= MAX_VERDICTS_PER_JOB) return
      j.verdicts = [...j.verdicts.filter(x => !(x.by === signer && x.resultHash === v.resultHash)),
        { ok: v.ok, checked: v.checked.slice(0, 64), worker: v.worker, resultHash: v.resultHash, by: signer, ...(v.evidence !== undefined ? { evidence: v.evidence.hash } : {}), at: now }]
    } else if (env.type === JobRevealMessage.type) {
      const r = env.body as JobReveal
      const j = this.entry(r.job)
      if (j.reveals.length < MAX_VERDICTS_PER_JOB) j.reveals.push({ worker: r.worker, resultHash: r.resultHash, at: now })
    }
  }
}
