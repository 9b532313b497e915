// What an attribution computes from, and what its scores pay: one place for the local
// `openledger attribute` and the market's attribution jobs, so a worker, a verifier and
// the peer that trained the adapter read the same examples, take TracIn at the same
// checkpoints and turn per-example scores into the same payout weights bit for bit.
//   - inputs: the job's exact training examples (ModelFactory.prepare), the adapter's
//     seeded initialisation and LoRA shape, and the checkpoints of the adapter's own
//     chain, each checked against the hash the adapter names as it is read
//   - credits: per-example scores summed per contribution (near-duplicate files add
//     nothing; data the adapter could not fit earns nothing) and weighted by the shared
//     policy (settlement/policy)
import type { attributeClassifier, attributeLm } from '../../compute/jobs/attribute.ts'
import { TRACIN_STRIDE, attributionCheckpoints } from '../../compute/jobs/attribute.ts'
import type { TrainingHyper } from '../../compute/jobs/run-training.ts'
import type { AttributionSummary } from '../../compute/jobs/attribution-files.ts'
import type { Adapter } from '../../compute/models/artifacts.ts'
import { classifierParamSpecs, type ClassifierConfig } from '../../compute/models/classifier/config.ts'
import { classifierData } from '../../compute/models/classifier/train-step.ts'
import type { LmConfig } from '../../compute/models/lm/config.ts'
import { documentWindows, windowDocuments, windowTargets, type LmWindows } from '../../compute/models/lm/data.ts'
import { lmParamSpecs } from '../../compute/models/lm/params.ts'
import { loraSpecs } from '../../compute/models/lora.ts'
import { initParams } from '../../compute/models/param-spec.ts'
import { Tokenizer } from '../../compute/tokenizer/index.ts'
import { checkpointHash } from '../../compute/train/checkpoint.ts'
import type { CheckpointStore } from '../../compute/train/checkpoint-store.ts'
import { CheckpointRefusedError } from '../../compute/verify/errors.ts'
import { attributionCredits as policyCredits } from '../../settlement/policy/index.ts'
import type { Doc, PreparedJob } from '../models/model-factory.ts'

/** What an attribution result says it computed (and a verifier recomputes). */
export const ATTRIBUTION_METHOD = 'tracin-cp/trapezoid+datainf+file-credits'

export type AttributionJobInputs = Parameters<typeof attributeClassifier>[0] | Parameters<typeof attributeLm>[0]

/** A chain's checkpoint steps and hashes, as the adapter names them (its provenance). */
export type NamedChain = ReadonlyArray<{ step: number, hash: string }>

/** The checkpoint chain an adapter names (provenance.checkpoints); empty when it names none. */
export function namedChain (adapter: Adapter): Array<{ step: number, hash: string }> {
  const c = (adapter.meta.provenance as { checkpoints?: unknown } | undefined)?.checkpoints
  if (!Array.isArray(c)) return []
  return c.filter((x): x is { step: number, hash: string } => Number.isSafeInteger(x?.step) && typeof x?.hash === 'string').map(x => ({ step: x.step, hash: x.hash }))
}

/** The named chain's checkpoints TracIn is taken at: multiples of the model kind's stride, and the last. */
export function tracinChain (named: NamedChain, kind: 'classifier' | 'lm'): Array<{ step: number, hash: string }> {
  return named.filter((c, i) => c.step % TRACIN_STRIDE[kind] === 0 || i === named.length - 1).map(c => ({ step: c.step, hash: c.hash }))
}

/**
 * A checkpoint store over bytes from anywhere (this peer's job folder, a trainer over
 * the network): its steps are the named chain's, and every checkpoint read must hash to
 * the chain's entry for its step (CheckpointRefusedError otherwise), so whoever serves
 * the bytes cannot change a score.
 */
export class ChainCheckpoints implements CheckpointStore {
  private readonly named: NamedChain
  private readonly source: (step: number) => Promise<Uint8Array>
  private readonly onLoad?: (step: number, bytes: Uint8Array) => Promise<void>

  constructor (named: NamedChain, source: (step: number) => Promise<Uint8Array>, onLoad?: (step: number, bytes: Uint8Array) => Promise<void>) {
    this.named = named
    this.source = source
    this.onLoad = onLoad
  }

  async save (): Promise<void> { throw new CheckpointRefusedError('a named chain is read only') }

  async steps (): Promise<number[]> { return this.named.map(c => c.step) }

  async load (step: number): Promise<Uint8Array> {
    const want = this.named.find(c => c.step === step)
    if (want === undefined) throw new CheckpointRefusedError('no checkpoint of the chain at that step', { step })
    const bytes = await this.source(step)
    const got = checkpointHash(bytes)
    if (got !== want.hash) throw new CheckpointRefusedError('checkpoint does not hash to the adapter\'s chain', { step, expected: want.hash, actual: got })
    await this.onLoad?.(step, bytes)
    return bytes
  }
}

/**
 * The attribution of `adapter` over the job `prepared` describes: its examples (mails,
 * or windows credited to the document they start in) and the checkpoints of its chain.
 */
export async function attributionInputs (opts: { prepared: PreparedJob, adapter: Adapter, checkpoints: CheckpointStore, threads?: number }): Promise<{ inputs: AttributionJobInputs, exampleDocs: Doc[] }> {
  const { prepared, adapter } = opts
  const { base, split } = prepared
  const hyper = adapter.meta.hyper as unknown as TrainingHyper & { seq?: number }
  const lora = adapter.meta.lora
  const specs = base.meta.kind === 'classifier'
    ? loraSpecs(classifierParamSpecs(base.meta.config as ClassifierConfig), lora, new Set(['emb']))
    : loraSpecs(lmParamSpecs(base.meta.config as LmConfig), lora)
  const common = { base, lora, initial: initParams(specs, hyper.seed), checkpoints: await attributionCheckpoints(opts.checkpoints, specs, hyper, TRACIN_STRIDE[base.meta.kind]), threads: opts.threads }
  if (base.meta.kind === 'classifier') {
    const cfg = base.meta.config as ClassifierConfig
    const labels = base.meta.labels
    const labelled = (docs: Doc[]) => ({ texts: docs.map(d => d.text), labels: docs.map(d => labels.indexOf(d.label as string)) })
    return { exampleDocs: split.train, inputs: { ...common, train: classifierData(labelled(split.train), cfg), groups: split.train.map(d => d.file.contribution.toString()), validation: classifierData(labelled(split.heldOut), cfg) } }
  }
  const tokenizer = Tokenizer.fromJSON((base.meta as { tokenizer: unknown }).tokenizer)
  const seq = hyper.seq ?? 64
  const encode = (docs: Doc[]) => docs.map(d => tokenizer.encode(d.text))
  const trainTokens = encode(split.train)
  const train = documentWindows(trainTokens, { seq, eot: tokenizer.eot, pad: tokenizer.pad })
  const exampleDocs = Array.from(windowDocuments(trainTokens.map(t => t.length), train), i => split.train[i])
  return { exampleDocs, inputs: { ...common, train, groups: exampleDocs.map(d => d.file.contribution.toString()), validation: documentWindows(encode(split.heldOut), { seq, eot: tokenizer.eot, pad: tokenizer.pad }) } }
}

export interface CreditInput {
  /** Per training example, in the job's example order. */
  examples: ReadonlyArray<{ file: string, contribution: string, tracin: number, datainf: number, loss: number }>
  validationLoss: number
  kind: 'classifier' | 'lm'
  /** Each contribution's address. */
  contributorOf: ReadonlyMap<string, string>
  /** Each file's position in the datanet version's file order (entries in order, files in entry order). */
  order: ReadonlyMap<string, number>
  /** Files the datanet view flags as near-duplicates of earlier text: the earlier file and the similarity. */
  near: ReadonlyMap<string, { file: string, similarity: number }>
  /** Language models: each example's target tokens and the validation windows' mean, so the fit gate compares loss per token. */
  tokens?: { examples: ArrayLike<number>, validationMean: number }
}

/** An LM job's token counts for CreditInput.tokens (undefined for a classifier: one unit per mail). */
export function lossUnits (inputs: AttributionJobInputs): CreditInput['tokens'] {
  if ('labels' in inputs.train) return undefined
  const count = (w: LmWindows): Float64Array => Float64Array.from({ length: w.count }, (_, i) => windowTargets(w, i))
  const val = count(inputs.validation as LmWindows)
  return { examples: count(inputs.train), validationMean: val.reduce((s, x) => s + x, 0) / Math.max(1, val.length) }
}

/** A file the datanet view flags as nearly repeating an earlier one. */
export interface NearDuplicate { file: string, of: string, similarity: number }

/** The job's facts credits depend on, from the prepared job and the datanet's view of its files. */
export function creditContext (prepared: PreparedJob, nearDuplicates: Iterable<NearDuplicate>): Pick<CreditInput, 'kind' | 'contributorOf' | 'order' | 'near'> {
  return {
    kind: prepared.base.meta.kind,
    contributorOf: new Map(prepared.split.train.map(d => [d.file.contribution.toString(), d.file.contributor])),
    // The job's files are the log's distinct files in entry and file order (trainingFiles).
    order: new Map(prepared.files.map((f, i) => [f.cid.toString(), i])),
    near: new Map([...nearDuplicates].map(n => [n.file, { file: n.of, similarity: n.similarity }]))
  }
}

/**
 * Per-example scores to the payout summary, by the shared policy
 * (settlement/policy/attribution-credits.ts: every rule per file, summed per contribution
 * and address after). Every float sum runs in example order (then by id), so the same
 * scores give the same summary on every peer: a verifier recomputes it from the claimed
 * scores and compares exactly.
 */
export function attributionCredits (input: CreditInput): AttributionSummary {
  const { examples } = input
  const fileOf = new Map<string, string>()
  for (const e of examples) if (!fileOf.has(e.file)) fileOf.set(e.file, e.contribution)
  const files = [...fileOf].map(([file, contribution]) => {
    const near = input.near.get(file)
    return { file, contribution, contributor: input.contributorOf.get(contribution) ?? '', order: input.order.get(file) ?? Number.MAX_SAFE_INTEGER, ...(near !== undefined ? { nearDuplicateOf: near } : {}) }
  })
  const t = input.tokens
  if (t !== undefined && t.examples.length !== examples.length) throw new RangeError('one token count per example')
  const credits = policyCredits({
    examples: examples.map((e, i) => ({ file: e.file, tracin: e.tracin, loss: e.loss, ...(t !== undefined ? { tokens: t.examples[i] } : {}) })),
    files,
    validationLoss: t !== undefined ? input.validationLoss / t.validationMean : input.validationLoss,
    kind: input.kind
  })

  // Per contribution: its examples' sums, in example order, and its files' credits.
  const byContribution = new Map<string, { examples: number, tracin: number, datainf: number, loss: number, files: number, unfitFiles: number, paid: number, weight: number, flagged: Record<string, number> }>()
  const group = (c: string) => {
    let g = byContribution.get(c)
    if (g === undefined) byContribution.set(c, g = { examples: 0, tracin: 0, datainf: 0, loss: 0, files: 0, unfitFiles: 0, paid: 0, weight: 0, flagged: {} })
    return g
  }
  for (const e of examples) {
    const g = group(e.contribution)
    g.examples++
    g.tracin += e.tracin
    g.datainf += e.datainf
    g.loss += e.loss
  }
  for (const f of credits.files) {
    const g = group(f.contribution)
    g.files++
    if (f.unfit) g.unfitFiles++
    g.paid += f.paid
    g.weight += f.weight
  }
  const contributionOfFile = new Map(credits.files.map(f => [f.file, f.contribution]))
  let nearDuplicateExamples = 0
  for (const e of examples) if (input.near.has(e.file)) nearDuplicateExamples++
  const poolFlags: Array<Record<string, unknown>> = []
  for (const f of credits.flags) {
    const id = 'id' in f ? contributionOfFile.get(f.id) : undefined
    if (id === undefined) { poolFlags.push({ ...f }); continue }
    const g = group(id)
    g.flagged[f.reason] = (g.flagged[f.reason] ?? 0) + 1
  }
  const contributions = [...byContribution.keys()].sort().map(c => {
    const g = byContribution.get(c)!
    return { contribution: c, contributor: input.contributorOf.get(c) ?? '', examples: g.examples, files: g.files, tracin: g.tracin, datainf: g.datainf, meanLoss: g.loss / Math.max(1, g.examples), unfit: g.files > 0 && g.unfitFiles === g.files, unfitFiles: g.unfitFiles, paidInfluence: g.paid, weight: g.weight, flagged: g.flagged }
  })
  const byContributor = new Map<string, number>()
  for (const c of contributions) byContributor.set(c.contributor, (byContributor.get(c.contributor) ?? 0) + c.tracin)
  const payout = new Map(credits.contributors.map(c => [c.contributor, c.weight]))
  return {
    contributions,
    contributors: [...byContributor].map(([address, influence]) => ({ address, influence, weight: payout.get(address) ?? 0 })).sort((a, b) => b.influence - a.influence),
    flags: poolFlags,
    unfit: contributions.filter(c => c.unfit).map(c => c.contribution),
    unfitFiles: credits.unfit.length,
    nearDuplicateExamples
  }
}
