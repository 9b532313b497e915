// The one door every inbound message goes through: open (decode, check, verify) the
// envelope, then hand it to the application, and record the outcome. Gossip and
// request/response both use it, so a message is judged the same way on either path.
import { bytesToHex } from './bytes.ts'
import { openEnvelope, type Envelope } from './envelope.ts'
import { UntimelyError, WireError } from './errors.ts'
import type { MessageRegistry } from './registry.ts'
import type { ReplayGuard } from './replay-guard.ts'
import type { SenderLimiter } from './sender-limiter.ts'

export type Verdict = 'accept' | 'reject' | 'ignore'

export interface InboundEvent {
  /** 'gossip:<topic>' or 'proto:<protocol id>' */
  channel: string
  /** Peer that handed us the bytes (for gossip: the relaying neighbour). */
  from: string
  verdict: Verdict
  type?: string
  error?: { name: string, message: string }
}

export interface InboundOptions {
  network: string
  registry: MessageRegistry
  replayGuard: ReplayGuard
  /** Observes every outcome (counters, logs). Must not throw. */
  onEvent?: (event: InboundEvent) => void
}

export class Inbound {
  private readonly opts: InboundOptions

  constructor (opts: InboundOptions) {
    this.opts = opts
  }

  /**
   * Open bytes that arrived on `channel`. Returns the envelope, or throws the typed
   * WireError that says why it was refused. Anything that is not a WireError is a
   * bug on our side, and an UntimelyError may be no fault of a relay: both are
   * reported as 'ignore' so the sender is not punished for them.
   * `check` adds a channel-specific rule; it throws a WireError to reject.
   * `limiter` holds `from` and the signer to their allowances (RateLimitedError).
   */
  open<T> (bytes: Uint8Array, channel: string, from: string, accept: readonly string[],
    check?: (env: Envelope<T>) => void, limiter?: SenderLimiter): Envelope<T> {
    try {
      limiter?.checkPeer(from)
      const env = openEnvelope<T>(bytes, {
        network: this.opts.network,
        registry: this.opts.registry,
        replayGuard: this.opts.replayGuard,
        accept,
        admit: limiter == null ? undefined : (signer) => { limiter.take(from, bytesToHex(signer)) }
      })
      check?.(env)
      this.opts.onEvent?.({ channel, from, verdict: 'accept', type: env.type })
      return env
    } catch (err) {
      const e = err as Error
      this.opts.onEvent?.({
        channel,
        from,
        verdict: verdictOf(err),
        error: { name: e.name, message: e.message }
      })
      throw err
    }
  }
}

/** Whether a refusal counts against the sender ('reject') or not ('ignore'). */
export function verdictOf (err: unknown): Verdict {
  return err instanceof WireError && !(err instanceof UntimelyError) ? 'reject' : 'ignore'
}
