// The peer's side of settlement: its wallet (the same key as its peer id), the chain
// client, and, on an aggregator, the epoch builder. An aggregator follows the escrow's
// JobReleased events (each a job a verifier quorum signed off), turns them into
// receipts, seals an epoch at every interval, signs and posts its root, and answers
// /openledger/rewards with proofs. A job's receipt carries the contributor weights its
// fee pays by when the aggregator knows the job (describeJob). Any peer can show and
// claim its own rewards, or relay a claim for any address (the OPEN goes to that
// address): it asks an aggregator for the proof and checks it against the chain first.
// Crash safety: receipts are idempotent by job id and the event cursor is written only
// after the receipts are fsynced, so a restart re-reads at most a few events.
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { NonceManager, Wallet, hexlify, type JsonRpcProvider } from 'ethers'
import { connectProvider, ROLE, SettlementClient, type Role } from '../../settlement/chain/client.ts'
import { ContractRevertError } from '../../settlement/chain/errors.ts'
import { signMessage, verifySigned } from '../../settlement/chain/signatures.ts'
import { EpochBuilder, type RootChain, type RootSigner } from '../../settlement/epoch/index.ts'
import { readJsonIfExists, writeJsonAtomic } from '../../storage/atomic-file.ts'
import { serveRewards, REWARDS_PROTOCOL } from '../../protocols/rewards/rewards.ts'
import type { StreamHost } from '../../protocols/reqresp.ts'
import type { Identity } from '../identity/keystore.ts'
import type { ChainConfig } from './chain-config.ts'
import type { JobFacts } from './job-description.ts'
import { askCosign } from '../../protocols/epoch/epoch.ts'
import type { DatanetView } from '../../storage/datanet/view.ts'
import { RootWatch } from './root-watch.ts'
import { answerRewards, claimRewards, rewardsReport, RewardsUnavailableError, type ClaimResult, type RewardsReport, type RewardsSource } from './rewards.ts'

export interface SettlementServiceOptions {
  config: ChainConfig
  identity: Identity
  dataDir: string
  /** Run the epoch builder: follow escrow, post roots (with co-signers' signatures), serve proofs and bundles. */
  aggregator: boolean
  /** Audit proposed roots and sign the right ones (needs aggregator stake); implies watch. */
  cosign?: boolean
  /** Audit every posted root and challenge a wrong one, putting up the registry's bond. */
  watch?: boolean
  /** Peers that speak /openledger/epoch (aggregators, co-signers). */
  epochPeers?: () => Promise<PeerId[]>
  /** The job's announce as the market recorded it: bundles carry it for jobs that pay contributors. */
  announceOf?: (jobId: string) => Promise<unknown>
  /** This peer's datanets (credit entitled by the chain) and how to follow one: what a root audit checks contributors against. */
  views?: () => Promise<DatanetView[]>
  follow?: (ref: string) => Promise<void>
  /** How often an aggregator seals and posts (ms). */
  epochIntervalMs: number
  host: StreamHost
  /** Peers that speak /openledger/rewards (aggregators), best first. */
  aggregators: () => Promise<PeerId[]>
  /**
   * Aggregator: what this peer knows of a released job beyond the escrow's event, its
   * kind and the contributor weights its fee pays by (peer/settlement/job-description.ts);
   * undefined: a training job whose contributors' part goes to the treasury.
   */
  describeJob?: (jobId: string) => Promise<JobFacts | undefined>
  log: (msg: string, fields?: Record<string, unknown>) => void
}

interface Cursor { block: number }

/** An aggregator's own record of its epochs (the dashboard shows it). */
export interface AggregatorEpochs {
  openEpoch: number
  pendingReceipts: number
  epochs: Array<{ epoch: number, state: string, root?: string, total?: string, accounts?: number, receipts?: number, fees?: string, txHash?: string | null, finalAt?: number | null }>
  /** Cumulative earnings per account in the latest sealed epoch (decimal wei). */
  earned: Record<string, string>
}

/** Epochs listed at most (the newest). */
const MAX_EPOCHS_SHOWN = 200

export class SettlementService {
  readonly opts: SettlementServiceOptions
  private provider?: JsonRpcProvider
  private wallet?: NonceManager
  private client?: SettlementClient
  private builder?: EpochBuilder
  private timer?: NodeJS.Timeout
  private ticking?: Promise<void>
  private chainNow = Math.floor(Date.now() / 1000)
  private cursor?: Cursor
  private stopped = false
  /** Co-signing and watching (./root-watch.ts), when this peer does either or aggregates. */
  rootWatch?: RootWatch
  private watchTimer?: NodeJS.Timeout

  constructor (opts: SettlementServiceOptions) {
    this.opts = opts
  }

  get chain (): SettlementClient {
    if (this.client == null) throw new RewardsUnavailableError('settlement is not started')
    return this.client
  }

  get address (): string { return this.opts.identity.address }

  async start (): Promise<void> {
    const { config } = this.opts
    this.provider = connectProvider(config.rpcUrl, config.chainId)
    const network = await this.provider.getNetwork()
    if (Number(network.chainId) !== config.chainId) throw new RewardsUnavailableError(`the RPC at ${config.rpcUrl} is chain ${network.chainId}, the deployment is on ${config.chainId}`)
    this.wallet = new NonceManager(new Wallet(hexlify(this.opts.identity.libp2pKey.raw), this.provider))
    this.client = await SettlementClient.create(config.addresses, this.wallet)
    const cosign = this.opts.cosign === true
    const watch = cosign || this.opts.watch === true
    if (cosign) await this.ensureStake(ROLE.aggregator)
    if (cosign || watch || this.opts.aggregator) {
      const provider = this.provider
      this.rootWatch = new RootWatch({
        chain: () => this.chain,
        provider: () => provider,
        deployBlock: config.addresses.deployBlock,
        views: this.opts.views ?? (async () => []),
        follow: this.opts.follow,
        log: this.opts.log,
        host: this.opts.host,
        wallet: this.wallet,
        dataDir: this.opts.dataDir,
        cosign,
        watch,
        epochPeers: this.opts.epochPeers ?? (async () => []),
        ownBundle: async (epoch) => await this.ownBundle(epoch),
        now: () => this.chainNow
      })
      await this.rootWatch.start()
    }
    if (watch) {
      this.watchTimer = setInterval(() => { void this.watchRound() }, this.opts.epochIntervalMs)
      this.watchTimer.unref()
    }
    if (!this.opts.aggregator) return

    await this.ensureStake(ROLE.aggregator)
    const [split, quorum, deployHash] = await Promise.all([
      this.chain.read<bigint[]>('registry', 'rewardSplit'),
      this.chain.read<bigint>('registry', 'aggregatorQuorum'),
      this.provider.getBlock(config.addresses.deployBlock).then(b => b?.hash ?? 'unknown')
    ])
    const distributorDomain = this.chain.domain('distributor')
    const wallet = this.wallet
    const signer: RootSigner = {
      sign: async (epoch, root, total, toBlock) => await signMessage(wallet, 'EpochRoot', distributorDomain, { epoch, root, total, toBlock })
    }
    // The rest of the quorum: co-signers, each of which audits the epoch's bundle first.
    // One slot per co-signer this peer may need, each asking the slot's peer of the moment.
    const cosigners: RootSigner[] = Array.from({ length: Math.max(0, Math.min(Number(quorum) + 2, 16) - 1) }, (_, slot) => ({
      sign: async (epoch) => {
        const peers = (await this.opts.epochPeers?.()) ?? []
        const peer = peers[slot]
        if (peer === undefined) throw new RewardsUnavailableError('no co-signer for this slot', { slot, known: peers.length })
        const bundle = await this.ownBundle(Number(epoch))
        if (bundle === undefined) throw new RewardsUnavailableError('no bundle for the epoch', { epoch: Number(epoch) })
        return await askCosign(this.opts.host, peer, bundle)
      }
    }))
    const client = this.chain
    const rootChain: RootChain = {
      nextEpoch: async () => await client.nextEpoch(),
      rootOf: async (epoch) => await client.rootOf(epoch),
      postRoot: async (epoch, root, total, toBlock, signatures) => ({ txHash: (await client.postRoot(epoch, root, total, toBlock, signatures)).receipt.hash })
    }
    // One store per deployment: a fresh chain (same addresses, new blocks) starts afresh.
    const id = `${config.chainId}-${config.addresses.distributor.toLowerCase()}-${deployHash.slice(2, 14)}`
    this.builder = await EpochBuilder.open({
      dir: join(this.opts.dataDir, 'epochs', id),
      treasury: config.addresses.treasury,
      feeSplit: { worker: Number(split[0]), verifiers: Number(split[1]), contributors: Number(split[2]), treasury: Number(split[3]) },
      chain: rootChain,
      signers: [signer, ...cosigners],
      quorum: Number(quorum),
      verifySignature: (epoch, root, total, toBlock, sig) => verifySigned('EpochRoot', distributorDomain, { epoch, root, total, toBlock }, sig),
      now: () => this.chainNow
    })
    const builder = this.builder
    await serveRewards(this.opts.host, async (accounts, at) => await answerRewards(builder, accounts, at))
    this.timer = setInterval(() => { void this.tick() }, this.opts.epochIntervalMs)
    this.timer.unref()
    void this.tick()
  }

  async stop (): Promise<void> {
    this.stopped = true
    if (this.timer != null) clearInterval(this.timer)
    if (this.watchTimer != null) clearInterval(this.watchTimer)
    await this.ticking?.catch(() => {})
    await this.watching?.catch(() => {})
    await this.rootWatch?.stop()
    if (this.builder != null) {
      await this.opts.host.unhandle(REWARDS_PROTOCOL).catch(() => {})
      await this.builder.close()
    }
    this.provider?.destroy()
  }

  private watching?: Promise<void>

  /** One watch round (co-signers and watchers): audit the pending root, challenge a wrong one. */
  async watchRound (): Promise<void> {
    if (this.watching != null || this.stopped || this.rootWatch == null) return await this.watching
    this.watching = (async () => {
      try {
        const head = await this.provider!.getBlock('latest')
        if (head != null) this.chainNow = head.timestamp
        await this.rootWatch!.tick()
      } catch (err) {
        const e = err as Error
        this.opts.log('root watch round failed', { error: e.name, message: e.message, details: e instanceof ContractRevertError ? e.details.error : undefined })
      } finally {
        this.watching = undefined
      }
    })()
    await this.watching
  }

  /** The bundle of one of this aggregator's sealed epochs (JSON), with the announces of the jobs that pay contributors. */
  private async ownBundle (epoch: number): Promise<string | undefined> {
    const b = this.builder
    if (b == null || b.ledger(epoch) === undefined) return undefined
    const base = await b.bundle(epoch)
    const announces: Record<string, unknown> = {}
    for (const r of base.receipts) {
      if (!('jobId' in r) || r.contributorWeights === undefined || r.contributorWeights.length === 0) continue
      const a = await this.opts.announceOf?.(r.jobId).catch(() => undefined)
      if (a !== undefined) announces[r.jobId] = a
    }
    return JSON.stringify({ ...base, announces })
  }

  /** This peer's epochs when it aggregates (undefined otherwise): read from the builder, nothing changes. */
  epochs (): AggregatorEpochs | undefined {
    const b = this.builder
    if (b == null) return undefined
    const epochs: AggregatorEpochs['epochs'] = []
    const earned = new Map<string, bigint>()
    for (let n = b.firstEpoch; n < b.openEpoch; n++) {
      const l = b.ledger(n)
      const p = b.posted(n)
      for (const [account, wei] of l?.earned ?? []) earned.set(account, (earned.get(account) ?? 0n) + BigInt(wei))
      epochs.push({
        epoch: n,
        state: b.state(n),
        ...(l !== undefined ? { root: l.root, total: l.total, accounts: l.accounts, receipts: l.receipts, fees: l.fees } : {}),
        ...(p !== undefined ? { txHash: p.txHash, finalAt: p.finalAt == null ? null : Number(p.finalAt) } : {})
      })
    }
    return {
      openEpoch: b.openEpoch,
      pendingReceipts: b.pendingReceipts,
      epochs: epochs.slice(-MAX_EPOCHS_SHOWN),
      earned: Object.fromEntries([...earned].map(([a, w]) => [a, w.toString()]))
    }
  }

  /** The chain's clock (unix seconds of the latest block): deadlines are judged by it. */
  async chainTime (): Promise<number> {
    return (await this.provider!.getBlock('latest'))?.timestamp ?? Math.floor(Date.now() / 1000)
  }

  /** Stakes the registry's minimum for a role if this peer holds less (devnet peers start funded). */
  async ensureStake (role: Role): Promise<void> {
    const [have, min] = await Promise.all([this.chain.stakeOf(this.address, role), this.chain.read<bigint>('registry', 'minStake', [role])])
    if (have >= min) return
    await this.chain.stake(role, min - have)
    this.opts.log('staked', { role, amount: (min - have).toString() })
  }

  /** One aggregator round: new receipts from the chain, then seal, post and finalize what is due. */
  async tick (): Promise<void> {
    if (this.ticking != null || this.stopped) return await this.ticking
    this.ticking = (async () => {
      try {
        const head = await this.provider!.getBlock('latest')
        if (head != null) this.chainNow = head.timestamp
        const added = await this.follow(head?.number)
        const builder = this.builder!
        // Finalizing on chain too makes every later claim one storage read cheaper.
        const challengedBefore = builder.challenged.length
        const finalized = await builder.finalize()
        for (const n of builder.challenged.splice(challengedBefore)) this.opts.log('our root was challenged: posting it again', { epoch: n })
        for (const n of finalized) {
          await this.chain.finalize(n).catch((err: Error) => { this.opts.log('finalize on chain failed', { epoch: n, error: err.message }) })
        }
        // An epoch is sealed only with something in it, once every earlier root is posted
        // and final (the distributor takes the next root only then).
        const last = builder.latestPosted
        const settled = builder.latestSealed === last && (last === undefined || builder.state(last) === 'final')
        if (settled && builder.pendingReceipts > 0) {
          // Cut at the last block read: the epoch pays exactly the releases up to it.
          const sealed = await builder.seal(undefined, { toBlock: this.cursor!.block - 1 })
          this.opts.log('epoch sealed', { epoch: sealed.epoch, root: sealed.root, accounts: sealed.accounts, receipts: sealed.receipts, added })
        }
        for (const p of await builder.postPending()) this.opts.log('epoch root posted', { epoch: p.epoch, root: p.root, tx: p.txHash, finalAt: p.finalAt?.toString() })
      } catch (err) {
        const e = err as Error & { details?: unknown }
        // PreviousRootNotFinal and the like resolve themselves on a later round.
        this.opts.log('settlement round failed', { error: e.name, message: e.message, details: e instanceof ContractRevertError ? e.details.error : e.details })
      } finally {
        this.ticking = undefined
      }
    })()
    await this.ticking
  }

  /** JobReleased events since the cursor become receipts; the cursor moves only after they are on disk. */
  private async follow (head?: number): Promise<number> {
    const path = join(this.opts.dataDir, 'settlement-cursor.json')
    // Read once per process; afterwards this copy is what the file holds.
    this.cursor ??= await readJsonIfExists<Cursor>(path) ?? { block: this.opts.config.addresses.deployBlock }
    const cursor = this.cursor
    const to = head ?? await this.provider!.getBlockNumber()
    if (to < cursor.block) return 0
    const receipts = await Promise.all((await this.chain.releases(cursor.block, to)).map(async r => {
      // A job this peer cannot describe still pays its worker and verifiers.
      const facts = await this.opts.describeJob?.(r.jobId).catch((err: Error) => {
        this.opts.log('job credit unknown', { job: r.jobId, error: err.name, message: err.message })
        return undefined
      })
      return {
        id: `job:${r.jobId}`,
        kind: facts?.kind ?? 'train',
        jobId: r.jobId,
        fee: r.amount.toString(),
        worker: r.worker,
        verifiers: r.verifiers,
        ...(facts?.contributorWeights !== undefined && facts.contributorWeights.length > 0 ? { contributorWeights: facts.contributorWeights } : {})
      }
    }))
    let added = 0
    if (receipts.length > 0) {
      for (const r of await this.builder!.acceptMany(receipts)) if (!r.duplicate) added++
      if (added > 0) this.opts.log('receipts accepted', { added, upTo: to })
    }
    if (to + 1 !== cursor.block) {
      await writeJsonAtomic(path, { block: to + 1 } satisfies Cursor)
      this.cursor = { block: to + 1 }
    }
    return added
  }

  private get rewardsSource (): RewardsSource {
    return { chain: this.chain, provider: this.provider!, host: this.opts.host, builder: this.builder, aggregators: this.opts.aggregators }
  }

  /** Balance, claims, stake and the latest posted earnings of an address (default: this peer). */
  async rewards (address = this.address): Promise<RewardsReport> {
    return await rewardsReport(this.rewardsSource, address)
  }

  /** Claims what `account` (default: this peer) is owed under the latest final root (./rewards.ts). */
  async claim (account = this.address): Promise<ClaimResult> {
    return await claimRewards(this.rewardsSource, account)
  }
}
