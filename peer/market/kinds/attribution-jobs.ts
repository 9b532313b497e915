// Attribution jobs (kind 'attribute') on a peer: "measure adapter A, the verified result
// of market training job T on datanet D@V from base B: TracIn over A's checkpoints and
// DataInf at A, per training example, summed and weighted per contribution". The worker
// side scores every example and stores the result file, returning the receipt (a Merkle
// root over every example's scores); the verifier side fetches the result by CID,
// refuses one that does not match its receipt, the job or the payout the scores imply,
// and recomputes the scores of a sample its receipt, address and beacon pick.
//
// What makes the inputs trustworthy, whoever serves them: the adapter is named by CID
// (and the training job's escrow was released for exactly that CID); it names its own
// checkpoint chain, which the training job's verifiers bound to the receipt they
// replayed; every checkpoint read is checked against that chain (ChainCheckpoints), and
// the examples must give the training run's own fingerprint. Everything network-facing
// comes in as functions, so the market wires it to libp2p and Helia and tests to memory.
//
// Whose fault a failure is: bad worker data (receipt, result file, scores, summary) is a
// verdict, ok: false, with evidence; a job that cannot run (datanet version, base,
// adapter, examples that are not the adapter's) is the requester's and throws, as does a
// file or checkpoint that cannot be fetched.
import { keccak256 } from 'ethers'
import { attributeClassifier, attributeLm, recomputeSample } from '../../../compute/jobs/attribute.ts'
import { decodeAttributionFile, decodeAttributionReceipt, encodeAttributionFile, encodeAttributionReceipt, MAX_ATTRIBUTION_BYTES, type AttributionFile } from '../../../compute/jobs/attribution-files.ts'
import { InvalidRequestError } from '../../../compute/errors.ts'
import { decodeAdapter, type Adapter } from '../../../compute/models/artifacts.ts'
import { Rng } from '../../../compute/random.ts'
import { canonicalJson } from '../../../compute/train/fingerprint.ts'
import type { CheckpointStore } from '../../../compute/train/checkpoint-store.ts'
import { ATTRIBUTION_TOLERANCE, attributionReceipt, attributionReceiptHash, checkAttributionReceipt, compareScores, examplesProof, sampleExamples, type AttributionReceipt, type ScoredExample } from '../../../compute/verify/attribution.ts'
import { CheckpointRefusedError, OutputRefusedError } from '../../../compute/verify/errors.ts'
import type { DatanetView } from '../../../storage/datanet/view.ts'
import type { ManifestLog } from '../../../storage/manifest/log.ts'
import { ATTRIBUTION_METHOD, attributionCredits, attributionInputs, ChainCheckpoints, creditContext, lossUnits, namedChain, tracinChain, type AttributionJobInputs, type NearDuplicate } from '../../attribution/inputs.ts'
import type { Doc, ModelFactory, PreparedJob, TrainRequest } from '../../models/model-factory.ts'
import type { ModelRegistry } from '../../models/model-registry.ts'
import { receiptSubject } from './kind.ts'
import { checkResult, sampleCount, type ResultClaim } from './result-check.ts'

export { MAX_CHECKED } from './result-check.ts'

/** Examples a verifier recomputes at the least (the audit rate asks more of large jobs). */
export const MIN_SAMPLE = 16
/** Mismatches whose Merkle proof the evidence carries (each shows the claimed score is the worker's). */
const MAX_PROVEN = 16

/** What an attribution job's announce names. */
export interface AttributionJobSpec {
  job: string
  /** CID of the adapter to measure. */
  adapter: string
  /** CID of its base model. */
  base: string
  /** The datanet id and version the adapter was trained on. */
  datanet: string
  version: string
  /** The market training job that produced the adapter (its escrow was released for it). */
  trainJob: string
  /** The training job's worker, which serves the checkpoints by the training job's id. */
  trainer?: string
  /** The training job's file filter and held-out share: which examples it trained on. */
  label?: string
  heldOut?: number
}

export interface AttributionJobDeps {
  factory: Pick<ModelFactory, 'prepare' | 'taskId'>
  models: Pick<ModelRegistry, 'adapterBytes' | 'fileBytes' | 'addFile'>
  /** The datanet as this peer's manifest has it (the adapter's training-cycle entry). */
  view: (datanet: string) => Promise<DatanetView>
  /** The version's files flagged as near-duplicates, from every contribution's sketches (fetched if missing): the same on every peer. */
  nearDuplicates: (log: ManifestLog) => Promise<NearDuplicate[]>
  /** A checkpoint of the adapter's chain, from wherever it is held; checked against `hash` here too. */
  checkpoint: (step: number, hash: string) => Promise<Uint8Array>
  /** Called with every checkpoint read (and checked): the worker keeps them to serve its verifiers. */
  onCheckpoint?: (step: number, bytes: Uint8Array) => Promise<void>
  threads?: number
}

export interface AttributionRun {
  /** CID of the result file (openledger/attribution/1). */
  result: string
  file: AttributionFile
  receipt: AttributionReceipt
  /** The receipt file (canonical JSON): what the worker serves verifiers. */
  receiptBytes: Uint8Array
  ms: number
  /**
   * A forced error's planted fault (./forced-errors.ts): every TracIn score negated (a
   * zero one moved by 1e-3 of their RMS), result file, payout summary and receipt
   * rebuilt to match, so only a verifier's recomputation finds it, whichever examples it
   * samples. Undefined when every score is zero (nothing to plant in: not forced).
   */
  plant: () => Promise<Omit<AttributionRun, 'plant' | 'ms'> | undefined>
}

/** Examples to recompute: k, or the audit share of them (at least MIN_SAMPLE). */
export type AttributionClaim = ResultClaim

export interface AttributionEvidence {
  job: string
  result: string
  /** attributionReceiptHash, when the receipt decoded; and its root. */
  receipt: string | null
  root?: string
  refused?: { name: string, message: string, details: Record<string, unknown> }
  /** Sampled examples whose scores did not recompute, the first with the Merkle proof that the worker claimed them. */
  scores: Array<{ example: number, file: string, contribution: string, claimed: { tracin: number, loss: number }, recomputed: { tracin: number, loss: number }, leaf?: ScoredExample, proof?: Array<{ left: boolean, hash: string }> }>
  validationLoss?: { claimed: number, recomputed: number }
  tolerance: typeof ATTRIBUTION_TOLERANCE
}

export interface AttributionVerdict {
  ok: boolean
  /** Examples recomputed, ascending (none when the worker's data was refused). */
  checked: number[]
  evidence?: AttributionEvidence
  computeMs: number
}

/** The training request whose prepared examples the adapter was trained on, with the adapter's own LoRA shape and hyper-parameters. */
export function trainingRequestOf (spec: AttributionJobSpec, adapter?: Adapter): TrainRequest {
  const req: TrainRequest = { datanet: `${spec.datanet}@${spec.version}`, base: spec.base, ...(spec.label !== undefined ? { label: spec.label } : {}), ...(spec.heldOut !== undefined ? { heldOut: spec.heldOut } : {}) }
  if (adapter === undefined) return req
  const h = adapter.meta.hyper as { steps?: number, batch?: number, lr?: number, seed?: number, seq?: number }
  const lora = adapter.meta.lora
  return { ...req, rank: lora.rank, alpha: lora.alpha, targets: [...lora.targets], steps: h.steps, batch: h.batch, lr: h.lr, seed: h.seed, ...(h.seq !== undefined ? { seq: h.seq } : {}) }
}

interface Loaded {
  prepared: PreparedJob
  adapter: Adapter
  /** The checkpoints TracIn is taken at. */
  kept: Array<{ step: number, hash: string }>
  inputs: AttributionJobInputs
  exampleDocs: Doc[]
  near: NearDuplicate[]
  cycle: string | null
}

/**
 * The job's exact inputs; throws for a job that cannot run as announced. `checkpoints:
 * false` reads none (the made-up-scores adversary needs only the examples).
 */
async function load (deps: AttributionJobDeps, spec: AttributionJobSpec, opts: { checkpoints?: boolean, signal?: AbortSignal } = {}): Promise<Loaded> {
  const signal = opts.signal ?? AbortSignal.timeout(3_600_000)
  const prepared = await deps.factory.prepare(trainingRequestOf(spec), () => {}, signal)
  if (prepared.baseCid !== spec.base) throw new InvalidRequestError('the base the job names is not the one its datanet job resolves to', { base: spec.base, resolved: prepared.baseCid })
  if (prepared.dn.id !== spec.datanet || prepared.dn.version !== spec.version) throw new InvalidRequestError('the datanet version is not the job\'s', { datanet: `${prepared.dn.id}@${prepared.dn.version}` })
  // Refuses an adapter of another base.
  const adapter = decodeAdapter(await deps.models.adapterBytes(spec.adapter, signal), { cid: prepared.baseCid, meta: prepared.base.meta })
  const trainedOn = adapter.meta.datanet as { id?: string, version?: string } | undefined
  if (trainedOn?.id !== spec.datanet || trainedOn.version !== spec.version) throw new InvalidRequestError('the adapter was not trained on the job\'s datanet version', { trainedOn, datanet: spec.datanet, version: spec.version })
  const named = namedChain(adapter)
  if (named.length === 0) throw new InvalidRequestError('the adapter names no checkpoint chain', { adapter: spec.adapter })
  // The examples scored must be exactly those the run trained on: the run's fingerprint says so.
  const provenance = (adapter.meta.provenance as { job?: unknown } | undefined)?.job
  const id = deps.factory.taskId(trainingRequestOf(spec, adapter), prepared)
  if (provenance !== id) throw new InvalidRequestError('these examples are not the ones the adapter was trained on (label, held-out share or hyper-parameters differ)', { adapter: provenance, job: id })
  const kept = tracinChain(named, prepared.base.meta.kind)
  const store: CheckpointStore = opts.checkpoints === false
    ? { save: async () => {}, steps: async () => [], load: async (step) => { throw new CheckpointRefusedError('no checkpoints read', { step }) } }
    : new ChainCheckpoints(named, async (step) => await deps.checkpoint(step, named.find(c => c.step === step)!.hash), deps.onCheckpoint)
  const { inputs, exampleDocs } = await attributionInputs({ prepared, adapter, checkpoints: store, threads: deps.threads })
  const near = await deps.nearDuplicates(prepared.dn.log)
  const cycle = (await deps.view(spec.datanet)).cycles.find(c => c.adapter === spec.adapter)?.cid ?? null
  return { prepared, adapter, kept, inputs, exampleDocs, near, cycle }
}

/** The worker: scores every example, stores the result file, returns the receipt. `madeUp` is the adversary (tests, demos). */
export async function runAttributionJob (deps: AttributionJobDeps, spec: AttributionJobSpec, opts: { madeUp?: boolean } = {}): Promise<AttributionRun> {
  const started = performance.now()
  const l = await load(deps, spec, { checkpoints: opts.madeUp !== true })
  let examples: ScoredExample[]
  let validationLoss: number
  if (opts.madeUp === true) {
    // The adversary: no gradients at all, scores of a plausible size from a seeded generator.
    const rng = new Rng(Number.parseInt(keccak256(Buffer.from(spec.job)).slice(2, 10), 16))
    examples = l.exampleDocs.map(d => ({ file: d.file.cid.toString(), contribution: d.file.contribution.toString(), tracin: rng.normal() * 1e-2, datainf: rng.normal() * 1e-2, loss: rng.uniform() * 0.5 }))
    validationLoss = 0.1
  } else {
    const scores = 'labels' in l.inputs.train ? await attributeClassifier(l.inputs as Parameters<typeof attributeClassifier>[0]) : await attributeLm(l.inputs as Parameters<typeof attributeLm>[0])
    examples = l.exampleDocs.map((d, k) => ({ file: d.file.cid.toString(), contribution: d.file.contribution.toString(), tracin: scores.tracin[k], datainf: scores.datainf[k], loss: scores.finalLoss[k] }))
    validationLoss = scores.validationLoss
  }
  const build = async (scored: ScoredExample[]): Promise<Omit<AttributionRun, 'plant' | 'ms'>> => {
    const summary = attributionCredits({ examples: scored, validationLoss, tokens: lossUnits(l.inputs), ...creditContext(l.prepared, l.near) })
    const file: AttributionFile = { job: spec.job, adapter: spec.adapter, datanet: spec.datanet, version: spec.version, base: spec.base, cycle: l.cycle, method: ATTRIBUTION_METHOD, checkpoints: l.kept, validationLoss, examples: scored, summary }
    const result = await deps.models.addFile(encodeAttributionFile(file))
    const receipt = attributionReceipt({ job: spec.job, adapter: spec.adapter, checkpoints: l.kept, examples: scored, validationLoss })
    return { result, file, receipt, receiptBytes: encodeAttributionReceipt(receipt) }
  }
  const run = await build(examples)
  const plant = async (): Promise<Omit<AttributionRun, 'plant' | 'ms'> | undefined> => {
    const rms = Math.sqrt(examples.reduce((sum, e) => sum + e.tracin * e.tracin, 0) / examples.length)
    if (!(rms > 0)) return undefined
    return await build(examples.map(e => ({ ...e, tracin: e.tracin === 0 ? rms * 1e-3 : -e.tracin })))
  }
  return { ...run, ms: performance.now() - started, plant }
}

/** The receipt's hash (what the beacon signs), or the bytes' keccak when they do not decode (verification then refuses them). */
export function claimedReceiptHash (bytes: Uint8Array): string {
  return receiptSubject(bytes, b => attributionReceiptHash(decodeAttributionReceipt(b)))
}

/** A verifier: checks the receipt, the result file and its summary, then recomputes a sample of the scores (./result-check.ts). */
export async function verifyAttributionJob (deps: AttributionJobDeps, spec: AttributionJobSpec, claim: AttributionClaim): Promise<AttributionVerdict> {
  return await checkResult<AttributionReceipt, AttributionFile, Loaded, AttributionVerdict>({
    decodeReceipt: decodeAttributionReceipt,
    fetchResult: async () => await deps.models.fileBytes(claim.result, MAX_ATTRIBUTION_BYTES),
    decodeResult: decodeAttributionFile,
    load: async () => await load(deps, spec),
    match: (receipt, file, l) => {
      matchResult(file, spec, l)
      checkAttributionReceipt(receipt, { job: spec.job, adapter: spec.adapter, checkpoints: l.kept, examples: file.examples, validationLoss: file.validationLoss })
    },
    recompute: async (receipt, file, l) => {
      const sample = sampleExamples(receipt, { verifier: claim.verifier, k: sampleCount(file.examples.length, claim, { min: MIN_SAMPLE, fallback: MIN_SAMPLE }), beacon: claim.beacon })
      const started = performance.now()
      const recomputed = await recomputeSample(l.inputs, sample)
      const computeMs = performance.now() - started
      const cmp = compareScores({ sample, claimed: file.examples, claimedValidationLoss: file.validationLoss, recomputed })
      const ok = cmp.mismatches.length === 0 && cmp.validationLossOk
      if (ok) return { ok, checked: sample, computeMs }
      const scores = cmp.mismatches.map((m, i) => {
        const e = file.examples[m.example]
        return { ...m, file: e.file, contribution: e.contribution, ...(i < MAX_PROVEN ? { leaf: e, proof: examplesProof(file.examples, m.example) } : {}) }
      })
      return {
        ok,
        checked: sample,
        evidence: { job: spec.job, result: claim.result, receipt: attributionReceiptHash(receipt), root: receipt.root, scores, validationLoss: { claimed: file.validationLoss, recomputed: recomputed.validationLoss }, tolerance: ATTRIBUTION_TOLERANCE },
        computeMs
      }
    },
    refuse: (refused, receipt) => ({
      ok: false,
      checked: [],
      evidence: { job: spec.job, result: claim.result, receipt: receipt === null ? null : attributionReceiptHash(receipt), refused, scores: [], tolerance: ATTRIBUTION_TOLERANCE },
      computeMs: 0
    })
  }, claim.receiptBytes)
}

/**
 * The result file must be this job's, over the job's own examples in their order, at
 * the adapter's checkpoints, and its payout summary must be what its scores give.
 */
function matchResult (file: AttributionFile, spec: AttributionJobSpec, l: Loaded): void {
  for (const k of ['job', 'adapter', 'datanet', 'version', 'base'] as const) {
    if (file[k] !== spec[k]) throw new OutputRefusedError(`the result names another ${k}`, { [k]: file[k], expected: spec[k] })
  }
  if (file.method !== ATTRIBUTION_METHOD) throw new OutputRefusedError('the result was computed by another method', { method: file.method, expected: ATTRIBUTION_METHOD })
  if (file.checkpoints.length !== l.kept.length || file.checkpoints.some((c, i) => c.step !== l.kept[i].step || c.hash !== l.kept[i].hash)) throw new OutputRefusedError('the result names other checkpoints than the adapter\'s chain', {})
  if (file.examples.length !== l.exampleDocs.length) throw new OutputRefusedError('the result scores another number of examples', { examples: file.examples.length, expected: l.exampleDocs.length })
  file.examples.forEach((e, k) => {
    const d = l.exampleDocs[k]
    if (e.file !== d.file.cid.toString() || e.contribution !== d.file.contribution.toString()) throw new OutputRefusedError('an example is not the job\'s example at that position', { example: k })
  })
  const summary = attributionCredits({ examples: file.examples, validationLoss: file.validationLoss, tokens: lossUnits(l.inputs), ...creditContext(l.prepared, l.near) })
  // Through JSON as the file went: what is undefined in memory is absent there.
  const mine = JSON.parse(JSON.stringify(summary)) as unknown
  if (canonicalJson(mine) !== canonicalJson(file.summary)) throw new OutputRefusedError('the payout summary does not follow from the scores', { at: firstDifference(file.summary, mine) })
}

/** Where two JSON values first differ, as a path with both values there. */
function firstDifference (claimed: unknown, expected: unknown, path = 'summary'): { path: string, claimed: unknown, expected: unknown } | undefined {
  if (canonicalJson(claimed) === canonicalJson(expected)) return undefined
  if (claimed !== null && expected !== null && typeof claimed === 'object' && typeof expected === 'object' && Array.isArray(claimed) === Array.isArray(expected)) {
    const a = claimed as Record<string, unknown>
    const b = expected as Record<string, unknown>
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const d = firstDifference(a[k], b[k], `${path}.${k}`)
      if (d !== undefined) return d
    }
  }
  const short = (v: unknown): unknown => typeof v === 'object' && v !== null ? canonicalJson(v).slice(0, 200) : v
  return { path, claimed: short(claimed), expected: short(expected) }
}
