// A scenario: the network's parameters, the agent mix, how many epochs, the seed. Loaded
// from JSON (sim/scenarios/*.json), every field checked, defaults filled in, so the engine
// only ever sees a complete, valid scenario. Overrides (--epochs, --seed, --sweep P=a..b)
// go through setParam, which checks the path and the value the same way.
import { readFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEFAULT_FEE_SPLIT, type FeeSplitPolicy } from '../settlement/policy/index.ts'
import { InvalidScenarioError } from './errors.ts'

export const AGENT_KINDS = [
  'worker', 'lazy-worker', 'malicious-worker', 'colluder-worker',
  'verifier', 'lazy-verifier', 'colluder-verifier',
  'contributor', 'duplicator', 'low-quality', 'adversarial', 'sybil',
  'requester'
] as const
export type AgentKind = typeof AGENT_KINDS[number]

export interface SimParams {
  /** Virtual length of an epoch in ms: reputation decays on this clock. */
  epochMs: number
  feeSplit: FeeSplitPolicy
  /** What a requester escrows per job (OPEN): the most a job can pay. */
  maxPrice: number
  /** An honest worker's compute cost per job at efficiency 1 (OPEN). */
  jobCost: number
  /** Workers ask cost x markup / worker share, markup uniform in this range. */
  markup: [number, number]
  /** Honest workers' efficiency (cost multiplier) range: workers of different capacity. */
  efficiency: [number, number]
  /** Jobs an honest worker can take per epoch, uniform integer in this range. */
  capacity: [number, number]
  /** A verifier's cost of one check (OPEN). */
  verifyCost: number
  /** Part of the job's cost a cheating worker still spends. */
  cheatCostFraction: number
  /** Share of its jobs a lazy worker cheats on (malicious and colluding workers: all). */
  lazyCheatProb: number
  /** Malicious workers undercut: their markup is multiplied by this. */
  maliciousDiscount: number
  /** Share of jobs the network audits: a number, or 'auto' = auditProbability at `auditMargin`. */
  auditRate: number | 'auto'
  auditMargin: number
  /** Chance an audit of a faulty result finds the fault. */
  auditDetection: number
  /** Chance an honest verifier's sampled replay catches a faulty result. */
  verifierDetection: number
  /** Share of verifier checks that are planted forced errors: a number, or 'auto' = forcedErrorRate. */
  forcedErrorRate: number | 'auto'
  /** Registry slashAmount (OPEN), minStake (OPEN), proverShareBps. */
  slashAmount: number
  minStake: number
  proverShareBps: number
  /** Stake staked agents start with (OPEN), uniform in this range. */
  stake: [number, number]
  verifiersPerJob: number
  /** Bids sampled per job: worker bids and verifier bids (the market's gossip reach). */
  workerBids: number
  verifierBids: number
  /** Mean jobs a requester posts per epoch; its budget per epoch (OPEN); a correct job's value at full data quality (OPEN). */
  jobRate: number
  requesterBudget: number
  jobValue: number
  /** Contributors per datanet; chance a contributor uploads in an epoch; cost of an upload (OPEN); spam's cost. */
  contributorsPerDatanet: number
  contributionRate: number
  contributionCost: number
  spamCost: number
  /** Epochs of uploads a training cycle sees (the datanet version trained); epochs between cycles. */
  attributionWindow: number
  trainEvery: number
  /** Attribution policy overrides (maxShare, nearDuplicateAt, sharedFrom, minInfluence). */
  attribution: { maxShare?: number, nearDuplicateAt?: number, sharedFrom?: number, minInfluence?: number }
  /** Whether the fit gate runs before attribution, and its margin. */
  fitGate: boolean
  fitMargin: number
  /** Good influence per datanet at which its quality is one half. */
  qualityScale: number
  /** Sybil identities per controller; colluding groups. */
  sybilIdentities: number
  collusionGroups: number
  /** What a staked agent spends per epoch just to be in the market (a node, capital): OPEN. */
  upkeep: number
  /** Entry: a kind's joiners per epoch = entryRate x initial x tanh(mean profit per epoch / entryScale). */
  entryScale: number
  /** Entry and exit: EMA span of profit (epochs), grace epochs, exit chance per epoch when unprofitable, entry rate, room to grow (x initial). */
  emaSpan: number
  grace: number
  exitRate: number
  entryRate: number
  maxGrowth: number
  /** Cheaters and spammers imitate what pays too; false = only honest kinds enter. */
  cheatersEnter: boolean
}

export interface SweepSpec {
  param: string
  from: number
  to: number
  steps: number
}

export interface Scenario {
  name: string
  description: string
  seed: number
  epochs: number
  params: SimParams
  agents: Record<AgentKind, number>
  sweep?: SweepSpec
}

export const DEFAULT_PARAMS: Readonly<SimParams> = Object.freeze({
  epochMs: 86_400_000,
  feeSplit: { ...DEFAULT_FEE_SPLIT },
  maxPrice: 30,
  jobCost: 5,
  markup: [1.1, 1.6],
  efficiency: [0.7, 1.3],
  capacity: [1, 3],
  verifyCost: 0.25,
  cheatCostFraction: 0.05,
  lazyCheatProb: 0.5,
  maliciousDiscount: 0.8,
  auditRate: 'auto',
  auditMargin: 1.5,
  auditDetection: 1,
  verifierDetection: 0.5,
  forcedErrorRate: 'auto',
  slashAmount: 50,
  minStake: 100,
  proverShareBps: 5000,
  stake: [150, 300],
  verifiersPerJob: 2,
  workerBids: 3,
  verifierBids: 3,
  jobRate: 0.3,
  requesterBudget: 100,
  jobValue: 40,
  contributorsPerDatanet: 20,
  contributionRate: 0.3,
  contributionCost: 0.2,
  spamCost: 0.05,
  attributionWindow: 8,
  trainEvery: 4,
  attribution: {},
  fitGate: true,
  fitMargin: 1,
  qualityScale: 20,
  sybilIdentities: 5,
  collusionGroups: 3,
  upkeep: 0.05,
  entryScale: 0.5,
  emaSpan: 20,
  grace: 15,
  exitRate: 0.1,
  entryRate: 0.01,
  maxGrowth: 0.5,
  cheatersEnter: true
} satisfies SimParams)

const SCENARIO_DIR = fileURLToPath(new URL('./scenarios/', import.meta.url))

function fail (message: string, details: Record<string, unknown>): never {
  throw new InvalidScenarioError(message, details)
}

function isObject (x: unknown): x is Record<string, unknown> {
  return x != null && typeof x === 'object' && !Array.isArray(x)
}

const PROBABILITIES = ['cheatCostFraction', 'lazyCheatProb', 'auditDetection', 'verifierDetection', 'contributionRate', 'exitRate', 'entryRate'] as const
const POSITIVE = ['epochMs', 'maxPrice', 'jobCost', 'slashAmount', 'jobValue', 'qualityScale', 'emaSpan', 'auditMargin', 'fitMargin', 'maliciousDiscount', 'entryScale'] as const
const NON_NEGATIVE = ['verifyCost', 'minStake', 'jobRate', 'requesterBudget', 'contributionCost', 'spamCost', 'grace', 'maxGrowth', 'upkeep'] as const
const COUNTS = ['verifiersPerJob', 'workerBids', 'verifierBids', 'contributorsPerDatanet', 'attributionWindow', 'trainEvery', 'sybilIdentities', 'collusionGroups'] as const
const RANGES = ['markup', 'efficiency', 'capacity', 'stake'] as const

function checkParams (p: SimParams): SimParams {
  const num = (k: string, v: unknown, ok: (x: number) => boolean, what: string): void => {
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) fail(`params.${k} must be ${what}`, { field: `params.${k}`, value: v })
  }
  for (const k of PROBABILITIES) num(k, p[k], x => x >= 0 && x <= 1, 'a number in [0, 1]')
  for (const k of POSITIVE) num(k, p[k], x => x > 0, 'a number > 0')
  for (const k of NON_NEGATIVE) num(k, p[k], x => x >= 0, 'a number >= 0')
  for (const k of COUNTS) num(k, p[k], x => Number.isInteger(x) && x >= 1, 'an integer >= 1')
  num('proverShareBps', p.proverShareBps, x => Number.isInteger(x) && x <= 10_000 && x >= 0, 'an integer in [0, 10000]')
  num('auditMargin', p.auditMargin, x => x >= 1, 'a number >= 1')
  for (const k of RANGES) {
    const r = p[k]
    if (!Array.isArray(r) || r.length !== 2 || !r.every(x => typeof x === 'number' && Number.isFinite(x) && x > 0) || r[0] > r[1]) {
      fail(`params.${k} must be [lo, hi] with 0 < lo <= hi`, { field: `params.${k}`, value: r })
    }
  }
  if (!Number.isInteger(p.capacity[0]) || !Number.isInteger(p.capacity[1])) fail('params.capacity must be integers', { field: 'params.capacity', value: p.capacity })
  for (const k of ['auditRate', 'forcedErrorRate'] as const) {
    if (p[k] !== 'auto') num(k, p[k], x => x >= 0 && x <= 1, "'auto' or a number in [0, 1]")
  }
  const fs = p.feeSplit
  if (!isObject(fs)) fail('params.feeSplit must be an object', { field: 'params.feeSplit' })
  let sum = 0
  for (const k of ['worker', 'verifiers', 'contributors', 'treasury'] as const) {
    num(`feeSplit.${k}`, fs[k], x => Number.isInteger(x) && x >= 0 && x <= 10_000, 'an integer in [0, 10000]')
    sum += fs[k]
  }
  if (sum !== 10_000) fail('params.feeSplit must sum to 10000', { field: 'params.feeSplit', sum })
  if (fs.worker === 0) fail('params.feeSplit.worker must be > 0 (workers price by it)', { field: 'params.feeSplit.worker' })
  if (!isObject(p.attribution)) fail('params.attribution must be an object', { field: 'params.attribution' })
  for (const k of ['fitGate', 'cheatersEnter'] as const) if (typeof p[k] !== 'boolean') fail(`params.${k} must be a boolean`, { field: `params.${k}`, value: p[k] })
  return p
}

/** A complete scenario from parsed JSON: unknown keys refused, defaults filled in, every value checked. */
export function parseScenario (json: unknown, fallbackName = 'scenario'): Scenario {
  if (!isObject(json)) fail('a scenario must be a JSON object', {})
  for (const k of Object.keys(json)) if (!['name', 'description', 'seed', 'epochs', 'params', 'agents', 'sweep'].includes(k)) fail('unknown scenario key', { field: k })
  const params = (json.params ?? {}) as Record<string, unknown>
  if (!isObject(params)) fail('params must be an object', { field: 'params' })
  for (const k of Object.keys(params)) if (!Object.hasOwn(DEFAULT_PARAMS, k)) fail('unknown parameter', { field: `params.${k}` })
  const merged = structuredClone({ ...DEFAULT_PARAMS, ...params, feeSplit: { ...DEFAULT_PARAMS.feeSplit, ...(params.feeSplit as object ?? {}) } }) as SimParams
  const agentsIn = (json.agents ?? {}) as Record<string, unknown>
  if (!isObject(agentsIn)) fail('agents must be an object', { field: 'agents' })
  for (const k of Object.keys(agentsIn)) if (!(AGENT_KINDS as readonly string[]).includes(k)) fail('unknown agent kind', { field: `agents.${k}`, kinds: AGENT_KINDS })
  const agents = Object.fromEntries(AGENT_KINDS.map(k => [k, agentsIn[k] ?? 0])) as Record<AgentKind, number>
  for (const k of AGENT_KINDS) {
    const n = agents[k]
    if (!Number.isSafeInteger(n) || n < 0) fail('agent counts must be integers >= 0', { field: `agents.${k}`, value: n })
  }
  const s: Scenario = {
    name: typeof json.name === 'string' && json.name !== '' ? json.name : fallbackName,
    description: typeof json.description === 'string' ? json.description : '',
    seed: json.seed as number ?? 1,
    epochs: json.epochs as number ?? 100,
    params: checkParams(merged),
    agents
  }
  if (!Number.isSafeInteger(s.seed) || s.seed < 0) fail('seed must be an integer >= 0', { field: 'seed', value: s.seed })
  if (!Number.isSafeInteger(s.epochs) || s.epochs < 1) fail('epochs must be an integer >= 1', { field: 'epochs', value: s.epochs })
  if (agents.worker + agents['lazy-worker'] + agents['malicious-worker'] + agents['colluder-worker'] === 0) fail('a scenario needs workers', { field: 'agents' })
  if (agents.requester === 0) fail('a scenario needs requesters', { field: 'agents.requester' })
  if (json.sweep !== undefined) s.sweep = parseSweepSpec(json.sweep)
  return s
}

function parseSweepSpec (x: unknown): SweepSpec {
  if (!isObject(x)) fail('sweep must be an object', { field: 'sweep' })
  const { param, from, to, steps } = x as Record<string, unknown>
  if (typeof param !== 'string') fail('sweep.param must be a parameter path', { field: 'sweep.param' })
  if (typeof from !== 'number' || typeof to !== 'number' || !Number.isFinite(from) || !Number.isFinite(to)) fail('sweep.from and sweep.to must be numbers', { field: 'sweep' })
  const n = steps ?? 5
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 2 || n > 100) fail('sweep.steps must be an integer in [2, 100]', { field: 'sweep.steps', value: n })
  return { param, from, to, steps: n }
}

/** `PARAM=a..b` (optionally `:steps`), e.g. auditRate=0.01..0.2:6. */
export function parseSweep (text: string, defaultSteps = 5): SweepSpec {
  const m = /^([A-Za-z][\w.-]*)=(-?[\d.eE+-]+)\.\.(-?[\d.eE+-]+)(?::(\d+))?$/.exec(text.trim())
  if (m == null) fail('--sweep must look like PARAM=a..b or PARAM=a..b:steps', { value: text })
  return parseSweepSpec({ param: m[1], from: Number(m[2]), to: Number(m[3]), steps: m[4] != null ? Number(m[4]) : defaultSteps })
}

/** The values a sweep runs, evenly spaced from `from` to `to` (both included). */
export function sweepValues (s: SweepSpec): number[] {
  return Array.from({ length: s.steps }, (_, i) => s.from + (s.to - s.from) * i / (s.steps - 1))
}

/**
 * A copy of the scenario with one value changed: `epochs`, `seed`, `agents.KIND`, or a
 * parameter (`auditRate`, `params.auditRate`, `feeSplit.worker`). Checked like the file.
 */
export function setParam (s: Scenario, path: string, value: unknown): Scenario {
  const copy = structuredClone(s)
  const parts = path.replace(/^params\./, '').split('.')
  if (parts.length === 1 && (parts[0] === 'epochs' || parts[0] === 'seed')) {
    (copy as any)[parts[0]] = value
  } else if (parts[0] === 'agents' && parts.length === 2) {
    if (!(AGENT_KINDS as readonly string[]).includes(parts[1])) fail('unknown agent kind', { field: path })
    copy.agents[parts[1] as AgentKind] = value as number
  } else {
    const [head, sub, ...more] = parts
    if (more.length > 0 || !Object.hasOwn(DEFAULT_PARAMS, head)) fail('unknown parameter', { field: path })
    const params = copy.params as unknown as Record<string, unknown>
    if (sub === undefined) params[head] = value
    else {
      const obj = params[head]
      const known = head === 'feeSplit' ? ['worker', 'verifiers', 'contributors', 'treasury'] : head === 'attribution' ? ['maxShare', 'nearDuplicateAt', 'sharedFrom', 'minInfluence'] : []
      if (!isObject(obj) || !known.includes(sub)) fail('unknown parameter', { field: path })
      obj[sub] = value
    }
  }
  const { sweep, ...rest } = copy
  const checked = parseScenario(rest, copy.name)
  if (sweep !== undefined) checked.sweep = sweep
  return checked
}

/** The same mix at `total` agents (largest remainder, so the counts sum to exactly total). */
export function scaleAgents (s: Scenario, total: number): Scenario {
  const sum = AGENT_KINDS.reduce((a, k) => a + s.agents[k], 0)
  const exact = AGENT_KINDS.map(k => s.agents[k] * total / sum)
  const counts = exact.map(Math.floor)
  let left = total - counts.reduce((a, b) => a + b, 0)
  const order = exact.map((x, i) => i).sort((a, b) => (exact[b] - counts[b]) - (exact[a] - counts[a]) || a - b)
  for (let k = 0; left > 0; k++, left--) counts[order[k % order.length]]++
  return { ...structuredClone(s), agents: Object.fromEntries(AGENT_KINDS.map((k, i) => [k, counts[i]])) as Record<AgentKind, number> }
}

/** The shipped scenarios by name (sim/scenarios/NAME.json). */
export async function shippedScenarios (): Promise<string[]> {
  const { readdir } = await import('node:fs/promises')
  return (await readdir(SCENARIO_DIR)).filter(f => f.endsWith('.json')).map(f => f.slice(0, -5)).sort()
}

/** A scenario by shipped name or by path to a JSON file. */
export async function loadScenario (nameOrPath: string): Promise<Scenario> {
  const path = /[/\\]|\.json$/.test(nameOrPath) ? nameOrPath : join(SCENARIO_DIR, `${nameOrPath}.json`)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    fail(`cannot read scenario ${nameOrPath}`, { path, reason: (err as Error).message, shipped: await shippedScenarios() })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    fail('scenario is not valid JSON', { path, reason: (err as Error).message })
  }
  return parseScenario(json, basename(path, '.json'))
}

/** Whether a parameter path takes whole numbers (counts, basis points, agent numbers): sweeps round to them. */
export function isIntegerParam (path: string): boolean {
  const key = path.replace(/^params\./, '')
  return key === 'epochs' || key === 'seed' || key.startsWith('agents.') || key.startsWith('feeSplit.') || key === 'proverShareBps' || (COUNTS as readonly string[]).includes(key)
}
