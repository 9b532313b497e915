// Recomputes an epoch's reward root from the chain's own events and the epoch's
// published inputs (its bundle), so that no aggregator has to be trusted: a co-signer
// audits a proposed root before it signs, and a watcher audits every posted root and
// challenges a wrong one before it is final (RewardDistributor.challengeRoot).
//
// What the chain fixes and the audit checks exactly: the previous epoch's balances
// (their tree must give the root on chain), which jobs the epoch pays (every escrow
// release in blocks (previous toBlock, toBlock], nothing else: no credit receipts, no
// job paid twice), each job's fee, worker and verifiers (the JobReleased event), the
// fee split and treasury (the registry), and the arithmetic (the shared ledger and tree
// code). What it cannot fix from the chain alone, contributor weights, is handed to a
// caller's check (the job's announce, whose hash the release names, and the datanet it
// names). Findings are `wrong` (provable from what the auditor holds: worth a bond) or
// `unverified` (the auditor could not tell: no signature, no challenge).
import type { FeeSplitPolicy } from '../policy/index.ts'
import { buildCumulativeTree, keccak256, toHex } from '../merkle/index.ts'
import { normalizeAddress } from '../merkle/hex.ts'
import { computeEpochLedger } from './ledger.ts'
import { isJobReceipt, normalizeReceipt, type JobReceipt, type Receipt, type ReceiptJson } from './receipts.ts'
import type { CumulativeEntry } from '../merkle/index.ts'
import type { LedgerFile } from './epoch-records.ts'
import { EpochStateError } from './errors.ts'

export const BUNDLE_FORMAT = 'openledger-epoch-bundle-v1'
/** Bounds on what an auditor reads: a bundle over these is refused, not processed. */
export const MAX_BUNDLE_ACCOUNTS = 200_000
export const MAX_BUNDLE_RECEIPTS = 50_000

/** What an epoch's root is computed from, as its aggregator publishes it (JSON-safe). */
export interface EpochBundle {
  format: typeof BUNDLE_FORMAT
  epoch: number
  root: string
  /** Decimal wei. */
  total: string
  /** The last block whose escrow releases the epoch pays. */
  toBlock: number
  feeSplit: FeeSplitPolicy
  treasury: string
  /** Cumulative balances after the previous epoch, [account, decimal wei]: its tree's leaves. Empty for the first epoch. */
  previous: Array<[string, string]>
  receipts: ReceiptJson[]
  /** By job id: the job's announce as the requester signed it, for each receipt that pays contributors. */
  announces?: Record<string, unknown>
}

/**
 * A sealed epoch's bundle: the previous epoch's balances, this epoch's receipts, the split
 * and treasury it was sealed with, its cutoff block (EpochStateError for an epoch sealed without one).
 */
export function bundleOf (ledger: LedgerFile, previous: readonly CumulativeEntry[], receipts: ReceiptJson[], announces?: Record<string, unknown>): EpochBundle {
  if (ledger.toBlock === undefined) throw new EpochStateError('epoch was sealed without a cutoff block', { epoch: ledger.epoch })
  return {
    format: BUNDLE_FORMAT,
    epoch: ledger.epoch,
    root: ledger.root,
    total: ledger.total,
    toBlock: ledger.toBlock,
    feeSplit: ledger.feeSplit,
    treasury: ledger.treasury,
    previous: previous.map(e => [e.account, e.cumulative.toString()]),
    receipts,
    ...(announces !== undefined ? { announces } : {})
  }
}

/** One JobReleased event. */
export interface ChainRelease {
  jobId: string
  fee: bigint
  worker: string
  verifiers: string[]
  /** keccak of the job's announce, as the requester's assignment names it. */
  spec: string
  block: number
}

/** What the auditor read from the chain itself. */
export interface AuditFacts {
  /** The distributor's first epoch number (1). */
  firstEpoch: number
  /** The previous epoch as the chain holds it; absent for the first epoch. */
  previous?: { root: string, total: bigint, toBlock: number }
  /** Every JobReleased from the block after the previous epoch's toBlock (or the deployment) up to the bundle's toBlock. */
  releases: readonly ChainRelease[]
  /** The registry's rewardSplit() and treasury(). */
  feeSplit: FeeSplitPolicy
  treasury: string
  /** The root as posted, when auditing a posted root (a watcher); absent when auditing a proposal (a co-signer). */
  posted?: { root: string, total: bigint, toBlock: number }
}

export interface AuditFinding {
  code: string
  message: string
  details?: Record<string, unknown>
}

/**
 * A caller's check of one receipt's contributor weights, given the job's announce (as
 * the bundle carries it, or undefined) and the spec hash the escrow released it under.
 */
export type WeightsCheck = (receipt: JobReceipt, announce: unknown, spec: string) => Promise<{ wrong?: string, unverified?: string, details?: Record<string, unknown> } | undefined>

export interface AuditReport {
  epoch: number
  /** No finding of either kind: safe to sign. */
  ok: boolean
  wrong: AuditFinding[]
  unverified: AuditFinding[]
  /** keccak of the wrong findings' canonical JSON: what a challenge names as its evidence (zero hash when none). */
  evidence: string
  /** What the bundle's inputs give. */
  recomputed?: { root: string, total: string }
}

const ZERO = '0x' + '00'.repeat(32)

function sameSet (a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  const x = [...a].sort()
  const y = [...b].sort()
  return x.every((v, i) => v === y[i])
}

function splitEquals (a: FeeSplitPolicy, b: FeeSplitPolicy): boolean {
  return a.worker === b.worker && a.verifiers === b.verifiers && a.contributors === b.contributors && a.treasury === b.treasury
}

/** The evidence hash of a list of findings: canonical JSON (codes, messages, details), keccak. */
export function evidenceOf (findings: readonly AuditFinding[]): string {
  if (findings.length === 0) return ZERO
  const text = JSON.stringify(findings.map(f => [f.code, f.message, f.details ?? {}]), (_k, v: unknown) => typeof v === 'bigint' ? v.toString() : v)
  return toHex(keccak256(new TextEncoder().encode(text)))
}

/** Audits `bundle` against the chain's `facts`; never throws on bad input (a bad bundle is a finding). */
export async function auditEpoch (bundle: unknown, facts: AuditFacts, checkWeights?: WeightsCheck): Promise<AuditReport> {
  const wrong: AuditFinding[] = []
  const unverified: AuditFinding[] = []
  const b = bundle as Partial<EpochBundle> | null
  const epoch = typeof b?.epoch === 'number' ? b.epoch : -1
  const done = (recomputed?: AuditReport['recomputed']): AuditReport =>
    ({ epoch, ok: wrong.length === 0 && unverified.length === 0, wrong, unverified, evidence: evidenceOf(wrong), ...(recomputed !== undefined ? { recomputed } : {}) })

  // Shape first: nothing below runs on a bundle that is not one.
  if (b == null || typeof b !== 'object' || b.format !== BUNDLE_FORMAT) {
    wrong.push({ code: 'not-a-bundle', message: 'the epoch\'s published inputs are not a bundle' })
    return done()
  }
  if (!Number.isSafeInteger(b.epoch) || !Number.isSafeInteger(b.toBlock) || typeof b.root !== 'string' || typeof b.total !== 'string' || !/^(0|[1-9][0-9]{0,77})$/.test(b.total) ||
      !Array.isArray(b.previous) || b.previous.length > MAX_BUNDLE_ACCOUNTS || !Array.isArray(b.receipts) || b.receipts.length > MAX_BUNDLE_RECEIPTS ||
      b.feeSplit == null || typeof b.treasury !== 'string') {
    wrong.push({ code: 'malformed-bundle', message: 'the bundle is malformed or over its size bounds' })
    return done()
  }
  const root = b.root.toLowerCase()
  const total = BigInt(b.total)
  const toBlock = b.toBlock as number

  // The posted root must be the bundle's.
  if (facts.posted !== undefined) {
    if (facts.posted.root.toLowerCase() !== root || facts.posted.total !== total || facts.posted.toBlock !== toBlock) {
      wrong.push({ code: 'bundle-not-posted-root', message: 'the bundle is not of the root on chain', details: { posted: facts.posted.root, bundle: root, postedToBlock: facts.posted.toBlock, bundleToBlock: toBlock } })
      return done()
    }
  }

  // The registry's rules, not the aggregator's.
  let treasury: string
  try {
    treasury = normalizeAddress(b.treasury)
  } catch {
    wrong.push({ code: 'malformed-bundle', message: 'the bundle\'s treasury is not an address' })
    return done()
  }
  if (!splitEquals(b.feeSplit, facts.feeSplit)) wrong.push({ code: 'fee-split', message: 'the bundle splits fees otherwise than the registry', details: { bundle: b.feeSplit, registry: facts.feeSplit } })
  if (treasury !== normalizeAddress(facts.treasury)) wrong.push({ code: 'treasury', message: 'the bundle pays another treasury than the registry\'s', details: { bundle: treasury, registry: facts.treasury } })

  // The previous balances must be the ones the chain holds.
  let previous: Array<{ account: string, cumulative: bigint }>
  try {
    previous = b.previous.map(([account, c]) => {
      if (typeof c !== 'string' || !/^(0|[1-9][0-9]{0,77})$/.test(c)) throw new Error('bad amount')
      return { account: normalizeAddress(account), cumulative: BigInt(c) }
    })
  } catch {
    wrong.push({ code: 'malformed-bundle', message: 'the bundle\'s previous balances are malformed' })
    return done()
  }
  if (epoch === facts.firstEpoch) {
    if (previous.length > 0) wrong.push({ code: 'previous-balances', message: 'the first epoch has no previous balances', details: { listed: previous.length } })
  } else if (facts.previous === undefined) {
    wrong.push({ code: 'previous-balances', message: 'the previous epoch is not on chain' })
  } else {
    const tree = previous.length > 0 ? buildCumulativeTree(previous) : undefined
    if (tree === undefined || tree.root.toLowerCase() !== facts.previous.root.toLowerCase() || tree.total !== facts.previous.total) {
      wrong.push({ code: 'previous-balances', message: 'the previous balances do not give the previous root on chain', details: { chain: facts.previous.root, theirs: tree?.root ?? null } })
    }
    if (toBlock <= facts.previous.toBlock) wrong.push({ code: 'cutoff', message: 'the cutoff block is not after the previous epoch\'s', details: { previous: facts.previous.toBlock, toBlock } })
  }

  // Exactly the releases in the epoch's blocks, as the escrow released them.
  let receipts: Receipt[]
  try {
    receipts = b.receipts.map(r => normalizeReceipt(r))
  } catch (err) {
    wrong.push({ code: 'malformed-receipt', message: (err as Error).message, details: (err as { details?: Record<string, unknown> }).details })
    return done()
  }
  const releases = new Map(facts.releases.map(r => [r.jobId.toLowerCase(), r]))
  const paid = new Set<string>()
  for (const r of receipts) {
    if (!isJobReceipt(r)) {
      wrong.push({ code: 'credit-without-event', message: 'a credit receipt has no chain event behind it', details: { id: r.id, account: r.account, amount: r.amount.toString() } })
      continue
    }
    const jobId = r.jobId.toLowerCase()
    const release = releases.get(jobId)
    if (release === undefined || r.id !== `job:${r.jobId}`) {
      wrong.push({ code: 'job-not-released-in-epoch', message: 'a receipt pays a job the escrow did not release in the epoch\'s blocks', details: { id: r.id, jobId: r.jobId } })
      continue
    }
    if (paid.has(jobId)) {
      wrong.push({ code: 'job-paid-twice', message: 'a job is paid twice', details: { jobId: r.jobId } })
      continue
    }
    paid.add(jobId)
    if (r.fee !== release.fee || r.worker !== normalizeAddress(release.worker) || !sameSet(r.verifiers, release.verifiers.map(v => normalizeAddress(v)))) {
      wrong.push({ code: 'receipt-not-as-released', message: 'a receipt\'s fee, worker or verifiers differ from the escrow\'s release', details: { jobId: r.jobId, fee: r.fee.toString(), released: release.fee.toString(), worker: r.worker, releasedWorker: release.worker } })
      continue
    }
    if (r.contributorWeights !== undefined && r.contributorWeights.length > 0) {
      const announce = b.announces?.[r.jobId]
      const verdict = checkWeights === undefined ? { unverified: 'no check of contributor weights here' } : await checkWeights(r, announce, release.spec)
      if (verdict?.wrong !== undefined) wrong.push({ code: 'contributor-weights', message: verdict.wrong, details: { jobId: r.jobId, ...verdict.details } })
      else if (verdict?.unverified !== undefined) unverified.push({ code: 'contributor-weights', message: verdict.unverified, details: { jobId: r.jobId, ...verdict.details } })
    }
  }
  const missing = [...releases.keys()].filter(j => !paid.has(j))
  if (missing.length > 0) wrong.push({ code: 'release-not-paid', message: 'escrow releases in the epoch\'s blocks are not paid', details: { jobs: missing.slice(0, 20), count: missing.length } })

  // The arithmetic: the shared ledger and tree code over the bundle's own inputs.
  let recomputed: AuditReport['recomputed']
  try {
    const ledger = computeEpochLedger({ receipts, previous, feeSplit: b.feeSplit, treasury })
    const tree = buildCumulativeTree(ledger.cumulative)
    recomputed = { root: tree.root.toLowerCase(), total: tree.total.toString() }
    if (recomputed.root !== root || tree.total !== total) {
      wrong.push({ code: 'root-mismatch', message: 'the bundle\'s inputs give another root or total', details: { claimed: root, recomputed: recomputed.root, claimedTotal: total.toString(), recomputedTotal: recomputed.total } })
    }
  } catch (err) {
    wrong.push({ code: 'root-mismatch', message: `the bundle's inputs give no root: ${(err as Error).message}` })
  }
  return done(recomputed)
}

/** The chain's JobReleased logs as the audit takes them (the chain client's parsed event args). */
export function releaseOf (args: { jobId: string, worker: string, amount: bigint, verifiers: readonly string[], spec: string }, block: number): ChainRelease {
  return { jobId: args.jobId, fee: args.amount, worker: args.worker, verifiers: [...args.verifiers], spec: args.spec, block }
}
