// A peer's audit of an epoch root (settlement/epoch/audit.ts) with what it reads itself:
// the chain (the previous root and cutoff, the escrow's releases in the epoch's blocks,
// the registry's split and treasury) and its own datanets (who contributed to the
// datanet a job names). Co-signers run it before they sign a proposal; watchers run it
// on every posted root before its challenge window ends.
//
// Contributor weights: the job's announce must be the one the requester assigned (its
// hash is the release's `spec`), and every contributor the receipt pays must have
// contributed to the datanet that this peer's own description of the job credits
// (peer/settlement/job-description.ts): paying anyone else is `wrong`. The weights'
// values are compared too, but a difference is only a note: the credit map grows as
// attributions arrive, so two honest peers may see it at different times.
import type { JsonRpcProvider } from 'ethers'
import { auditEpoch, evidenceOf, releaseOf, type AuditFacts, type AuditReport, type ChainRelease, type EpochBundle, type WeightsCheck } from '../../settlement/epoch/index.ts'
import type { SettlementClient } from '../../settlement/chain/client.ts'
import type { JobAnnounce } from '../../protocols/messages/index.ts'
import type { DatanetView } from '../../storage/datanet/view.ts'
import { announceHash } from '../market/assignment-proof.ts'
import { describeJob } from './job-description.ts'

export interface RootAuditDeps {
  chain: () => SettlementClient
  provider: () => JsonRpcProvider
  /** The block the contracts were deployed at: the first epoch's releases start there. */
  deployBlock: number
  /** This peer's datanets, credit as the chain entitles it (as describeJob takes them). */
  views: () => Promise<DatanetView[]>
  /** Follow a job's `D@VERSION` so its contributors can be checked. */
  follow?: (ref: string) => Promise<void>
  log: (msg: string, fields?: Record<string, unknown>) => void
}

/** A proposal for the chain's next epoch (co-signing), or the root the chain holds (watching). */
export type AuditTarget = { kind: 'proposal' } | { kind: 'posted', root: string, total: bigint, toBlock: number }

/**
 * What a posted root's total must be from the chain alone: the previous root's total plus
 * every fee the escrow released in the epoch's blocks (a fee is split to the wei, and
 * the live network pays nothing but released fees). No bundle needed.
 */
export async function expectedTotal (deps: RootAuditDeps, epoch: number, toBlock: number): Promise<bigint> {
  const client = deps.chain()
  let from = deps.deployBlock
  let total = 0n
  if (epoch > 1) {
    const prev = await client.rootOf(epoch - 1)
    from = Number(prev.toBlock) + 1
    total = prev.total
  }
  for (const r of await releasesIn(client, from, toBlock)) total += r.fee
  return total
}

/** JobReleased events in blocks [from, to], as the audit takes them. */
async function releasesIn (client: SettlementClient, from: number, to: number): Promise<ChainRelease[]> {
  if (to < from) return []
  return (await client.releases(from, to)).map(r => releaseOf(r, r.block))
}

function weightsCheck (deps: RootAuditDeps, notes: string[]): WeightsCheck {
  return async (receipt, announce, spec) => {
    if (announce == null || typeof announce !== 'object') return { unverified: 'the bundle does not carry the job\'s announce' }
    let hash: string
    try {
      hash = announceHash(announce as JobAnnounce)
    } catch {
      return { wrong: 'the job\'s announce in the bundle is malformed' }
    }
    if (hash.toLowerCase() !== spec.toLowerCase()) return { wrong: 'the job\'s announce is not the one its requester assigned (its hash is not the release\'s spec)', details: { spec, announce: hash } }
    const own = await describeJob(receipt.jobId, {
      job: async () => ({ announce: announce as JobAnnounce }),
      views: deps.views,
      follow: deps.follow,
      log: deps.log
    }).catch((err: Error) => { deps.log('audit: could not describe a job', { job: receipt.jobId, error: err.message }); return undefined })
    if (own?.credit === undefined) return { unverified: 'this peer cannot tell which datanet the job credits' }
    const view = (await deps.views()).find(v => v.id === own.credit!.datanet)
    const members = new Set((view?.contributions ?? []).map(c => c.contributor.toLowerCase()))
    const strangers = (receipt.contributorWeights ?? []).filter(w => w.weight > 0 && !members.has(w.contributor.toLowerCase())).map(w => w.contributor)
    if (strangers.length > 0) return { wrong: 'the receipt pays accounts that never contributed to the job\'s datanet', details: { datanet: own.credit.datanet, strangers: strangers.slice(0, 10) } }
    const theirs = JSON.stringify((receipt.contributorWeights ?? []).map(w => [w.contributor.toLowerCase(), w.weight]))
    const ours = JSON.stringify((own.contributorWeights ?? []).map(w => [w.contributor.toLowerCase(), w.weight]))
    if (theirs !== ours) notes.push(`job ${receipt.jobId}: contributor weights differ from this peer's view of the credit map`)
    return undefined
  }
}

/** Audits `bundleJson` against the chain as it is now. */
export async function auditRoot (bundleJson: string, target: AuditTarget, deps: RootAuditDeps): Promise<AuditReport & { notes: string[] }> {
  const notes: string[] = []
  let bundle: EpochBundle
  try {
    bundle = JSON.parse(bundleJson) as EpochBundle
  } catch {
    return { ...await auditEpoch(undefined, { firstEpoch: 1, releases: [], feeSplit: { worker: 0, verifiers: 0, contributors: 0, treasury: 0 }, treasury: '0x' + '00'.repeat(20) }), notes }
  }
  const client = deps.chain()
  const epoch = Number(bundle?.epoch)
  const toBlock = Number(bundle?.toBlock)
  const [split, treasury, head, next] = await Promise.all([
    client.read<bigint[]>('registry', 'rewardSplit'),
    client.read<string>('registry', 'treasury'),
    deps.provider().getBlockNumber(),
    client.nextEpoch()
  ])
  const facts: AuditFacts = {
    firstEpoch: 1,
    releases: [],
    feeSplit: { worker: Number(split[0]), verifiers: Number(split[1]), contributors: Number(split[2]), treasury: Number(split[3]) },
    treasury
  }
  if (target.kind === 'proposal') {
    // Only the chain's next epoch can be posted; its cutoff must be a mined block.
    const refuse = (code: string, message: string, details: Record<string, unknown>): AuditReport & { notes: string[] } => {
      const wrong = [{ code, message, details }]
      return { epoch, ok: false, wrong, unverified: [], evidence: evidenceOf(wrong), notes }
    }
    if (BigInt(epoch) !== next) return refuse('not-next-epoch', 'the chain takes another epoch next', { next: next.toString(), epoch })
    // postRoot's block comes after the head, so the head itself may be the cutoff.
    if (!Number.isSafeInteger(toBlock) || toBlock > head) return refuse('cutoff', 'the cutoff block is not mined yet', { toBlock, head })
  } else {
    facts.posted = { root: target.root, total: target.total, toBlock: target.toBlock }
  }
  let from = deps.deployBlock
  if (Number.isSafeInteger(epoch) && epoch > 1) {
    const prev = await client.rootOf(epoch - 1)
    facts.previous = { root: prev.root, total: prev.total, toBlock: Number(prev.toBlock) }
    from = Number(prev.toBlock) + 1
  }
  if (Number.isSafeInteger(toBlock) && toBlock >= from && toBlock < head + 1) facts.releases = await releasesIn(client, from, toBlock)
  const report = await auditEpoch(bundle, facts, weightsCheck(deps, notes))
  return { ...report, notes }
}
