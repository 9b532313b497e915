// A job kind that needs no model, for the market's unit tests: the "work" is a hash of
// the job id (so anyone can recompute it), the result names it by CID, the receipt is
// {job, answer}. A worker can be told to lie, to go silent, or to take time; a forced
// error delivers a wrong answer and holds the right one back, as the real kinds do.
import { createHash } from 'node:crypto'
import { keccak256 } from 'ethers'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { resultMessage, type Check, type CheckTools, type Delivery, type JobKind, type Work, type WorkTools } from '../../peer/market/kinds/kind.ts'
import type { InferSubmit } from '../../peer/market/kinds/requests.ts'
import type { JobAnnounce } from '../../protocols/messages/index.ts'

export const TOY_BASE = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode('toy base'))).toString()

export interface ToyOptions {
  worker: string
  /** Deliver a wrong answer (an adversary). */
  lie?: boolean
  /** Never deliver (a worker that went silent). */
  silent?: boolean
  /** The bid's estimate (a requester replaces a worker at twice it). */
  etaMs?: number
  /** Called for every check this peer makes. */
  onCheck?: (job: string) => void
  /** As a verifier, reject every result, honest or not (a false accuser a requester might plant). */
  rejectsAll?: boolean
}

const answerOf = (job: string, lie = false): string => createHash('sha256').update(`toy ${job}${lie ? ' lie' : ''}`).digest('hex')

export class ToyKind implements JobKind<InferSubmit> {
  readonly name = 'infer' as const
  readonly opts: ToyOptions

  constructor (opts: ToyOptions) {
    this.opts = opts
  }

  async announceSpec (r: InferSubmit): Promise<JobAnnounce['spec']> {
    return { base: TOY_BASE, params: { count: r.prompts.length, maxNewTokens: r.maxNewTokens } }
  }

  async canTake (): Promise<boolean> { return true }

  etaMs (): number { return this.opts.etaMs ?? 60_000 }

  async work (t: WorkTools): Promise<Work> {
    if (this.opts.silent === true) await new Promise(() => {})
    const honest = await this.delivery(t.state.job, answerOf(t.state.job, this.opts.lie))
    if (this.opts.lie !== true && t.behaviour.plantsForcedErrors && await t.drawsForcedError()) {
      return { delivered: await this.delivery(t.state.job, answerOf(t.state.job, true)), real: honest, computeMs: 1, cheated: false }
    }
    return { delivered: honest, computeMs: 1, cheated: this.opts.lie === true }
  }

  beaconSubject (receiptBytes: Uint8Array): string {
    return keccak256(receiptBytes).slice(2)
  }

  async check (t: CheckTools): Promise<Check> {
    this.opts.onCheck?.(t.state.job)
    const claimed = (JSON.parse(Buffer.from(t.receiptBytes).toString()) as { answer: string }).answer
    const expected = answerOf(t.state.job)
    if (claimed === expected && t.result.result === await cidOf(expected) && this.opts.rejectsAll !== true) return { ok: true, checked: [0], computeMs: 1 }
    return { ok: false, checked: [0], computeMs: 1, evidence: { job: t.state.job, claimed, expected } }
  }

  private async delivery (job: string, answer: string): Promise<Delivery> {
    const receiptBytes = new TextEncoder().encode(JSON.stringify({ job, answer }))
    return { result: await resultMessage({ job, worker: this.opts.worker, result: await cidOf(answer), receiptBytes, head: answer, entries: 1, every: 1, steps: 1 }), receiptBytes }
  }
}

async function cidOf (answer: string): Promise<string> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(answer))).toString()
}
