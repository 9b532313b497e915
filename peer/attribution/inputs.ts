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
import { sumByGroup } from '../../compute/attribution/influence.ts'
import type { Adapter } from '../../compute/models/artifacts.ts'
import { classifierParamSpecs, type ClassifierConfig } from '../../compute/models/classifier/config.ts'
import { classifierData } from '../../compute/models/classifier/train-step.ts'
import type { LmConfig } from '../../compute/models/lm/config.ts'
import { windowDocuments, windowsOf } from '../../compute/models/lm/data.ts'
import { lmParamSpecs } from '../../compute/models/lm/params.ts'
import { loraSpecs } from '../../compute/models/lora.ts'
import { initParams } from '../../compute/models/param-spec.ts'
import { Tokenizer } from '../../compute/tokenizer/index.ts'
import { checkpointHash } from '../../compute/train/checkpoint.ts'
import type { CheckpointStore } from '../../compute/train/checkpoint-store.ts'
import { CheckpointRefusedError } from '../../compute/verify/errors.ts'
import { FIT_GATES, attributionRewards, fitGate } from '../../settlement/policy/index.ts'
import type { Doc, PreparedJob } from '../models/model-factory.ts'

/** What an attribution result says it computed (and a verifier recomputes). */
export const ATTRIBUTION_METHOD = 'tracin-cp/trapezoid+datainf+fit-gate'

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
  const train = windowsOf(trainTokens, { seq, eot: tokenizer.eot, pad: tokenizer.pad })
  const exampleDocs = Array.from(windowDocuments(trainTokens.map(t => t.length), train), i => split.train[i])
  return { exampleDocs, inputs: { ...common, train, groups: exampleDocs.map(d => d.file.contribution.toString()), validation: windowsOf(encode(split.heldOut), { seq, eot: tokenizer.eot, pad: tokenizer.pad }) } }
}

export interface CreditInput {
  /** Per training example, in the job's example order. */
  examples: ReadonlyArray<{ file: string, contribution: string, tracin: number, datainf: number, loss: number }>
  validationLoss: number
  kind: 'classifier' | 'lm'
  /** Each contribution's address. */
  contributorOf: ReadonlyMap<string, string>
  /** Each contribution's position in the datanet version's entry order. */
  order: ReadonlyMap<string, number>
  /** Files the datanet flags as near-duplicates of earlier text. */
  near: ReadonlySet<string>
}

/** The job's facts credits depend on, from the prepared job and the datanet's view of its files. */
export function creditContext (prepared: PreparedJob, nearDuplicateFiles: Iterable<string>): Pick<CreditInput, 'kind' | 'contributorOf' | 'order' | 'near'> {
  return {
    kind: prepared.base.meta.kind,
    contributorOf: new Map(prepared.split.train.map(d => [d.file.contribution.toString(), d.file.contributor])),
    order: new Map(prepared.dn.log.ordered().map((e, i) => [e.cid.toString(), i])),
    near: new Set(nearDuplicateFiles)
  }
}

/**
 * Per-example scores to per-contribution sums and payout weights. Every float sum runs
 * in example order (then by contribution id), so the same scores give the same summary
 * on every peer: a verifier recomputes it from the claimed scores and compares exactly.
 */
export function attributionCredits (input: CreditInput): AttributionSummary {
  const { examples } = input
  const groups = examples.map(e => e.contribution)
  const tg = sumByGroup(examples.map(e => e.tracin), groups)
  const dg = sumByGroup(examples.map(e => e.datainf), groups)
  const lg = sumByGroup(examples.map(e => e.loss), groups)
  const counts = new Map<string, number>()
  for (const g of groups) counts.set(g, (counts.get(g) ?? 0) + 1)
  const byGroup = [...tg.keys()].sort().map(group => ({ group, examples: counts.get(group) ?? 0, tracin: tg.get(group) ?? 0, datainf: dg.get(group) ?? 0, meanLoss: (lg.get(group) ?? 0) / Math.max(1, counts.get(group) ?? 0) }))

  // Files the datanet flags as near-duplicates of earlier text add nothing to what their
  // contribution is paid for: the first copy is the one that counts.
  const paid = new Map<string, number>()
  let nearDuplicateExamples = 0
  examples.forEach(e => {
    if (input.near.has(e.file)) { nearDuplicateExamples++; return }
    paid.set(e.contribution, (paid.get(e.contribution) ?? 0) + e.tracin)
  })
  // Data the adapter could not fit (worse than it fits unseen validation data, by the
  // model kind's measured margin) earns nothing. The gate reads the loss of the examples
  // that would be paid: near-duplicates earn nothing, so easy copies of good data must
  // not pull a contribution's mean loss under the bar and carry its junk through.
  const paidLoss = new Map<string, { sum: number, n: number }>()
  examples.forEach(e => {
    if (input.near.has(e.file)) return
    const x = paidLoss.get(e.contribution) ?? { sum: 0, n: 0 }
    x.sum += e.loss
    x.n++
    paidLoss.set(e.contribution, x)
  })
  const gateLoss = (g: { group: string, meanLoss: number }): number => { const x = paidLoss.get(g.group); return x === undefined ? g.meanLoss : x.sum / x.n }
  const unfit = new Set(fitGate(byGroup.map(g => ({ id: g.group, meanLoss: gateLoss(g) })), input.validationLoss, FIT_GATES[input.kind]).unfit.map(u => u.id))
  for (const id of unfit) paid.set(id, 0)
  const contributor = (g: string): string => input.contributorOf.get(g) ?? ''
  const rewards = attributionRewards(byGroup.map(g => ({ id: g.group, contributor: contributor(g.group), influence: paid.get(g.group) ?? 0, order: input.order.get(g.group) ?? 0 })))
  const weightOf = new Map(rewards.contributions.map(c => [c.id, c.weight]))

  const byContributor = new Map<string, number>()
  for (const g of byGroup) byContributor.set(contributor(g.group), (byContributor.get(contributor(g.group)) ?? 0) + g.tracin)
  const payout = new Map(rewards.contributors.map(c => [c.contributor, c.weight]))
  return {
    contributions: byGroup.map(g => ({ contribution: g.group, contributor: contributor(g.group), examples: g.examples, tracin: g.tracin, datainf: g.datainf, meanLoss: g.meanLoss, unfit: unfit.has(g.group), paidInfluence: paid.get(g.group) ?? 0, weight: weightOf.get(g.group) ?? 0 })),
    contributors: [...byContributor].map(([address, influence]) => ({ address, influence, weight: payout.get(address) ?? 0 })).sort((a, b) => b.influence - a.influence),
    flags: rewards.flags as unknown as Array<Record<string, unknown>>,
    unfit: [...unfit],
    nearDuplicateExamples
  }
}
