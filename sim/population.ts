// The agents, as columns: one typed array per attribute, one slot per agent that is or
// may become part of the network. Slots of each kind sit together; the first `initial`
// start active, the rest are dormant identities that enter when their kind pays. A slot
// that leaves is never reused (an identity that left is gone), which keeps every agent's
// history attached to one address. Columns, not objects, so the per-epoch loops over
// 100,000 agents stay in cache and allocate nothing.
import type { Outcome } from '../settlement/policy/index.ts'
import { AGENT_KINDS, type AgentKind, type Scenario } from './scenario.ts'
import type { Rng } from './rng.ts'

export const KIND: Readonly<Record<AgentKind, number>> = Object.freeze(Object.fromEntries(AGENT_KINDS.map((k, i) => [k, i])) as Record<AgentKind, number>)
export const NUM_KINDS = AGENT_KINDS.length

const WORKER_KINDS = new Set<number>([KIND.worker, KIND['lazy-worker'], KIND['malicious-worker'], KIND['colluder-worker']])
const VERIFIER_KINDS = new Set<number>([KIND.verifier, KIND['lazy-verifier'], KIND['colluder-verifier']])
const CONTRIBUTOR_KINDS = new Set<number>([KIND.contributor, KIND.duplicator, KIND['low-quality'], KIND.adversarial, KIND.sybil])

export const isWorkerKind = (k: number): boolean => WORKER_KINDS.has(k)
export const isVerifierKind = (k: number): boolean => VERIFIER_KINDS.has(k)
export const isContributorKind = (k: number): boolean => CONTRIBUTOR_KINDS.has(k)
export const isStakedKind = (k: number): boolean => WORKER_KINDS.has(k) || VERIFIER_KINDS.has(k)

/** The address that receives everything the fee split gives the treasury. */
export const TREASURY = '0x' + 'e'.repeat(40)
/** The "worker" of a forced-error job: the network that planted it. */
export const NETWORK = '0x' + 'f'.repeat(40)

/** Slot i's address: 0x followed by i + 1 in 40 hex digits (lowercase, as receipts are normalised). */
export function addressOf (i: number): string {
  return '0x' + (i + 1).toString(16).padStart(40, '0')
}

export interface Population {
  size: number
  kind: Uint8Array
  /** Colluding group or Sybil controller; -1 = none. */
  group: Int32Array
  /** Position among the slots of its kind (Sybil: which identity of its controller). */
  ordinal: Int32Array
  active: Uint8Array
  /** Epoch it entered, -1 = never; epoch it left, -1 = still in. */
  joined: Int32Array
  left: Int32Array
  /** OPEN at stake (staked kinds). */
  stake: Float64Array
  /** Cost multiplier and ask markup (workers); jobs it can take per epoch; free this epoch. */
  efficiency: Float64Array
  markup: Float64Array
  capacity: Uint8Array
  free: Uint8Array
  /** Datanet it contributes to (contributors) or buys from (requesters). */
  datanet: Int32Array
  /** Cumulative OPEN: earned (ledger payouts and prover shares), spent (compute, checks, uploads, upkeep; requesters: fees), slashed. */
  earned: Float64Array
  spent: Float64Array
  slashed: Float64Array
  /** Requesters: cumulative value received from correct results. */
  value: Float64Array
  /** Cheating workers and lazy verifiers: realised gain over honest work, and its expectation under the policy. */
  cheatGain: Float64Array
  expectedGain: Float64Array
  /** This epoch's income and cost; the EMA of profit that entry and exit read. */
  epochIncome: Float64Array
  epochCost: Float64Array
  ema: Float64Array
  jobs: Int32Array
  cheats: Int32Array
  caught: Int32Array
  /** Reputation score cache: the score, the epoch it was computed, and the outcome history. */
  repScore: Float64Array
  repEpoch: Int32Array
  history: Array<Outcome[] | undefined>
  addresses: string[]
  indexOf: Map<string, number>
  /** Per kind: first slot, initial count, slot count, dormant slots (next to enter last). */
  start: Int32Array
  initial: Int32Array
  slots: Int32Array
  dormant: number[][]
  datanets: number
}

/** Lays out the slots and draws every agent's traits from `r`. */
export function createPopulation (s: Scenario, r: Rng): Population {
  const p = s.params
  const initial = Int32Array.from(AGENT_KINDS, k => s.agents[k])
  const slots = Int32Array.from(initial, n => n === 0 ? 0 : n + Math.ceil(n * p.maxGrowth))
  const start = new Int32Array(NUM_KINDS)
  let size = 0
  for (let k = 0; k < NUM_KINDS; k++) { start[k] = size; size += slots[k] }
  const f64 = (): Float64Array => new Float64Array(size)
  const contributorSlots = [...CONTRIBUTOR_KINDS].reduce((a, k) => a + initial[k], 0)
  const datanets = Math.max(1, Math.ceil(contributorSlots / p.contributorsPerDatanet))
  const pop: Population = {
    size,
    kind: new Uint8Array(size),
    group: new Int32Array(size).fill(-1),
    ordinal: new Int32Array(size),
    active: new Uint8Array(size),
    joined: new Int32Array(size).fill(-1),
    left: new Int32Array(size).fill(-1),
    stake: f64(),
    efficiency: f64(),
    markup: f64(),
    capacity: new Uint8Array(size),
    free: new Uint8Array(size),
    datanet: new Int32Array(size),
    earned: f64(),
    spent: f64(),
    slashed: f64(),
    value: f64(),
    cheatGain: f64(),
    expectedGain: f64(),
    epochIncome: f64(),
    epochCost: f64(),
    ema: f64(),
    jobs: new Int32Array(size),
    cheats: new Int32Array(size),
    caught: new Int32Array(size),
    repScore: f64(),
    repEpoch: new Int32Array(size).fill(-1),
    history: new Array(size).fill(undefined),
    addresses: new Array<string>(size),
    indexOf: new Map(),
    start,
    initial,
    slots,
    dormant: [],
    datanets
  }
  let contributorOrdinal = 0
  for (let k = 0; k < NUM_KINDS; k++) {
    const dormant: number[] = []
    for (let j = 0; j < slots[k]; j++) {
      const i = start[k] + j
      pop.kind[i] = k
      pop.ordinal[i] = j
      pop.addresses[i] = addressOf(i)
      pop.indexOf.set(pop.addresses[i], i)
      pop.efficiency[i] = r.range(p.efficiency[0], p.efficiency[1])
      pop.markup[i] = r.range(p.markup[0], p.markup[1]) * (k === KIND['malicious-worker'] ? p.maliciousDiscount : 1)
      pop.capacity[i] = p.capacity[0] + r.int(p.capacity[1] - p.capacity[0] + 1)
      if (k === KIND['colluder-worker'] || k === KIND['colluder-verifier']) pop.group[i] = j % p.collusionGroups
      if (k === KIND.sybil) pop.group[i] = Math.floor(j / p.sybilIdentities)
      // Contributors spread over the datanets in turn (a Sybil controller's identities share one); requesters pick one.
      if (isContributorKind(k)) pop.datanet[i] = (k === KIND.sybil ? Math.floor(j / p.sybilIdentities) : contributorOrdinal++) % datanets
      else pop.datanet[i] = r.int(datanets)
      if (j < initial[k]) enter(pop, s, i, 0, r)
      else dormant.push(i)
    }
    pop.dormant.push(dormant.reverse())
  }
  return pop
}

/** Slot i enters at epoch e with fresh stake and no history. */
export function enter (pop: Population, s: Scenario, i: number, e: number, r: Rng): void {
  const p = s.params
  pop.active[i] = 1
  pop.joined[i] = e
  pop.stake[i] = isStakedKind(pop.kind[i]) ? Math.round(r.range(p.stake[0], p.stake[1])) : 0
  pop.ema[i] = 0
}

export function leave (pop: Population, i: number, e: number): void {
  pop.active[i] = 0
  pop.left[i] = e
}
