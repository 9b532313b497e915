// The part of a peer that needs a chain, composed: settlement (wallet, rewards, on an
// aggregator the epoch builder, which describes each released job by what the market
// knows of it), the task market (injected with the behaviour the node plays), the
// watches the dashboard reads, and their API routes. Started only with a deployment.
import { REWARDS_PROTOCOL } from '../../protocols/rewards/rewards.ts'
import { EPOCH_PROTOCOL } from '../../protocols/epoch/epoch.ts'
import { ROLE } from '../../settlement/chain/client.ts'
import type { Inbound } from '../../protocols/inbound.ts'
import type { MessageRegistry } from '../../protocols/registry.ts'
import type { Route } from '../api/server.ts'
import { marketRoutes } from '../api/market-routes.ts'
import { settlementRoutes } from '../api/settlement-routes.ts'
import type { DatanetService } from '../datanets/datanet-service.ts'
import type { Identity } from '../identity/keystore.ts'
import { behaviourOf } from '../market/adversaries/behaviour.ts'
import type { Cheat } from '../market/adversaries/cheat-modes.ts'
import { JobWatch } from '../market/job-watch.ts'
import { MarketService } from '../market/market-service.ts'
import type { ModelFactory } from '../models/model-factory.ts'
import type { ModelRegistry } from '../models/model-registry.ts'
import type { ChainConfig } from '../settlement/chain-config.ts'
import { ChainWatch } from '../settlement/chain-watch.ts'
import { Governance } from '../settlement/governance.ts'
import { chainReleaseLookup, creditEntitlement } from '../settlement/credit-entitlement.ts'
import { describeJob } from '../settlement/job-description.ts'
import { SettlementService } from '../settlement/settlement-service.ts'
import type { PeerLibp2p } from '../net/libp2p.ts'

export interface ChainServicesOptions {
  chain: ChainConfig
  identity: Identity
  network: string
  registry: MessageRegistry
  inbound: Inbound
  libp2p: PeerLibp2p
  dataDir: string
  datanets: DatanetService
  models: ModelRegistry
  factory: ModelFactory
  threads?: number
  /** The measured MatMul rate of the device in use (its bids state it). */
  deviceGflops?: number
  /** How many times slower than the CPU the device in use is (device-choice.ts slowdownOf): stretches its bids' time estimates. */
  deviceSlowdown?: number
  aggregator: boolean
  cosign?: boolean
  watch?: boolean
  epochIntervalMs: number
  cheat?: Cheat
  forcedErrorRate?: number
  log: (msg: string, fields?: Record<string, unknown>) => void
}

export interface ChainServices {
  settlement: SettlementService
  market: MarketService
  jobWatch: JobWatch
  chainWatch: ChainWatch
  routes: Route[]
  /** Whether an address holds at least the registry's minimum stake for some role: shard placement ranks such peers first. */
  isStaked: (address: string) => Promise<boolean>
}

export async function startChainServices (o: ChainServicesOptions): Promise<ChainServices> {
  const { libp2p, datanets, models } = o
  let market: MarketService | undefined
  // Credit that moves money: only entries the chain's releases entitle (./credit-entitlement.ts).
  const entitledViews = async (): Promise<Awaited<ReturnType<typeof datanets.store.view>>[]> => await Promise.all(datanets.store.list().map(async l => await datanets.store.view(l.id, {
    entitled: await creditEntitlement(l.ordered(), chainReleaseLookup(() => settlement.chain))
  })))
  const followRef = async (ref: string): Promise<void> => { await datanets.atVersion(ref) }
  const settlement = new SettlementService({
    config: o.chain,
    identity: o.identity,
    dataDir: o.dataDir,
    aggregator: o.aggregator,
    cosign: o.cosign,
    watch: o.watch,
    epochIntervalMs: o.epochIntervalMs,
    epochPeers: async () => (await libp2p.peerStore.all()).filter(p => p.protocols.includes(EPOCH_PROTOCOL) && !p.id.equals(libp2p.peerId)).map(p => p.id).sort((a, b) => a.toString() < b.toString() ? -1 : 1),
    announceOf: async (jobId) => (await market?.status(jobId).catch(() => undefined))?.announce,
    views: entitledViews,
    follow: followRef,
    host: libp2p,
    aggregators: async () => (await libp2p.peerStore.all()).filter(p => p.protocols.includes(REWARDS_PROTOCOL)).map(p => p.id),
    describeJob: async (jobId) => await describeJob(jobId, {
      job: async (id) => await market?.status(id).catch(() => undefined),
      views: entitledViews,
      attribution: async (id) => await market?.attributionCredit(id).catch(() => undefined),
      follow: followRef,
      log: o.log
    }),
    log: o.log
  })
  await settlement.start()
  market = new MarketService({
    identity: o.identity,
    network: o.network,
    registry: o.registry,
    inbound: o.inbound,
    libp2p,
    settlement,
    factory: o.factory,
    modelKind: (m) => { try { return models.resolveModel(m).kind } catch { return undefined } },
    models,
    threads: o.threads,
    cycles: async (datanet) => (await datanets.show(datanet.split('@')[0])).cycles,
    datanets: { view: async (d) => await datanets.store.view(d), follow: async (d, v) => { await datanets.atVersion(`${d}@${v}`) }, nearDuplicateFiles: async (log) => await datanets.nearDuplicateFiles(log), recordAttribution: async (d, r) => await datanets.recordAttribution(d, r) },
    dataDir: o.dataDir,
    behaviour: behaviourOf(o.cheat),
    forcedErrorRate: o.forcedErrorRate,
    deviceGflops: o.deviceGflops,
    deviceSlowdown: o.deviceSlowdown,
    log: o.log
  })
  await market.start()
  const jobWatch = new JobWatch({ libp2p, network: o.network, registry: o.registry })
  jobWatch.start()
  const chainWatch = new ChainWatch(o.chain)
  o.log('settlement ready', { chainId: o.chain.chainId, aggregator: o.aggregator, cosign: o.cosign === true, watch: o.watch === true || o.cosign === true })
  return {
    settlement,
    market,
    jobWatch,
    chainWatch,
    isStaked: async (address) => {
      for (const role of Object.values(ROLE)) {
        const [have, min] = await Promise.all([settlement.chain.stakeOf(address, role), settlement.chain.read<bigint>('registry', 'minStake', [role])])
        if (have > 0n && have >= min) return true
      }
      return false
    },
    routes: [...settlementRoutes(settlement, new Governance(() => settlement.chain, o.dataDir)), ...marketRoutes(market)]
  }
}
