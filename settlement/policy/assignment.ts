// Assignment: which bidders run a job and which check it. Every peer that sees the same
// job and the same bids must pick the same peers, and nobody may gain by bidding first,
// last or often, so the rule is a pure function with integer scores: filter (price, stake,
// exclusions, capacity, deadline), score each bid as a weighted sum of price, reputation
// and capped stake in exact integer points, take the best n as workers and the best m
// others as verifiers. Equal points are broken by keccak256(job id || peer), which no
// bidder controls for a job it has not seen yet. settlement/policy/README.md gives the rules.
import { keccak_256 } from '@noble/hashes/sha3.js'
import { InvalidPolicyInputError } from './errors.ts'
import { compareStrings } from './split-pool.ts'

/** Which roles a bid offers; 'any' (the default) offers both. */
export type BidRole = 'worker' | 'verifier' | 'any'

export interface Bid {
  /** The bidder's peer id or address, as the network names it (compared exactly). */
  peer: string
  /** What it asks to run the job, in wei; >= 0. */
  price: bigint
  /** Its bonded stake for the role it bids for, in wei; >= 0. */
  stake: bigint
  /** Its reputation score, in [0, 1] (reputation(...).score). */
  reputation: number
  /** Jobs it can still take now; 0 = none (rejected). Absent = not advertised, not checked. */
  capacity?: number
  /** Its own estimate of the run time in ms; checked against the job's deadline only. */
  etaMs?: number
  role?: BidRole
  /**
   * The device its work runs on, as it states it: `kind` the provider (cpu, webgpu, cuda),
   * `class` what a bit-exact replay needs alike (provider, hardware, onnxruntime build),
   * `gflops` its measured MatMul rate there. Absent: not stated (fails any device need).
   */
  device?: BidDevice
}

export interface BidDevice { kind: string, class: string, gflops?: number }

/** What a requester asks of its worker's device; verifiers and referees may be on any. */
export interface DeviceNeeds {
  /** The device kind (provider) the worker must run on. */
  device?: string
  /** The least MatMul rate (GFLOP/s) the worker must state for that device. */
  minGflops?: number
}

export interface AssignmentJob {
  /** The job's id; seeds the tie-break. */
  id: string
  /** The most the requester pays (what it put in escrow), in wei; >= 0. */
  maxPrice: bigint
  /** Stake a worker must have bonded, in wei; >= 0. */
  requiredStake: bigint
  /** Stake a verifier must have bonded, in wei; default requiredStake. */
  requiredVerifierStake?: bigint
  /** How many workers to choose; integer >= 0. */
  workers: number
  /** How many verifiers to choose, none of them a worker; integer >= 0. */
  verifiers: number
  /** Never chosen, for either role. */
  requester?: string
  /** Also never chosen, e.g. a worker that timed out on this job before. */
  exclude?: readonly string[]
  /** A worker bid whose etaMs is above this is rejected. */
  deadlineMs?: number
  /** How many referees to choose after the verifiers (best remaining verifier bids, those on the first worker's device class first); not needed for `complete`. Default 0. */
  referees?: number
  /** What the worker's device must be. */
  needs?: DeviceNeeds
}

/** Weights of the three parts of a score, in basis points: integers >= 0 summing to 10,000. */
export interface ScoreWeights {
  price: number
  reputation: number
  stake: number
}

export interface AssignmentPolicy {
  /** How workers are ranked. */
  weights: ScoreWeights
  /** How verifiers are ranked. */
  verifierWeights: ScoreWeights
  /** Stake counts up to this many basis points of the required stake; integer >= 10,000. */
  stakeCapBps: number
}

/**
 * Workers: price first (requesters pay it), reputation next, stake a little. A
 * reputation lead of d is worth a price difference of (3500 / 5000) d = 0.7 d of maxPrice.
 * Verifiers: the fee split pays them a fixed part whatever they bid, so price counts for
 * nothing; reputation (forced errors lower a lazy verifier's) and stake. Stake counts up
 * to 2x the required stake, so nobody buys the market with a large bond.
 */
export const DEFAULT_ASSIGNMENT_POLICY: Readonly<AssignmentPolicy> = Object.freeze({
  weights: Object.freeze({ price: 5000, reputation: 3500, stake: 1500 }),
  verifierWeights: Object.freeze({ price: 0, reputation: 7000, stake: 3000 }),
  stakeCapBps: 20_000
})

/** Each part of a score is an integer in [0, PART_UNITS]; a score is sum(weight bps x part). */
export const PART_UNITS = 1_000_000_000n
const BPS = 10_000n
const MAX_POINTS = Number(BPS * PART_UNITS)

export type AssignmentRole = 'worker' | 'verifier'

export type RejectionReason =
  | { reason: 'excluded' }
  | { reason: 'no-capacity' }
  | { reason: 'price-above-max', maxPrice: bigint }
  | { reason: 'stake-below-required', role: AssignmentRole, required: bigint }
  | { reason: 'too-slow', deadlineMs: number }
  | { reason: 'wrong-device', device: string }
  | { reason: 'below-min-rate', minGflops: number }

export interface RoleScore {
  /** sum(weight bps x part units): what the ranking compares. */
  points: bigint
  /** points / (10,000 x PART_UNITS), in [0, 1]: for reading. */
  score: number
  /** 0-based place in this role's ranking among eligible bids. */
  rank: number
}

export interface BidAssessment {
  peer: string
  role: BidRole
  /** The three parts of the score in [0, 1]: 1 = free / fully reputable / stake at the cap (stake against the worker requirement when the bid offers that role). */
  parts: { price: number, reputation: number, stake: number }
  /** Present when the bid is eligible for that role. */
  worker?: RoleScore
  verifier?: RoleScore
  /** keccak256(utf8(job id) || utf8(peer)), hex: the tie-break, lower first. */
  tiebreak: string
  chosen: AssignmentRole | 'referee' | null
  /** Why it is not eligible for a role it offered (none if eligible for every one). */
  reasons: RejectionReason[]
}

export interface Assignment {
  /** Chosen workers, best first. */
  workers: string[]
  /** Chosen verifiers, best first; none is a worker. */
  verifiers: string[]
  /** Chosen referees (who rule on a disputed verdict), best first; none is a worker or a verifier. */
  referees: string[]
  /** Whether as many workers and verifiers were found as the job asked for; if not, the caller re-announces or refunds. */
  complete: boolean
  /** Every bid, by peer. */
  bids: BidAssessment[]
}

const ROLES: readonly BidRole[] = ['worker', 'verifier', 'any']
const encoder = new TextEncoder()

function checkWei (value: unknown, field: string): bigint {
  if (typeof value !== 'bigint' || value < 0n) throw new InvalidPolicyInputError(`${field} must be a bigint >= 0 (wei)`, { field, value: String(value) })
  return value
}

function checkCount (value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new InvalidPolicyInputError(`${field} must be an integer >= 0`, { field, value })
  return value
}

const MAX_DEVICE_CHARS = 256

function checkNeeds (needs: unknown): DeviceNeeds {
  if (needs === undefined) return {}
  if (needs === null || typeof needs !== 'object') throw new InvalidPolicyInputError('job.needs must be an object', {})
  const { device, minGflops } = needs as DeviceNeeds
  if (device !== undefined && (typeof device !== 'string' || device === '' || device.length > MAX_DEVICE_CHARS)) throw new InvalidPolicyInputError('job.needs.device must be a device name', { device })
  if (minGflops !== undefined && (typeof minGflops !== 'number' || !Number.isFinite(minGflops) || minGflops <= 0)) throw new InvalidPolicyInputError('job.needs.minGflops must be a finite number > 0', { minGflops })
  return { ...(device !== undefined ? { device } : {}), ...(minGflops !== undefined ? { minGflops } : {}) }
}

function checkBidDevice (device: unknown, peer: string): BidDevice | undefined {
  if (device === undefined) return undefined
  if (device === null || typeof device !== 'object') throw new InvalidPolicyInputError('bid device must be an object', { peer })
  const { kind, class: cls, gflops } = device as BidDevice
  for (const [field, v] of [['kind', kind], ['class', cls]] as const) {
    if (typeof v !== 'string' || v === '' || v.length > MAX_DEVICE_CHARS) throw new InvalidPolicyInputError(`bid device.${field} must be a non-empty string`, { peer, value: v })
  }
  if (gflops !== undefined && (typeof gflops !== 'number' || !Number.isFinite(gflops) || gflops < 0)) throw new InvalidPolicyInputError('bid device.gflops must be a finite number >= 0', { peer, gflops })
  return device as BidDevice
}

function checkPeer (value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw new InvalidPolicyInputError(`${field} must be a non-empty string`, { field, value })
  return value
}

function checkWeights (w: ScoreWeights, field: string): ScoreWeights {
  if (w == null || typeof w !== 'object') throw new InvalidPolicyInputError(`${field} must be an object`, { field })
  let sum = 0
  for (const key of ['price', 'reputation', 'stake'] as const) {
    const bp = w[key]
    if (typeof bp !== 'number' || !Number.isInteger(bp) || bp < 0 || bp > 10_000) throw new InvalidPolicyInputError('weights must be integers in [0, 10000]', { field: `${field}.${key}`, value: bp })
    sum += bp
  }
  if (sum !== 10_000) throw new InvalidPolicyInputError('weights must sum to 10000', { field, sum })
  return w
}

function checkPolicy (policy: Partial<AssignmentPolicy>): AssignmentPolicy {
  if (policy == null || typeof policy !== 'object') throw new InvalidPolicyInputError('assignment policy must be an object', {})
  const d = DEFAULT_ASSIGNMENT_POLICY
  const stakeCapBps = policy.stakeCapBps ?? d.stakeCapBps
  if (!Number.isSafeInteger(stakeCapBps) || stakeCapBps < 10_000) throw new InvalidPolicyInputError('stakeCapBps must be an integer >= 10000', { stakeCapBps })
  return {
    weights: checkWeights(policy.weights ?? d.weights, 'weights'),
    verifierWeights: checkWeights(policy.verifierWeights ?? d.verifierWeights, 'verifierWeights'),
    stakeCapBps
  }
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'))

function hex (bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]]
  return s
}

const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff
const isLow = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff

/** keccak256(utf8(jobId) || utf8(peer)) as lowercase hex. */
export function assignmentTiebreak (jobId: string, peer: string): string {
  // One encode of the joined string is the same bytes, unless the two ends would pair
  // into one surrogate pair (each lone half encodes as U+FFFD on its own): the hot path
  // of the simulator, which ranks bids for every job.
  if (!(jobId.length > 0 && peer.length > 0 && isHigh(jobId.charCodeAt(jobId.length - 1)) && isLow(peer.charCodeAt(0)))) {
    return hex(keccak_256(encoder.encode(jobId + peer)))
  }
  const a = encoder.encode(jobId)
  const b = encoder.encode(peer)
  const buf = new Uint8Array(a.length + b.length)
  buf.set(a, 0)
  buf.set(b, a.length)
  return hex(keccak_256(buf))
}

/** Extra stake above the required, up to the cap, as units in [0, PART_UNITS]; all of it if no stake is required. */
function stakePart (stake: bigint, required: bigint, capBps: number): bigint {
  const cap = (required * BigInt(capBps)) / BPS
  if (cap <= required) return PART_UNITS // nothing required (or no room above it): stake cannot tell bids apart
  const counted = (stake < cap ? stake : cap) - required
  return counted <= 0n ? 0n : (counted * PART_UNITS) / (cap - required)
}

function points (w: ScoreWeights, p: { price: bigint, reputation: bigint, stake: bigint }): bigint {
  return BigInt(w.price) * p.price + BigInt(w.reputation) * p.reputation + BigInt(w.stake) * p.stake
}

/**
 * Chooses `job.workers` workers and `job.verifiers` verifiers among the bids. Throws
 * InvalidPolicyInputError on a malformed job, bid or policy, or two bids from one peer
 * (the caller keeps one per peer, e.g. its latest signed bid; the policy does not guess).
 */
export function assignJob (job: AssignmentJob, bids: readonly Bid[], policy: Partial<AssignmentPolicy> = {}): Assignment {
  const { weights, verifierWeights, stakeCapBps } = checkPolicy(policy)
  if (job == null || typeof job !== 'object') throw new InvalidPolicyInputError('job must be an object', {})
  const jobId = checkPeer(job.id, 'job.id')
  const maxPrice = checkWei(job.maxPrice, 'job.maxPrice')
  const required = { worker: checkWei(job.requiredStake, 'job.requiredStake'), verifier: checkWei(job.requiredVerifierStake ?? job.requiredStake, 'job.requiredVerifierStake') }
  const nWorkers = checkCount(job.workers, 'job.workers')
  const nVerifiers = checkCount(job.verifiers, 'job.verifiers')
  const nReferees = checkCount(job.referees ?? 0, 'job.referees')
  const excluded = new Set<string>()
  if (job.requester !== undefined) excluded.add(checkPeer(job.requester, 'job.requester'))
  if (job.exclude !== undefined) {
    const exclude: readonly string[] = job.exclude
    if (!Array.isArray(exclude)) throw new InvalidPolicyInputError('job.exclude must be an array', {})
    exclude.forEach((p, i) => excluded.add(checkPeer(p, `job.exclude[${i}]`)))
  }
  const deadline = job.deadlineMs
  if (deadline !== undefined && (typeof deadline !== 'number' || !(deadline >= 0) || !Number.isFinite(deadline))) {
    throw new InvalidPolicyInputError('job.deadlineMs must be a finite number >= 0', { deadlineMs: deadline })
  }
  const needs = checkNeeds(job.needs)
  if (!Array.isArray(bids)) throw new InvalidPolicyInputError('bids must be an array', {})

  const seen = new Set<string>()
  const assessed: Array<BidAssessment & { pts: { worker?: bigint, verifier?: bigint }, deviceClass?: string }> = []
  for (const [i, bid] of (bids as readonly Bid[]).entries()) {
    if (bid == null || typeof bid !== 'object') throw new InvalidPolicyInputError('bid must be an object', { index: i })
    const peer = checkPeer(bid.peer, `bids[${i}].peer`)
    if (seen.has(peer)) throw new InvalidPolicyInputError('two bids from one peer', { peer })
    seen.add(peer)
    const price = checkWei(bid.price, `bids[${i}].price`)
    const stake = checkWei(bid.stake, `bids[${i}].stake`)
    const rep = bid.reputation
    if (typeof rep !== 'number' || !(rep >= 0 && rep <= 1)) throw new InvalidPolicyInputError('reputation must be a number in [0, 1]', { peer, reputation: rep })
    const role = bid.role ?? 'any'
    if (!ROLES.includes(role)) throw new InvalidPolicyInputError('role must be worker, verifier or any', { peer, role })
    if (bid.capacity !== undefined) checkCount(bid.capacity, `bids[${i}].capacity`)
    if (bid.etaMs !== undefined && (typeof bid.etaMs !== 'number' || !Number.isFinite(bid.etaMs) || bid.etaMs < 0)) {
      throw new InvalidPolicyInputError('etaMs must be a finite number >= 0', { peer, etaMs: bid.etaMs })
    }
    const device = checkBidDevice(bid.device, peer)

    const reasons: RejectionReason[] = []
    const offers = { worker: role !== 'verifier', verifier: role !== 'worker' }
    const eligible = { ...offers }
    const none = (): void => { eligible.worker = false; eligible.verifier = false }
    if (excluded.has(peer)) { reasons.push({ reason: 'excluded' }); none() }
    if (bid.capacity === 0) { reasons.push({ reason: 'no-capacity' }); none() }
    if (price > maxPrice) { reasons.push({ reason: 'price-above-max', maxPrice }); none() }
    for (const r of ['worker', 'verifier'] as const) {
      if (offers[r] && stake < required[r]) { reasons.push({ reason: 'stake-below-required', role: r, required: required[r] }); eligible[r] = false }
    }
    if (offers.worker && deadline !== undefined && bid.etaMs !== undefined && bid.etaMs > deadline) {
      reasons.push({ reason: 'too-slow', deadlineMs: deadline })
      eligible.worker = false
    }
    if (offers.worker && needs.device !== undefined && device?.kind !== needs.device) {
      reasons.push({ reason: 'wrong-device', device: needs.device })
      eligible.worker = false
    }
    if (offers.worker && needs.minGflops !== undefined && !((device?.gflops ?? -1) >= needs.minGflops)) {
      reasons.push({ reason: 'below-min-rate', minGflops: needs.minGflops })
      eligible.worker = false
    }

    // Exact integer parts: cheaper is better relative to maxPrice (a free job scores 1).
    const parts = {
      price: maxPrice === 0n ? PART_UNITS : price > maxPrice ? 0n : ((maxPrice - price) * PART_UNITS) / maxPrice,
      reputation: BigInt(Math.floor(rep * Number(PART_UNITS))),
      stake: stakePart(stake, required[offers.worker ? 'worker' : 'verifier'], stakeCapBps)
    }
    const vParts = offers.worker && offers.verifier ? { ...parts, stake: stakePart(stake, required.verifier, stakeCapBps) } : parts
    const pts: { worker?: bigint, verifier?: bigint } = {}
    if (eligible.worker) pts.worker = points(weights, parts)
    if (eligible.verifier) pts.verifier = points(verifierWeights, vParts)
    assessed.push({
      peer,
      role,
      parts: { price: Number(parts.price) / Number(PART_UNITS), reputation: Number(parts.reputation) / Number(PART_UNITS), stake: Number(parts.stake) / Number(PART_UNITS) },
      tiebreak: assignmentTiebreak(jobId, peer),
      chosen: null,
      reasons,
      pts,
      ...(device !== undefined ? { deviceClass: device.class } : {})
    })
  }

  // Rank per role: more points first, then the lower tie-break hash, then the peer (a hash collision).
  const rank = (r: AssignmentRole): typeof assessed => {
    const list = assessed.filter(a => a.pts[r] !== undefined)
    list.sort((a, b) => {
      const pa = a.pts[r] as bigint
      const pb = b.pts[r] as bigint
      if (pa !== pb) return pa > pb ? -1 : 1
      return compareStrings(a.tiebreak, b.tiebreak) || compareStrings(a.peer, b.peer)
    })
    list.forEach((a, i) => { a[r] = { points: a.pts[r] as bigint, score: Number(a.pts[r]) / MAX_POINTS, rank: i } })
    return list
  }
  const workers = rank('worker').slice(0, nWorkers)
  for (const a of workers) a.chosen = 'worker'
  // Workers first: the best worker runs the job; verifiers come from everyone else.
  const verifiers = rank('verifier').filter(a => a.chosen === null).slice(0, nVerifiers)
  for (const a of verifiers) a.chosen = 'verifier'
  // A referee is ranked as a verifier (it recomputes like one), from the bids left over:
  // those on the first worker's device class first, since only they replay its work bit
  // for bit (a dispute then bisects to one step instead of replaying a whole segment).
  const workerClass = workers[0]?.deviceClass
  const left = rank('verifier').filter(a => a.chosen === null)
  const referees = [...left.filter(a => workerClass !== undefined && a.deviceClass === workerClass), ...left.filter(a => workerClass === undefined || a.deviceClass !== workerClass)].slice(0, nReferees)
  for (const a of referees) a.chosen = 'referee'

  const out: BidAssessment[] = assessed
    .sort((a, b) => compareStrings(a.peer, b.peer))
    .map(({ pts, deviceClass, ...a }) => a)
  return {
    workers: workers.map(a => a.peer),
    verifiers: verifiers.map(a => a.peer),
    referees: referees.map(a => a.peer),
    complete: workers.length === nWorkers && verifiers.length === nVerifiers,
    bids: out
  }
}
