// What GET /status answers: a running peer's identity, addresses, connections, adverts,
// inbound verdicts, gossip latencies, memory and datanet counts.
import type { CapacityAdvert } from '../../protocols/messages/index.ts'
import type { AdvertRecord } from '../adverts/advert-book.ts'
import type { InboundReport } from './inbound-stats.ts'
import type { DatanetStats } from '../datanets/datanet-service.ts'

export interface ConnectionInfo { peerId: string, addr: string, direction: string }

export interface StatusReport {
  peerId: string
  address: string
  network: string
  agent: string
  pid: number
  /** Where this peer's graphs run (node start --device). */
  device: string
  startedAt: number
  uptimeMs: number
  addrs: string[]
  statusUrl: string
  /** The dashboard page (a browser on this machine). */
  dashboardUrl: string
  connections: ConnectionInfo[]
  gossipPeers: number
  /** Gossipsub's score of each gossip neighbour, by peer id: below the graylist threshold (protocols/gossip-score.ts) all it sends is dropped unread. */
  gossipScores: Record<string, number>
  advert: CapacityAdvert | null
  adverts: AdvertRecord[]
  /** Valid adverts held from other peers. */
  advertsSeen: number
  inbound: InboundReport
  /** Recent gossip propagation latencies (receive time minus signing time, ms). */
  latencySamples: number[]
  /** This process's memory (process.memoryUsage(), bytes): what a soak watches for growth. */
  memory: { rss: number, heapUsed: number, heapTotal: number, external: number }
  datanets: DatanetStats
}
