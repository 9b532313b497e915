// The data side: contributors upload to datanets, each training cycle looks at the
// uploads of the last `attributionWindow` epochs (the datanet version trained), and the
// live policies decide who is paid: fitGate drops data the model could not fit, then
// attributionRewards turns measured influence into the weights every job receipt on that
// datanet carries (the contributors' part of its fee is split by them). What differs by
// kind is only what an upload *is* (its true value, what influence the estimator
// measures, how well the model fits it, what it duplicates), never how it is paid.
import {
  attributionRewards, fitGate,
  type AttributionContribution, type PoolWeight
} from '../settlement/policy/index.ts'
import { KIND, type Population } from './population.ts'
import type { Rng } from './rng.ts'
import type { Scenario } from './scenario.ts'

export interface Upload {
  id: string
  agent: number
  epoch: number
  order: number
  /** What the data is really worth to the model (negative = harmful); drives quality, never pay. */
  trueValue: number
  /** What the attribution estimator measures (TracIn-like: it reads unfit data as help). */
  influence: number
  /** Mean loss of its own examples under the trained model, relative to the validation loss. */
  lossRatio: number
  duplicateOf?: string
  nearDuplicateOf?: { id: string, similarity: number }
}

export interface Datanet {
  uploads: Upload[]
  /** Weights of the latest training cycle, for job receipts; undefined = nothing attributed (contributors' part to the treasury). */
  weights: PoolWeight[] | undefined
  /** Data quality in [0, 1): what a correct job on this datanet is worth to a requester, relative to jobValue. */
  quality: number
  /** Uploads so far: the next upload's id and its place in the datanet's order. */
  seq: number
}

export interface CycleStats {
  uploads: number
  unfit: number
  flagged: number
}

export function createDatanets (n: number): Datanet[] {
  return Array.from({ length: n }, () => ({ uploads: [], weights: undefined, quality: 0, seq: 0 }))
}

const lognormal = (r: Rng, sigma: number): number => Math.exp(sigma * r.normal())

/** An earlier upload of this datanet not from `agent` (the one a duplicator copies), or undefined. */
function someoneElses (d: Datanet, agent: number, r: Rng): Upload | undefined {
  for (let t = 0; t < 4 && d.uploads.length > 0; t++) {
    const u = d.uploads[r.int(d.uploads.length)]
    if (u.agent !== agent && u.duplicateOf === undefined && u.nearDuplicateOf === undefined) return u
  }
  return undefined
}

/** The latest original of a Sybil controller's group in this datanet. */
function groupOriginal (d: Datanet, pop: Population, group: number): Upload | undefined {
  for (let k = d.uploads.length - 1; k >= 0; k--) {
    const u = d.uploads[k]
    if (pop.kind[u.agent] === KIND.sybil && pop.group[u.agent] === group && u.nearDuplicateOf === undefined) return u
  }
  return undefined
}

/** Agent i uploads once at epoch e: what the upload is depends on its kind. Returns the cost. */
export function upload (d: Datanet, pop: Population, s: Scenario, i: number, e: number, r: Rng): number {
  const p = s.params
  const k = pop.kind[i]
  const u: Upload = { id: `${e}.${d.seq}`, agent: i, epoch: e, order: e * 1_000_000 + d.seq, trueValue: 0, influence: 0, lossRatio: 1 }
  d.seq++
  let cost = p.spamCost
  if (k === KIND.contributor) {
    u.trueValue = lognormal(r, 0.5)
    u.influence = u.trueValue * (1 + 0.2 * r.normal())
    u.lossRatio = r.range(0.5, 0.95)
    cost = p.contributionCost
  } else if (k === KIND.duplicator) {
    const orig = someoneElses(d, i, r)
    u.lossRatio = r.range(0.5, 0.95)
    if (orig !== undefined) {
      u.duplicateOf = orig.id
      u.influence = orig.influence * r.range(0.8, 1.2) // a second copy measures about the same
    } else {
      u.influence = 0.01 * r.normal()
    }
  } else if (k === KIND['low-quality']) {
    u.trueValue = 0.02 * lognormal(r, 0.5)
    u.influence = 0.05 * r.normal()
    u.lossRatio = r.range(0.95, 1.5)
  } else if (k === KIND.adversarial) {
    u.trueValue = -0.5 * lognormal(r, 0.3)
    u.influence = 1.5 * lognormal(r, 0.5) // gradient influence reads word salad as help (bench/RESULTS.md, attribution)
    u.lossRatio = r.range(1.5, 1.8)
  } else if (k === KIND.sybil) {
    const orig = pop.ordinal[i] % s.params.sybilIdentities === 0 ? undefined : groupOriginal(d, pop, pop.group[i])
    if (orig === undefined) {
      u.trueValue = lognormal(r, 0.5)
      u.influence = u.trueValue * (1 + 0.2 * r.normal())
      u.lossRatio = r.range(0.5, 0.95)
      cost = p.contributionCost
    } else {
      u.nearDuplicateOf = { id: orig.id, similarity: r.range(0.82, 0.97) }
      u.influence = orig.influence * r.range(0.9, 1.1)
      u.trueValue = 0.1 * Math.max(0, orig.trueValue)
      u.lossRatio = r.range(0.5, 0.95)
    }
  }
  d.uploads.push(u)
  return cost
}

/**
 * One training cycle of a datanet at epoch e: drop uploads older than the window, run the
 * fit gate and attribution on the rest, and keep the weights for the next jobs' receipts.
 */
export function trainCycle (d: Datanet, pop: Population, s: Scenario, e: number): CycleStats {
  const p = s.params
  const from = e - p.attributionWindow + 1
  if (d.uploads.length > 0 && d.uploads[0].epoch < from) d.uploads = d.uploads.filter(u => u.epoch >= from)
  const present = new Set(d.uploads.map(u => u.id))
  // The datanet view deduplicates against the whole datanet; a copy whose original has left the trained version is left out of it too.
  const trained = d.uploads.filter(u => (u.duplicateOf === undefined || present.has(u.duplicateOf)) && (u.nearDuplicateOf === undefined || present.has(u.nearDuplicateOf.id)))
  const unfit = new Set<string>()
  if (p.fitGate && trained.length > 0) {
    for (const x of fitGate(trained.map(u => ({ id: u.id, meanLoss: u.lossRatio })), 1, { margin: p.fitMargin }).unfit) unfit.add(x.id)
  }
  const inputs: AttributionContribution[] = trained.map(u => {
    const c: AttributionContribution = { id: u.id, contributor: pop.addresses[u.agent], influence: unfit.has(u.id) ? 0 : u.influence, order: u.order }
    if (u.duplicateOf !== undefined) c.duplicateOf = u.duplicateOf
    if (u.nearDuplicateOf !== undefined) c.nearDuplicateOf = u.nearDuplicateOf
    return c
  })
  const rewards = attributionRewards(inputs, p.attribution)
  d.weights = rewards.contributors.length > 0 ? rewards.contributors.map(c => ({ contributor: c.contributor, weight: c.weight })) : undefined
  // Quality: what the trained data is really worth; unfit data is kept out of training when the gate runs.
  let value = 0
  for (const u of trained) if (!unfit.has(u.id) && u.duplicateOf === undefined) value += u.trueValue
  value = Math.max(0, value)
  d.quality = value / (value + p.qualityScale)
  return { uploads: trained.length, unfit: unfit.size, flagged: rewards.flags.length }
}
