// Nobody has to trust one aggregator with the reward root:
// - a co-signer (`node start --cosign`, aggregator stake) audits each proposed root
//   (./root-audit.ts) and signs it only if the chain's events and the epoch's bundle give
//   exactly that root; it keeps the bundles it signed and serves them to watchers;
// - a watcher (`--watch`; every co-signer watches too) audits every posted root before
//   its challenge window ends and challenges a wrong one on chain, putting up the
//   registry's bond (RewardDistributor.challengeRoot). A root whose bundle nobody serves
//   by half the window cannot be checked, so it is challenged too: an honest aggregator
//   always serves it. A root that is only `unverified` (this peer could not tell) is
//   neither signed nor challenged.
// Who may ask a co-signer: anyone (the audit, not the asker, decides); bundles are public.
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { id as keccakText, type NonceManager } from 'ethers'
import { askBundle, serveEpochs, CosignRefusedError, EPOCH_PROTOCOL, type CosignAnswer } from '../../protocols/epoch/epoch.ts'
import type { StreamHost } from '../../protocols/reqresp.ts'
import { signMessage } from '../../settlement/chain/signatures.ts'
import { evidenceOf } from '../../settlement/epoch/index.ts'
import { readJsonIfExists, writeJsonAtomic } from '../../storage/atomic-file.ts'
import { auditRoot, expectedTotal, type RootAuditDeps } from './root-audit.ts'

export interface RootWatchOptions extends RootAuditDeps {
  host: StreamHost
  wallet: NonceManager
  dataDir: string
  cosign: boolean
  watch: boolean
  /** Peers that speak /openledger/epoch (aggregators, co-signers), not this one. */
  epochPeers: () => Promise<PeerId[]>
  /** This peer's own bundle of an epoch, when it aggregates (the builder's). */
  ownBundle?: (epoch: number) => Promise<string | undefined>
  /** Chain time, unix seconds. */
  now: () => number
}

/** Audit outcomes kept in memory (the newest). */
const MAX_WATCHED = 256

interface Watched { epoch: number, root: string, outcome: 'right' | 'challenged' | 'unverified', at: number, findings?: unknown }

export class RootWatch {
  readonly opts: RootWatchOptions
  /** What this peer concluded about each posted root it audited, newest last (the API shows it). */
  readonly watched: Watched[] = []
  private readonly dir: string
  /** When this peer first looked for a root's bundle and found none (ms), by `epoch-root`. */
  private readonly firstSeen = new Map<string, number>()

  constructor (opts: RootWatchOptions) {
    this.opts = opts
    this.dir = join(opts.dataDir, 'epoch-bundles')
  }

  async start (): Promise<void> {
    await serveEpochs(this.opts.host, {
      bundle: async (epoch) => await this.opts.ownBundle?.(epoch) ?? await this.stored(epoch),
      ...(this.opts.cosign ? { cosign: async (bundle) => await this.cosign(bundle) } : {})
    })
  }

  async stop (): Promise<void> {
    await this.opts.host.unhandle(EPOCH_PROTOCOL).catch(() => {})
  }

  private async stored (epoch: number): Promise<string | undefined> {
    const onChain = await this.opts.chain().rootOf(epoch).catch(() => undefined)
    if (onChain === undefined) return undefined
    const file = await readJsonIfExists<{ bundle: string }>(join(this.dir, `${epoch}-${onChain.root.toLowerCase()}.json`))
    return file?.bundle
  }

  /** Audits a proposed root and signs it if it is right; throws CosignRefusedError otherwise. */
  async cosign (bundleJson: string): Promise<CosignAnswer> {
    const report = await auditRoot(bundleJson, { kind: 'proposal' }, this.opts)
    if (!report.ok) {
      this.opts.log('root co-signature refused', { epoch: report.epoch, wrong: report.wrong.map(f => f.code), unverified: report.unverified.map(f => f.code) })
      const first = report.wrong[0] ?? report.unverified[0]
      throw new CosignRefusedError(`${report.wrong.length > 0 ? 'wrong' : 'unverified'}: ${first?.code ?? 'audit'}: ${first?.message ?? 'the root does not audit'}`)
    }
    const b = JSON.parse(bundleJson) as { epoch: number, root: string, total: string, toBlock: number }
    const client = this.opts.chain()
    const signed = await signMessage(this.opts.wallet, 'EpochRoot', client.domain('distributor'), { epoch: BigInt(b.epoch), root: b.root, total: BigInt(b.total), toBlock: BigInt(b.toBlock) })
    // Kept so watchers can fetch it from here too, should the proposer go away.
    await writeJsonAtomic(join(this.dir, `${b.epoch}-${b.root.toLowerCase()}.json`), { bundle: bundleJson })
    this.opts.log('root co-signed', { epoch: b.epoch, root: b.root, notes: report.notes.length > 0 ? report.notes : undefined })
    return signed
  }

  /** One watch round: audits the pending root, if any and not yet audited, and challenges a wrong one. */
  async tick (): Promise<void> {
    if (!this.opts.watch) return
    const client = this.opts.chain()
    const latest = Number(await client.nextEpoch()) - 1
    if (latest < 1) return
    const posted = await client.rootOf(latest)
    const now = this.opts.now()
    if (/^0x0{64}$/.test(posted.root) || BigInt(now) >= posted.finalAt) return
    const root = posted.root.toLowerCase()
    if (this.watched.some(w => w.epoch === latest && w.root === root)) return
    let bundle: string | undefined = await this.stored(latest).catch(() => undefined)
    const asked: string[] = []
    for (const peer of bundle === undefined ? await this.opts.epochPeers() : []) {
      try {
        bundle = await askBundle(this.opts.host, peer, latest)
        break
      } catch (err) {
        asked.push(`${peer.toString()}: ${(err as Error).message}`)
      }
    }
    if (bundle === undefined) {
      // What the chain alone proves: a total that is not what was released is wrong now.
      const expected = await expectedTotal(this.opts, latest, Number(posted.toBlock))
      if (expected !== posted.total) {
        const wrong = [{ code: 'total-not-released', message: 'the root\'s total is not the previous total plus the fees released in its blocks', details: { total: posted.total.toString(), released: expected.toString() } }]
        await this.challenge(latest, root, evidenceOf(wrong), { wrong })
        return
      }
      const window = Number(await client.read<bigint>('registry', 'challengeWindow'))
      const postedAt = Number(posted.finalAt) - window
      // Elapsed by the chain's clock or, where blocks come only with transactions (a
      // devnet), by ours since this peer first saw the root.
      const key = `${latest}-${root}`
      if (!this.firstSeen.has(key)) this.firstSeen.set(key, Date.now())
      const elapsed = Math.max(now - postedAt, (Date.now() - this.firstSeen.get(key)!) / 1000)
      if (elapsed < window / 2) return // ask again next round
      this.firstSeen.delete(key)
      await this.challenge(latest, root, keccakText(`no bundle for epoch ${latest} root ${root}`), { reason: 'nobody serves the epoch\'s bundle', asked })
      return
    }
    this.firstSeen.delete(`${latest}-${root}`)
    const report = await auditRoot(bundle, { kind: 'posted', root, total: posted.total, toBlock: Number(posted.toBlock) }, this.opts)
    if (report.wrong.length > 0) {
      await this.challenge(latest, root, report.evidence, { wrong: report.wrong })
      return
    }
    const outcome = report.unverified.length > 0 ? 'unverified' : 'right'
    this.remember({ epoch: latest, root, outcome, at: now, ...(outcome === 'unverified' ? { findings: report.unverified } : {}) })
    this.opts.log('root audited', { epoch: latest, root, outcome, notes: report.notes.length > 0 ? report.notes : undefined })
  }

  private remember (w: Watched): void {
    this.watched.push(w)
    if (this.watched.length > MAX_WATCHED) this.watched.splice(0, this.watched.length - MAX_WATCHED)
  }

  private async challenge (epoch: number, root: string, evidence: string, findings: Record<string, unknown>): Promise<void> {
    this.opts.log('challenging a reward root', { epoch, root, evidence, ...findings })
    const tx = await this.opts.chain().challengeRoot(epoch, evidence)
    this.remember({ epoch, root, outcome: 'challenged', at: this.opts.now(), findings })
    this.opts.log('reward root challenged', { epoch, root, tx: tx.receipt.hash })
  }
}
