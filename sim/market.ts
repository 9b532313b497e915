// One job, from request to verdict, through the live policies: bids from a sample of
// free workers and verifiers (the market's gossip reach), assignJob picks the worker and
// the verifiers, the agents act by kind (honest, lazy, malicious, colluding), forced
// errors and audits happen at the policy's rates, jobVerdict says who is paid, slashed
// and refunded, slashFor prices each slash, and the paid job becomes a receipt for the
// epoch's settlement step. What is simulated is only what agents do; every consequence
// that moves OPEN or reputation is a policy call.
import {
  assignJob, classifyFault, expectedCheatProfit, jobVerdict, releaseDecision, slashFor, splitFee,
  type Bid, type JobVerdict, type VerifierVerdict
} from '../settlement/policy/index.ts'
import type { JobReceipt } from '../settlement/epoch/receipts.ts'
import type { Datanet } from './datanets.ts'
import { toOpen, toWei } from './money.ts'
import { KIND, NETWORK, type Population } from './population.ts'
import { record, scoreOf } from './reputation-book.ts'
import type { Rng } from './rng.ts'
import type { Scenario } from './scenario.ts'

/** Counters of one epoch (OPEN amounts as numbers). */
export interface EpochCounters {
  posted: number
  unfilled: number
  paid: number
  refunded: number
  cheats: number
  caught: number
  caughtByVerifiers: number
  caughtByAudit: number
  collusionCheats: number
  collusionCaught: number
  audits: number
  forced: number
  lazyApprovals: number
  slashed: number
  toProvers: number
  slashToTreasury: number
  requesterValue: number
}

export function newCounters (): EpochCounters {
  return {
    posted: 0, unfilled: 0, paid: 0, refunded: 0, cheats: 0, caught: 0, caughtByVerifiers: 0, caughtByAudit: 0,
    collusionCheats: 0, collusionCaught: 0, audits: 0, forced: 0, lazyApprovals: 0, slashed: 0, toProvers: 0, slashToTreasury: 0, requesterValue: 0
  }
}

/** What a job run needs that stays fixed for the epoch. */
export interface MarketContext {
  s: Scenario
  pop: Population
  r: Rng
  epoch: number
  now: number
  datanets: Datanet[]
  /** Active, staked, bidding agents this epoch. */
  workers: Int32Array
  nWorkers: number
  verifiers: Int32Array
  nVerifiers: number
  auditRate: number
  forcedErrorRate: number
  receipts: JobReceipt[]
  c: EpochCounters
  maxPriceWei: bigint
  minStakeWei: bigint
  slashWei: bigint
}

/** Up to k distinct agents with free capacity, drawn from list[0..n). */
function sample (ctx: MarketContext, list: Int32Array, n: number, k: number, out: number[]): void {
  out.length = 0
  if (n === 0) return
  const { pop, r } = ctx
  for (let t = 0; t < 3 * k && out.length < k; t++) {
    const i = list[r.int(n)]
    if (pop.free[i] === 0 || out.includes(i)) continue
    out.push(i)
  }
}

/** What worker i asks for a job, in OPEN: its cost times its markup, grossed up by the worker's share of the fee. */
export function askOf (s: Scenario, pop: Population, i: number): number {
  const p = s.params
  return Math.min(p.maxPrice, Math.round(p.jobCost * pop.efficiency[i] * pop.markup[i] * 10_000 / p.feeSplit.worker * 1e6) / 1e6)
}

function applySlashes (ctx: MarketContext, v: JobVerdict): Map<number, bigint> {
  const { pop, s } = ctx
  const taken = new Map<number, bigint>()
  for (const sl of v.slashes) {
    const i = pop.indexOf.get(sl.peer) as number
    const slash = slashFor({ fault: sl.fault, role: sl.role, stake: toWei(pop.stake[i]), registrySlashAmount: ctx.slashWei, proverShareBps: s.params.proverShareBps, hasProver: sl.prover !== null })
    const amount = toOpen(slash.slashed)
    pop.stake[i] -= amount
    pop.slashed[i] += amount
    pop.caught[i]++
    ctx.c.slashed += amount
    ctx.c.slashToTreasury += toOpen(slash.toTreasury)
    if (sl.prover !== null && slash.toProver > 0n) {
      const prover = pop.indexOf.get(sl.prover) as number
      pop.earned[prover] += toOpen(slash.toProver)
      pop.epochIncome[prover] += toOpen(slash.toProver)
      ctx.c.toProvers += toOpen(slash.toProver)
    }
    taken.set(i, slash.slashed)
  }
  for (const o of v.outcomes) {
    const i = pop.indexOf.get(o.peer)
    if (i !== undefined) record(pop, i, o.kind, ctx.now)
  }
  return taken
}

/** registry.verifierQuorum as deployed on the devnet: one approval releases. */
const VERIFIER_QUORUM = 1

const workerBids: number[] = []
const verifierBids: number[] = []

/** Requester q posts job number `seq` of the epoch; returns the fee it paid (OPEN, 0 if refunded or unfilled). */
export function runJob (ctx: MarketContext, q: number, seq: number): number {
  const { s, pop, r, c } = ctx
  const p = s.params
  c.posted++
  sample(ctx, ctx.workers, ctx.nWorkers, p.workerBids, workerBids)
  sample(ctx, ctx.verifiers, ctx.nVerifiers, p.verifierBids, verifierBids)
  if (workerBids.length === 0 || verifierBids.length === 0) { c.unfilled++; return 0 }
  const bids: Bid[] = []
  for (const i of workerBids) bids.push({ peer: pop.addresses[i], price: toWei(askOf(s, pop, i)), stake: toWei(pop.stake[i]), reputation: scoreOf(pop, i, ctx.epoch, ctx.now), capacity: pop.free[i], role: 'worker' })
  for (const i of verifierBids) bids.push({ peer: pop.addresses[i], price: 0n, stake: toWei(pop.stake[i]), reputation: scoreOf(pop, i, ctx.epoch, ctx.now), capacity: pop.free[i], role: 'verifier' })
  const jobId = `e${ctx.epoch}-${seq}`
  const a = assignJob({ id: jobId, maxPrice: ctx.maxPriceWei, requiredStake: ctx.minStakeWei, workers: 1, verifiers: p.verifiersPerJob, requester: pop.addresses[q] }, bids)
  if (a.workers.length === 0 || a.verifiers.length === 0) { c.unfilled++; return 0 }
  const w = pop.indexOf.get(a.workers[0]) as number
  const vs = a.verifiers.map(x => pop.indexOf.get(x) as number)
  const fee = bids.find(b => b.peer === a.workers[0])!.price
  pop.free[w]--
  for (const v of vs) pop.free[v]--

  // The worker acts by kind.
  const wk = pop.kind[w]
  const cheat = wk === KIND['malicious-worker'] || wk === KIND['colluder-worker'] || (wk === KIND['lazy-worker'] && r.chance(p.lazyCheatProb))
  const fullCost = p.jobCost * pop.efficiency[w]
  const cost = cheat ? fullCost * p.cheatCostFraction : fullCost
  pop.spent[w] += cost
  pop.epochCost[w] += cost
  pop.jobs[w]++

  // The verifiers act by kind: a lazy one approves unchecked; a colluder approves its group's work unchecked.
  const verdicts: VerifierVerdict[] = []
  let missChance = 1 // chance every check misses a cheat, for the expected gain
  let rejected = false
  for (const v of vs) {
    const vk = pop.kind[v]
    let approved = true
    if (vk === KIND['lazy-verifier']) {
      pop.cheatGain[v] += p.verifyCost
    } else if (vk === KIND['colluder-verifier'] && wk === KIND['colluder-worker'] && pop.group[v] === pop.group[w]) {
      // knowingly approves its accomplice: no check, no cost
    } else {
      pop.spent[v] += p.verifyCost
      pop.epochCost[v] += p.verifyCost
      if (cheat) {
        missChance *= 1 - p.verifierDetection
        if (r.chance(p.verifierDetection)) { approved = false; rejected = true }
      }
    }
    pop.jobs[v]++
    verdicts.push({ verifier: pop.addresses[v], approved })
  }

  // A rejection goes to a referee; so does a random audit. The referee recomputes the disputed steps.
  const audited = r.chance(ctx.auditRate)
  if (audited) c.audits++
  let referee: 'none' | 'fault' | 'clean' = 'none'
  if (rejected) referee = 'fault'
  else if (audited) referee = cheat && r.chance(p.auditDetection) ? 'fault' : 'clean'
  // What the referee's recomputation shows, by the rule the live verifiers use: a lazy worker's skipped steps do not replay; anything else is a wrong result.
  const fault = classifyFault({ replayMismatch: wk === KIND['lazy-worker'] }) ?? 'wrong-result'
  const verdict = jobVerdict({ worker: pop.addresses[w], verdicts, referee, fault })
  // The escrow releases only by the live rule too: every assigned verifier spoke (none is silent here), no standing rejection, a quorum of approvals.
  const release = releaseDecision({ assigned: vs.map(v => pop.addresses[v]), verdicts: verdicts.map(v => ({ ...v, valid: true })), quorum: VERIFIER_QUORUM, graceOver: true })
  const taken = applySlashes(ctx, verdict)

  if (cheat) {
    // Gain over honest work: the saved cost, minus the reward and the slash when caught (audit.ts's model).
    const reward = splitFee({ fee, worker: pop.addresses[w], verifiers: [] }, p.feeSplit).parts.worker
    const costSaved = toWei(fullCost - cost)
    const stakeAtRisk = slashFor({ fault: 'wrong-result', role: 'worker', stake: toWei(pop.stake[w] + toOpen(taken.get(w) ?? 0n)), registrySlashAmount: ctx.slashWei, proverShareBps: p.proverShareBps }).slashed
    const pCatch = 1 - (1 - ctx.auditRate * p.auditDetection) * missChance
    pop.expectedGain[w] += toOpen(expectedCheatProfit({ costSaved, reward, stake: stakeAtRisk, p: Math.min(1, Math.max(0, pCatch)) }))
    pop.cheats[w]++
    c.cheats++
    if (wk === KIND['colluder-worker']) c.collusionCheats++
    const slashed = taken.get(w)
    if (slashed !== undefined) {
      pop.cheatGain[w] += toOpen(costSaved - reward - slashed)
      c.caught++
      if (rejected) c.caughtByVerifiers++
      else c.caughtByAudit++
      if (wk === KIND['colluder-worker']) c.collusionCaught++
    } else {
      pop.cheatGain[w] += toOpen(costSaved)
    }
  }

  // Forced errors: each verifier may also get a planted job it cannot tell apart from this one.
  for (const v of vs) {
    if (!r.chance(ctx.forcedErrorRate)) continue
    c.forced++
    const lazy = pop.kind[v] === KIND['lazy-verifier']
    if (!lazy) { pop.spent[v] += p.verifyCost; pop.epochCost[v] += p.verifyCost }
    const planted = jobVerdict({ worker: NETWORK, verdicts: [{ verifier: pop.addresses[v], approved: lazy }], forcedError: true })
    const t = applySlashes(ctx, planted).get(v)
    if (t !== undefined) {
      c.lazyApprovals++
      pop.cheats[v]++
      pop.cheatGain[v] -= toOpen(t)
    }
  }
  for (const v of vs) {
    if (pop.kind[v] !== KIND['lazy-verifier']) continue
    // A planted job pays nothing, so a lazy approval forfeits only the slash: r_v = 0.
    const sv = slashFor({ fault: 'lazy-approval', role: 'verifier', stake: toWei(pop.stake[v]), registrySlashAmount: ctx.slashWei, proverShareBps: p.proverShareBps, hasProver: false }).slashed
    pop.expectedGain[v] += toOpen(expectedCheatProfit({ costSaved: toWei(p.verifyCost), reward: 0n, stake: sv, p: ctx.forcedErrorRate }))
  }

  if (!verdict.paid || !release.release) { c.refunded++; return 0 }
  c.paid++
  const d = ctx.datanets[pop.datanet[q]]
  const receipt: JobReceipt = { id: `job:${jobId}`, kind: 'train', jobId, fee, worker: pop.addresses[w], verifiers: verdict.signers }
  if (d.weights !== undefined) receipt.contributorWeights = d.weights
  ctx.receipts.push(receipt)
  const value = cheat ? 0 : p.jobValue * d.quality // a wrong result that slipped through is worth nothing to its requester
  pop.value[q] += value
  pop.epochIncome[q] += value
  c.requesterValue += value
  const paid = toOpen(fee)
  pop.spent[q] += paid
  pop.epochCost[q] += paid
  return paid
}
