// A peer: one identity, a libp2p node, the wire rules, the capacity advert loop and a
// status API (with the dashboard at its root), started and stopped as one. Everything it keeps lives under dataDir:
//   keystore.json   encrypted key (see identity/keystore.ts)
//   node.json       listen addresses to reuse after a restart
//   datastore/      libp2p peer store, Helia pins
//   blocks/         Helia blockstore: manifest entries and shard blocks
//   run.json        pid, status URL, addresses of the running process (removed on stop)
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { rm } from 'node:fs/promises'
import type { Helia } from '@helia/interface'
import { FsBlockstore } from 'blockstore-fs'
import { FsDatastore } from 'datastore-fs'
import { measureCapacity, type CapacityFacts } from '../../compute/capacity/index.ts'
import { currentDevice } from '../../compute/onnx/devices.ts'
import { advertisedDevices, slowdownOf, type ChosenDevice } from './device-choice.ts'
import { sealEnvelope, maxEnvelopeBytes, type Envelope } from '../../protocols/envelope.ts'
import { topicValidator } from '../../protocols/gossip-validator.ts'
import { Hello } from '../../protocols/hello/hello.ts'
import { Inbound } from '../../protocols/inbound.ts'
import { CapacityAdvertMessage, defaultRegistry, type CapacityAdvert } from '../../protocols/messages/index.ts'
import type { MessageRegistry } from '../../protocols/registry.ts'
import { ReplayGuard } from '../../protocols/replay-guard.ts'
import { CAPACITY_TOPIC, topicName } from '../../protocols/topics.ts'
import type { StorageCandidate } from '../../storage/datanet/placement.ts'
import type { Identity } from '../identity/keystore.ts'
import { readJsonIfExists, writeJsonAtomic } from '../../storage/atomic-file.ts'
import { AGENT } from '../version.ts'
import type { StatusReport } from '../api/status-report.ts'
import { AdvertBook, type AdvertRecord } from '../adverts/advert-book.ts'
import { Advertiser } from '../adverts/advertiser.ts'
import { StakeBook } from '../adverts/stake-book.ts'
import { InboundStats } from '../api/inbound-stats.ts'
import { createPeerStack, type PeerLibp2p } from '../net/libp2p.ts'
import { installChaos } from '../net/chaos.ts'
import { Dialer } from '../net/dialer.ts'
import { startChainServices } from './chain-services.ts'
import { startApiServer, type ApiServer, type Route } from '../api/server.ts'
import { withFileLock } from '../adverts/bench-lock.ts'
import { datanetRoutes } from '../api/datanet-routes.ts'
import { AttributionService } from '../attribution/attribution-service.ts'
import { attributionRoutes } from '../api/attribution-routes.ts'
import { DatanetService } from '../datanets/datanet-service.ts'
import { LoraServer } from '../models/lora-server.ts'
import { ModelFactory } from '../models/model-factory.ts'
import { ModelRegistry } from '../models/model-registry.ts'
import { modelRoutes } from '../api/model-routes.ts'
import type { ChainConfig } from '../settlement/chain-config.ts'
import type { SettlementService } from '../settlement/settlement-service.ts'
import type { Cheat } from '../market/adversaries/cheat-modes.ts'
import type { MarketService } from '../market/market-service.ts'
import type { ChainWatch } from '../settlement/chain-watch.ts'
import { dashboardRoutes, loadDashboardPage } from '../api/dashboard-routes.ts'
import { DashboardSummary } from '../api/dashboard-summary.ts'
import type { JobWatch } from '../market/job-watch.ts'

export type { StatusReport, ConnectionInfo } from '../api/status-report.ts'

/** The score gossipsub keeps for each of its peers (its interface type leaves getScore out; the implementation has it). */
function gossipScores (libp2p: PeerLibp2p): Record<string, number> {
  const pubsub = libp2p.services.pubsub as unknown as { getScore?: (peer: string) => number }
  const out: Record<string, number> = {}
  if (typeof pubsub.getScore !== 'function') return out
  for (const peer of libp2p.services.pubsub.getPeers()) out[peer.toString()] = pubsub.getScore(peer.toString())
  return out
}

export interface PeerNodeOptions {
  dataDir: string
  identity: Identity
  network?: string
  /** Multiaddrs to listen on; default: what node.json recorded, else 127.0.0.1 on a free port. */
  listen?: string[]
  bootstrap?: string[]
  mdns?: boolean
  advertIntervalMs?: number
  slots?: number
  /** 0 picks a free port. */
  statusPort?: number
  /** Peers that pin each shard (default 3). */
  replication?: number
  /** A lock file shared by peers on one machine, so their start-up benchmarks take turns. */
  benchLock?: string
  /** onnxruntime threads for training and serving (default: every core). */
  threads?: number
  /** MatMul benchmark size for the advert (smaller = faster start). */
  benchSize?: number
  /** The device chosen at start-up (device-choice.ts) and what the probes measured; default: the CPU, unprobed. */
  device?: ChosenDevice
  /** Where to settle (devnet: the local anvil chain); none = no settlement routes. */
  chain?: ChainConfig
  /** Run the epoch builder: follow escrow, post reward roots, serve proofs. */
  aggregator?: boolean
  /** Co-sign other aggregators' roots after auditing them (and watch). */
  cosign?: boolean
  /** Audit posted roots and challenge wrong ones. */
  watch?: boolean
  /** How often an aggregator seals an epoch (ms; default 15 s). */
  epochIntervalMs?: number
  /** Demonstrations and tests: this peer plays one of the adversaries (market/adversaries). */
  cheat?: Cheat
  /** Demonstrations and tests: a forced-error rate instead of the policy's. */
  forcedErrorRate?: number
  log?: (msg: string, fields?: Record<string, unknown>) => void
}

interface NodeFile { listen: string[] }
const MAX_LATENCY_SAMPLES = 2_000

export class PeerNode {
  readonly identity: Identity
  readonly network: string
  readonly dataDir: string
  readonly registry: MessageRegistry
  readonly book = new AdvertBook()
  readonly stats = new InboundStats()
  private readonly opts: PeerNodeOptions
  private readonly log: NonNullable<PeerNodeOptions['log']>
  private readonly replayGuard = new ReplayGuard()
  private readonly latencySamples: number[] = []
  private libp2p?: PeerLibp2p
  private datastore?: FsDatastore
  private blockstore?: FsBlockstore
  private helia?: Helia
  private hello?: Hello
  private dialer?: Dialer
  private advertiser?: Advertiser
  private api?: ApiServer
  private datanetService?: DatanetService
  private loraServer?: LoraServer
  private settlement?: SettlementService
  private market?: MarketService
  private jobWatch?: JobWatch
  private chainWatch?: ChainWatch
  /** Which advertised peers have stake on chain (with a chain only): placement ranks them first. */
  private stakes?: StakeBook
  private timer?: NodeJS.Timeout
  private startedAt = 0
  private lastAdvert: CapacityAdvert | null = null
  private stopping?: Promise<void>
  private readonly topic: string

  constructor (opts: PeerNodeOptions) {
    this.opts = opts
    this.identity = opts.identity
    this.dataDir = opts.dataDir
    this.network = opts.network ?? 'devnet'
    this.registry = defaultRegistry()
    this.topic = topicName(this.network, CAPACITY_TOPIC)
    this.log = opts.log ?? (() => {})
  }

  get node (): PeerLibp2p {
    if (this.libp2p == null) throw new Error('node not started')
    return this.libp2p
  }

  get statusUrl (): string { return this.api?.url ?? '' }

  get datanets (): DatanetService {
    if (this.datanetService == null) throw new Error('node not started')
    return this.datanetService
  }

  async start (facts?: CapacityFacts): Promise<void> {
    this.startedAt = Date.now()
    const nodeFile = await readJsonIfExists<NodeFile>(join(this.dataDir, 'node.json'))
    const listen = this.opts.listen ?? nodeFile?.listen ?? ['/ip4/127.0.0.1/tcp/0']

    const measure = async (): Promise<CapacityFacts> => await measureCapacity({ dataDir: this.dataDir, benchSize: this.opts.benchSize })
    facts ??= this.opts.benchLock != null ? await withFileLock(this.opts.benchLock, measure) : await measure()
    facts = { ...facts, devices: advertisedDevices(facts, this.opts.device) }
    this.log('capacity measured', { gflops: Math.round(facts.ort.matmulGflops), cores: facts.cpu.cores })

    this.datastore = new FsDatastore(join(this.dataDir, 'datastore'))
    await this.datastore.open()
    this.blockstore = new FsBlockstore(join(this.dataDir, 'blocks'))
    await this.blockstore.open()
    const helia = createPeerStack({
      privateKey: this.identity.libp2pKey,
      listen,
      bootstrap: this.opts.bootstrap ?? [],
      mdns: this.opts.mdns ?? true,
      network: this.network,
      datastore: this.datastore,
      blockstore: this.blockstore,
      agentVersion: AGENT,
      maxGossipBytes: maxEnvelopeBytes(this.registry) + 1024
    })
    this.helia = helia
    // libp2p exists once Helia has started; nothing reaches our handlers before we
    // subscribe (gossip) or register (hello), both below.
    await helia.start()
    const libp2p = helia.libp2p
    this.libp2p = libp2p
    installChaos(libp2p, process.env, this.log) // soak runs only: a no-op unless OPENLEDGER_CHAOS is set

    const inbound = new Inbound({
      network: this.network,
      registry: this.registry,
      replayGuard: this.replayGuard,
      onEvent: (e) => {
        this.stats.record(e)
        // A flood over its allowance is counted (GET /status), not logged line by line.
        if (e.verdict !== 'accept' && e.error?.name !== 'RateLimitedError') this.log('inbound rejected', { channel: e.channel, from: e.from, error: e.error?.name })
      }
    })
    const advertInterval = this.opts.advertIntervalMs ?? 10_000
    this.advertiser = new Advertiser({
      facts,
      dataDir: this.dataDir,
      agent: AGENT,
      slots: this.opts.slots ?? facts.cpu.cores,
      ttlMs: Math.min(600_000, Math.max(1_000, advertInterval * 3)),
      addrs: () => libp2p.getMultiaddrs().map(a => a.toString())
    })
    this.hello = new Hello({
      host: libp2p,
      inbound,
      registry: this.registry,
      currentAdvert: async () => this.seal(await this.advertiser!.current()),
      onAdvert: (env) => this.onAdvert(env, 'hello')
    })

    libp2p.services.pubsub.topicValidators.set(this.topic,
      topicValidator(inbound, CAPACITY_TOPIC, this.topic, (env) => this.onAdvert(env as Envelope<CapacityAdvert>, 'gossip')))
    this.dialer = new Dialer({ libp2p, hello: this.hello, bootstrap: this.opts.bootstrap ?? [], stopping: () => this.stopping != null, log: this.log })
    this.dialer.start()

    libp2p.services.pubsub.subscribe(this.topic)
    await this.hello.start()
    await writeJsonAtomic(join(this.dataDir, 'node.json'), { listen: this.boundListenAddrs() } satisfies NodeFile)

    this.datanetService = new DatanetService({
      helia,
      libp2p,
      localBlocks: this.blockstore,
      identity: this.identity,
      dataDir: this.dataDir,
      network: this.network,
      registry: this.registry,
      inbound,
      replication: this.opts.replication,
      candidates: () => this.storageCandidates(),
      log: this.log
    })
    await this.datanetService.start()
    const datanets = this.datanetService
    const models = new ModelRegistry({ helia, localBlocks: this.blockstore, dataDir: this.dataDir, pin: async (cids) => await datanets.pinLocal(cids), fetch: async (cid, signal) => await datanets.fetchFromHolders([cid], signal) })
    await models.load()
    const factory = new ModelFactory({ datanets, registry: models, dataDir: this.dataDir, threads: this.opts.threads, log: this.log })
    this.loraServer = new LoraServer({ registry: models, threads: this.opts.threads, datanets, jobDir: (job) => factory.jobDir(job), log: this.log })

    const chainRoutes: Route[] = []
    if (this.opts.chain != null) {
      const c = await startChainServices({
        chain: this.opts.chain, identity: this.identity, network: this.network, registry: this.registry, inbound, libp2p, dataDir: this.dataDir,
        datanets, models, factory, threads: this.opts.threads, aggregator: this.opts.aggregator === true, cosign: this.opts.cosign === true, watch: this.opts.watch === true, epochIntervalMs: this.opts.epochIntervalMs ?? 15_000,
        cheat: this.opts.cheat, forcedErrorRate: this.opts.forcedErrorRate, deviceGflops: facts.devices?.find(d => d.inUse)?.gflops, deviceSlowdown: slowdownOf(this.opts.device), log: this.log
      })
      this.settlement = c.settlement
      this.market = c.market
      this.jobWatch = c.jobWatch
      this.chainWatch = c.chainWatch
      this.stakes = new StakeBook({ isStaked: c.isStaked })
      void this.refreshStakes()
      chainRoutes.push(...c.routes)
    }

    // The token guards the POST routes; run.json is readable by this user only.
    const token = randomBytes(32).toString('hex')
    this.api = await startApiServer(this.opts.statusPort ?? 0, token, [
      { method: 'GET', path: '/status', handle: () => this.status() },
      { method: 'GET', path: '/health', handle: () => ({ ok: true, peerId: this.identity.peerId }) },
      ...datanetRoutes(this.datanetService),
      ...modelRoutes(models, factory, this.loraServer),
      ...attributionRoutes(new AttributionService({ factory, registry: models, datanets, threads: this.opts.threads, log: this.log })),
      ...chainRoutes,
      ...dashboardRoutes(await loadDashboardPage(), new DashboardSummary({
        status: () => this.status(),
        datanets: this.datanetService,
        market: this.market,
        jobWatch: this.jobWatch,
        chainWatch: this.chainWatch,
        settlement: this.settlement
      }))
    ], this.log)
    await writeJsonAtomic(join(this.dataDir, 'run.json'), {
      pid: process.pid,
      peerId: this.identity.peerId,
      address: this.identity.address,
      statusUrl: this.api.url,
      token,
      addrs: libp2p.getMultiaddrs().map(a => a.toString())
    })

    await this.publishAdvert()
    this.timer = setInterval(() => { void this.tick() }, advertInterval)
    this.timer.unref()
    void this.dialer.reconnect()
  }

  /** Peers that can hold shards: every live advert, this peer's own included, with whether each has stake on chain. */
  private storageCandidates (): StorageCandidate[] {
    const now = Date.now()
    const staked = (address: string): boolean => this.stakes?.isStaked(address) ?? false
    const out = this.book.list().filter(r => r.expiresAt > now).map(r => ({ peerId: r.peerId, freeBytes: r.advert.disk.freeBytes, staked: staked(r.address) }))
    if (this.lastAdvert != null && !out.some(c => c.peerId === this.identity.peerId)) {
      out.push({ peerId: this.identity.peerId, freeBytes: this.lastAdvert.disk.freeBytes, staked: staked(this.identity.address) })
    }
    return out
  }

  /** Stakes of the advertised peers and this one, read again when stale (a failed read counts as none). */
  private async refreshStakes (): Promise<void> {
    const now = Date.now()
    await this.stakes?.refresh([this.identity.address, ...this.book.list().filter(r => r.expiresAt > now).map(r => r.address)]).catch(() => {})
  }

  /** Listen addresses with the ports actually bound, so a restart gets the same ones. */
  private boundListenAddrs (): string[] {
    const ours = this.node.getMultiaddrs().map(a => a.toString().replace(/\/p2p\/[^/]+$/, ''))
    return [...new Set(ours)]
  }

  private seal (body: CapacityAdvert): Uint8Array {
    return sealEnvelope({
      network: this.network,
      type: CapacityAdvertMessage.type,
      body,
      signer: this.identity.signer,
      registry: this.registry
    })
  }

  private onAdvert (env: Envelope<CapacityAdvert>, via: AdvertRecord['via']): void {
    const now = Date.now()
    const fresh = this.book.upsert(env, via, now)
    if (fresh && via === 'gossip') {
      this.latencySamples.push(now - env.ts)
      if (this.latencySamples.length > MAX_LATENCY_SAMPLES) this.latencySamples.shift()
    }
    if (fresh) void this.dialer?.dialAdvertised(env)
  }

  private async publishAdvert (): Promise<void> {
    const body = await this.advertiser!.next()
    this.lastAdvert = body
    try {
      await this.node.services.pubsub.publish(this.topic, this.seal(body))
    } catch (err) {
      this.log('advert publish failed', { error: (err as Error).message })
    }
  }

  private async tick (): Promise<void> {
    if (this.stopping != null) return
    this.book.expire(Date.now())
    void this.refreshStakes()
    await this.publishAdvert()
    if (this.node.getConnections().length === 0) await this.dialer?.reconnect()
  }

  status (): StatusReport {
    const now = Date.now()
    const libp2p = this.node
    const adverts = this.book.list().filter(r => r.expiresAt > now)
    return {
      peerId: this.identity.peerId,
      address: this.identity.address,
      network: this.network,
      agent: AGENT,
      pid: process.pid,
      device: currentDevice(),
      startedAt: this.startedAt,
      uptimeMs: now - this.startedAt,
      addrs: libp2p.getMultiaddrs().map(a => a.toString()),
      statusUrl: this.statusUrl,
      dashboardUrl: this.statusUrl === '' ? '' : `${this.statusUrl}/`,
      connections: libp2p.getConnections().map(c => ({ peerId: c.remotePeer.toString(), addr: c.remoteAddr.toString(), direction: c.direction })),
      gossipPeers: libp2p.services.pubsub.getSubscribers(this.topic).length,
      gossipScores: gossipScores(libp2p),
      advert: this.lastAdvert,
      adverts,
      advertsSeen: adverts.filter(r => r.peerId !== this.identity.peerId).length,
      inbound: this.stats.snapshot(),
      latencySamples: [...this.latencySamples],
      memory: (({ rss, heapUsed, heapTotal, external }) => ({ rss, heapUsed, heapTotal, external }))(process.memoryUsage()),
      datanets: this.datanets.stats()
    }
  }

  async stop (): Promise<void> {
    this.stopping ??= (async () => {
      if (this.timer != null) clearInterval(this.timer)
      await this.api?.close()
      this.jobWatch?.stop()
      this.chainWatch?.stop()
      await this.market?.stop()
      await this.settlement?.stop()
      await this.datanetService?.stop()
      await this.loraServer?.stop()
      await this.hello?.stop().catch(() => {})
      await this.helia?.stop()
      await this.blockstore?.close()
      await this.datastore?.close()
      await rm(join(this.dataDir, 'run.json'), { force: true })
    })()
    await this.stopping
  }
}

