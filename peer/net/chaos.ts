// Fault injection for soak runs only: drops a fraction of this peer's inbound gossip
// messages and of the request/response streams opened to it, as a lossy network would.
// Off unless OPENLEDGER_CHAOS is set (the devnet sets it per peer for `bench soak`);
// unset, installChaos returns at once and nothing is wrapped. A dropped gossip message
// is Ignored (not Rejected: the sender did nothing wrong), so gossipsub neither
// delivers nor forwards it; a dropped stream is aborted before the protocol's handler
// sees it. Each drop is logged ("chaos: dropped"), so a run can count them.
import { TopicValidatorResult, type TopicValidatorFn } from '@libp2p/gossipsub'
import type { Stream, Connection } from '@libp2p/interface'
import type { PeerLibp2p } from './libp2p.ts'

export const CHAOS_ENV = 'OPENLEDGER_CHAOS'

/** Only the project's own protocols are dropped: identify, bitswap and the rest stay whole. */
const OUR_PROTOCOLS = '/openledger/'

export interface ChaosConfig {
  /** Share of inbound gossip messages dropped, per message, in [0, 1]. */
  gossip: number
  /** Share of inbound /openledger/ request/response streams aborted, in [0, 1]. */
  streams: number
}

/** A value of OPENLEDGER_CHAOS that does not parse: refused at start, never ignored. */
export class ChaosConfigError extends Error {
  readonly details: Record<string, unknown>

  constructor (message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.name = 'ChaosConfigError'
    this.details = details
  }
}

/** The stream a chaos drop aborts carries this error. */
export class ChaosDropError extends Error {
  readonly details: Record<string, unknown>

  constructor (message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.name = 'ChaosDropError'
    this.details = details
  }
}

/** `gossip=0.05,streams=0.1` -> the config; undefined for an unset or empty value. */
export function parseChaos (value: string | undefined): ChaosConfig | undefined {
  if (value === undefined || value.trim() === '') return undefined
  const config: ChaosConfig = { gossip: 0, streams: 0 }
  for (const part of value.split(',')) {
    const [key, raw] = part.split('=').map(s => s.trim())
    const q = Number(raw)
    if ((key !== 'gossip' && key !== 'streams') || raw === undefined || raw === '' || !(q >= 0 && q <= 1)) {
      throw new ChaosConfigError(`${CHAOS_ENV}: expected gossip=Q,streams=Q with Q in [0, 1], got "${part}"`, { value })
    }
    config[key] = q
  }
  return config
}

/** Wraps the node's topic validators and stream handlers when OPENLEDGER_CHAOS asks for it; call before anything registers. */
export function installChaos (libp2p: PeerLibp2p, env: NodeJS.ProcessEnv, log: (msg: string, fields?: Record<string, unknown>) => void,
  random: () => number = Math.random): ChaosConfig | undefined {
  const config = parseChaos(env[CHAOS_ENV])
  if (config === undefined) return undefined
  log('chaos: on', { gossip: config.gossip, streams: config.streams })

  const validators = libp2p.services.pubsub.topicValidators
  const set = validators.set.bind(validators)
  validators.set = (topic: string, validator: TopicValidatorFn) => set(topic, (peer, msg) => {
    if (random() < config.gossip) {
      log('chaos: dropped', { channel: 'gossip', topic, from: peer.toString() })
      return TopicValidatorResult.Ignore
    }
    return validator(peer, msg)
  })

  const handle = libp2p.handle.bind(libp2p)
  libp2p.handle = async (protocol, handler, options) => {
    const ours = (Array.isArray(protocol) ? protocol : [protocol]).some(p => p.startsWith(OUR_PROTOCOLS))
    if (!ours) { await handle(protocol, handler, options); return }
    await handle(protocol, (stream: Stream, connection: Connection) => {
      if (random() < config.streams) {
        log('chaos: dropped', { channel: 'stream', protocol: String(protocol), from: connection.remotePeer.toString() })
        stream.abort(new ChaosDropError('dropped by chaos', { protocol }))
        return
      }
      return handler(stream, connection)
    }, options)
  }
  return config
}
