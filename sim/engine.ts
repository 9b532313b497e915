// The discrete-event engine: one step per epoch, no sockets, no chain, one seed. Each
// epoch: the staked agents pay upkeep and open their capacity, contributors upload,
// datanets train (fit gate + attribution), requesters post jobs (market.ts), the
// epoch's receipts are settled by the live ledger function (settle.ts), and then every
// agent looks at what it made: those that keep losing leave, and each kind attracts
// newcomers in proportion to what its members earn, so the flywheel, or its collapse,
// shows in the series. Deterministic: the same scenario and seed give the same bits.
import { auditProbability, forcedErrorRate, type DeterrenceRate } from '../settlement/policy/index.ts'
import type { JobReceipt } from '../settlement/epoch/receipts.ts'
import { createDatanets, trainCycle, upload, type Datanet } from './datanets.ts'
import { newCounters, runJob, type MarketContext } from './market.ts'
import { toOpen, toWei } from './money.ts'
import {
  createPopulation, enter, isContributorKind, isStakedKind, isVerifierKind, isWorkerKind, KIND, leave, NUM_KINDS, TREASURY,
  type Population
} from './population.ts'
import { rng } from './rng.ts'
import { AGENT_KINDS, type AgentKind, type Scenario } from './scenario.ts'
import { settleEpoch } from './settle.ts'
import { gini } from './stats.ts'

/** One epoch of the time series; every value a number, the CSV's columns in this order. */
export type EpochRow = Record<string, number>

export interface KindSummary {
  kind: AgentKind
  initial: number
  /** Agents of the kind that were ever in, and are in at the end. */
  everActive: number
  activeAtEnd: number
  entered: number
  left: number
  /** Sums over everyone of the kind, OPEN. */
  earned: number
  spent: number
  slashed: number
  /** earned - spent - slashed (requesters: value - fees). */
  profit: number
  cheatGain: number
  expectedGain: number
  jobs: number
  cheats: number
  caught: number
}

export interface Rates {
  auditRate: number
  forcedErrorRate: number
  /** The policy's answers for this scenario's worst job (largest saving, smallest reward). */
  audit: DeterrenceRate
  forcedError: DeterrenceRate
  /** The worst job the bound is computed for (OPEN). */
  worstJob: { costSaved: number, reward: number, stake: number }
}

export interface SimResult {
  scenario: Scenario
  rates: Rates
  series: EpochRow[]
  kinds: KindSummary[]
  population: Population
  datanets: Datanet[]
  /** What the settlement step paid over the whole run, OPEN. */
  totals: { fees: number, toTreasury: number, slashed: number, receipts: number }
  ms: number
}

export interface RunOptions {
  /** Called after every epoch (progress). */
  onEpoch?: (epoch: number, row: EpochRow) => void
  /** Receives each epoch's receipts (e.g. to journal them); the engine does not keep them. */
  onReceipts?: (epoch: number, receipts: readonly JobReceipt[]) => void
}

const CHEATER_KINDS: AgentKind[] = ['lazy-worker', 'malicious-worker', 'colluder-worker', 'lazy-verifier']
const HONEST_KINDS = new Set<number>([KIND.worker, KIND.verifier, KIND.contributor, KIND.requester])

/**
 * The deterrence bound for the scenario's worst job: the largest saving (the least
 * efficient worker skipping everything) against the smallest reward (the cheapest ask
 * the market can clear at), as audit.ts says to take for the registry's one rate.
 */
export function deterrence (s: Scenario): Rates {
  const p = s.params
  const costSaved = p.jobCost * p.efficiency[1] * (1 - p.cheatCostFraction)
  const minMarkup = p.markup[0] * Math.min(1, p.maliciousDiscount)
  const cheapestFee = Math.min(p.maxPrice, p.jobCost * p.efficiency[0] * minMarkup * 10_000 / p.feeSplit.worker)
  const reward = cheapestFee * p.feeSplit.worker / 10_000
  const audit = auditProbability({ costSaved: toWei(costSaved), reward: toWei(reward), stake: toWei(p.slashAmount), margin: p.auditMargin })
  // A planted job pays nothing, so what a lazy approval forfeits is the slash alone (r_v = 0).
  const forcedError = forcedErrorRate({ costSaved: toWei(p.verifyCost), reward: 0n, stake: toWei(p.slashAmount), margin: p.auditMargin })
  return {
    auditRate: p.auditRate === 'auto' ? audit.p : p.auditRate,
    forcedErrorRate: p.forcedErrorRate === 'auto' ? forcedError.p : p.forcedErrorRate,
    audit,
    forcedError,
    worstJob: { costSaved, reward, stake: p.slashAmount }
  }
}

export function runSimulation (s: Scenario, opts: RunOptions = {}): SimResult {
  const t0 = performance.now()
  const p = s.params
  const rPop = rng(s.seed, 1)
  const rData = rng(s.seed, 2)
  const rJobs = rng(s.seed, 3)
  const rLife = rng(s.seed, 4)
  const pop = createPopulation(s, rPop)
  const datanets = createDatanets(pop.datanets)
  const rates = deterrence(s)
  const n = pop.size
  const workers = new Int32Array(n)
  const verifiers = new Int32Array(n)
  const giniBuf = new Float64Array(n)
  const alpha = 2 / (p.emaSpan + 1)
  const maxPriceWei = toWei(p.maxPrice)
  const minStakeWei = toWei(p.minStake)
  const slashWei = toWei(p.slashAmount)
  const series: EpochRow[] = []
  const totals = { fees: 0, toTreasury: 0, slashed: 0, receipts: 0 }
  const lastMeanEma = new Float64Array(NUM_KINDS)
  const entered = new Int32Array(NUM_KINDS)
  const left = new Int32Array(NUM_KINDS)
  const flows = new Float64Array(4) // workers, verifiers, contributors, treasury (this epoch)

  for (let e = 0; e < s.epochs; e++) {
    const now = e * p.epochMs
    pop.epochIncome.fill(0)
    pop.epochCost.fill(0)
    flows.fill(0)

    // Staked agents with enough stake bid this epoch; being in the market costs upkeep.
    let nW = 0
    let nV = 0
    for (let i = 0; i < n; i++) {
      if (pop.active[i] === 0) continue
      const k = pop.kind[i]
      if (!isStakedKind(k)) continue
      pop.spent[i] += p.upkeep
      pop.epochCost[i] += p.upkeep
      if (pop.stake[i] < p.minStake) continue
      if (isWorkerKind(k)) { workers[nW++] = i; pop.free[i] = pop.capacity[i] } else { verifiers[nV++] = i; pop.free[i] = pop.capacity[i] * 3 }
    }

    // Uploads, then a training cycle per datanet.
    let uploads = 0
    for (let i = 0; i < n; i++) {
      if (pop.active[i] === 0 || !isContributorKind(pop.kind[i]) || !rData.chance(p.contributionRate)) continue
      const cost = upload(datanets[pop.datanet[i]], pop, s, i, e, rData)
      pop.spent[i] += cost
      pop.epochCost[i] += cost
      uploads++
    }
    let unfit = 0
    if (e % p.trainEvery === 0) for (const d of datanets) unfit += trainCycle(d, pop, s, e).unfit

    // Jobs: requesters in a rotating order (nobody always gets first pick), each within its budget.
    const receipts: JobReceipt[] = []
    const ctx: MarketContext = {
      s, pop, r: rJobs, epoch: e, now, datanets, workers, nWorkers: nW, verifiers, nVerifiers: nV,
      auditRate: rates.auditRate, forcedErrorRate: rates.forcedErrorRate, receipts, c: newCounters(), maxPriceWei, minStakeWei, slashWei
    }
    const qStart = pop.start[KIND.requester]
    const qSlots = pop.slots[KIND.requester]
    const offset = qSlots > 0 ? rJobs.int(qSlots) : 0
    let seq = 0
    for (let j = 0; j < qSlots; j++) {
      const q = qStart + (j + offset) % qSlots
      if (pop.active[q] === 0) continue
      const jobs = Math.floor(p.jobRate) + (rJobs.chance(p.jobRate - Math.floor(p.jobRate)) ? 1 : 0)
      let spent = 0
      for (let k = 0; k < jobs && spent + p.maxPrice <= p.requesterBudget; k++) spent += runJob(ctx, q, seq++)
    }

    // Settlement: the live ledger function over the epoch's receipts.
    opts.onReceipts?.(e, receipts)
    if (receipts.length > 0) {
      const ledger = settleEpoch({ receipts, feeSplit: p.feeSplit, treasury: TREASURY })
      for (const x of ledger.earned) {
        const amount = toOpen(x.amount)
        if (x.account === TREASURY) { flows[3] += amount; continue }
        const i = pop.indexOf.get(x.account) as number
        pop.earned[i] += amount
        pop.epochIncome[i] += amount
        const k = pop.kind[i]
        flows[isWorkerKind(k) ? 0 : isVerifierKind(k) ? 1 : 2] += amount
      }
      totals.fees += toOpen(ledger.fees)
      totals.toTreasury += toOpen(ledger.toTreasury)
      totals.receipts += receipts.length
    }
    totals.slashed += ctx.c.slashed

    // What each agent made; who leaves.
    for (let i = 0; i < n; i++) {
      if (pop.active[i] === 0) continue
      pop.ema[i] += alpha * (pop.epochIncome[i] - pop.epochCost[i] - pop.ema[i])
      const k = pop.kind[i]
      if (isStakedKind(k) && pop.stake[i] < p.minStake) { leave(pop, i, e); left[k]++; continue } // slashed out: cannot bid any more
      if (e - pop.joined[i] >= p.grace && pop.ema[i] < 0 && rLife.chance(p.exitRate)) { leave(pop, i, e); left[k]++ }
    }

    // Per-kind aggregates (one pass), then who enters.
    const active = new Int32Array(NUM_KINDS)
    const emaSum = new Float64Array(NUM_KINDS)
    const cheatGain = new Float64Array(NUM_KINDS)
    const earnedSum = new Float64Array(NUM_KINDS)
    let g = 0
    for (let i = 0; i < n; i++) {
      const k = pop.kind[i]
      cheatGain[k] += pop.cheatGain[i]
      earnedSum[k] += pop.earned[i]
      if (pop.active[i] === 0) continue
      active[k]++
      emaSum[k] += pop.ema[i]
      if (k !== KIND.requester) giniBuf[g++] = pop.earned[i]
    }
    for (let k = 0; k < NUM_KINDS; k++) {
      if (pop.slots[k] === 0) continue
      const mean = active[k] > 0 ? emaSum[k] / active[k] : lastMeanEma[k]
      lastMeanEma[k] = mean
      if (!(mean > 0) || (!p.cheatersEnter && !HONEST_KINDS.has(k))) continue
      const expected = p.entryRate * pop.initial[k] * Math.tanh(mean / p.entryScale)
      const joiners = Math.floor(expected) + (rLife.chance(expected - Math.floor(expected)) ? 1 : 0)
      for (let j = 0; j < joiners && pop.dormant[k].length > 0; j++) {
        enter(pop, s, pop.dormant[k].pop() as number, e + 1, rLife)
        entered[k]++
        active[k]++
      }
    }

    const c = ctx.c
    let quality = 0
    for (const d of datanets) quality += d.quality
    const row: EpochRow = { epoch: e + 1, active: active.reduce((a, b) => a + b, 0) }
    AGENT_KINDS.forEach((k, i) => { row[`active_${k}`] = active[i] })
    Object.assign(row, {
      uploads,
      unfit_uploads: unfit,
      jobs_posted: c.posted,
      jobs_unfilled: c.unfilled,
      jobs_paid: c.paid,
      jobs_refunded: c.refunded,
      cheats: c.cheats,
      cheats_caught: c.caught,
      detection_rate: c.cheats > 0 ? c.caught / c.cheats : 0,
      caught_by_verifiers: c.caughtByVerifiers,
      caught_by_audit: c.caughtByAudit,
      collusion_cheats: c.collusionCheats,
      collusion_caught: c.collusionCaught,
      audits: c.audits,
      forced_errors: c.forced,
      lazy_approvals_caught: c.lazyApprovals,
      to_workers: flows[0],
      to_verifiers: flows[1],
      to_contributors: flows[2],
      to_treasury: flows[3],
      slashed: c.slashed,
      to_provers: c.toProvers,
      requester_value: c.requesterValue,
      gini: gini(giniBuf.subarray(0, g)),
      mean_quality: datanets.length > 0 ? quality / datanets.length : 0,
      audit_rate: rates.auditRate,
      forced_error_rate: rates.forcedErrorRate
    })
    for (const k of CHEATER_KINDS) row[`cheat_gain_${k}`] = cheatGain[KIND[k]]
    row.earned_good_contributors = earnedSum[KIND.contributor]
    row.earned_spam_contributors = earnedSum[KIND.duplicator] + earnedSum[KIND['low-quality']] + earnedSum[KIND.adversarial]
    row.earned_sybil = earnedSum[KIND.sybil]
    series.push(row)
    opts.onEpoch?.(e + 1, row)
  }

  return { scenario: s, rates, series, kinds: summarize(pop, entered, left), population: pop, datanets, totals, ms: performance.now() - t0 }
}

function summarize (pop: Population, entered: Int32Array, left: Int32Array): KindSummary[] {
  const out = AGENT_KINDS.map((kind, k): KindSummary => ({
    kind, initial: pop.initial[k], everActive: 0, activeAtEnd: 0, entered: entered[k], left: left[k],
    earned: 0, spent: 0, slashed: 0, profit: 0, cheatGain: 0, expectedGain: 0, jobs: 0, cheats: 0, caught: 0
  }))
  for (let i = 0; i < pop.size; i++) {
    if (pop.joined[i] < 0) continue
    const o = out[pop.kind[i]]
    o.everActive++
    if (pop.active[i] === 1) o.activeAtEnd++
    o.earned += pop.earned[i]
    o.spent += pop.spent[i]
    o.slashed += pop.slashed[i]
    o.profit += pop.kind[i] === KIND.requester ? pop.value[i] - pop.spent[i] : pop.earned[i] - pop.spent[i] - pop.slashed[i]
    o.cheatGain += pop.cheatGain[i]
    o.expectedGain += pop.expectedGain[i]
    o.jobs += pop.jobs[i]
    o.cheats += pop.cheats[i]
    o.caught += pop.caught[i]
  }
  return out
}
