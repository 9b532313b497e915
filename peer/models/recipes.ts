// The base models the devnet and the benches start from, built reproducibly here from
// the corpora that install with the project. Each recipe leaves out every file that
// the held-out rule (compute/jobs/held-out.ts) reserves for evaluation, computing the
// file's CID exactly as `datanet import` stores it: a later adapter's held-out
// perplexity or accuracy is then measured on text neither the base nor the adapter saw.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { isHeldOut } from '../../compute/jobs/held-out.ts'
import { pretrainClassifier, pretrainLm } from '../../compute/jobs/pretrain.ts'
import type { Model } from '../../compute/models/artifacts.ts'
import type { ClassifierConfig } from '../../compute/models/classifier/config.ts'
import type { LmConfig } from '../../compute/models/lm/config.ts'
import type { StepProgress } from '../../compute/train/trainer.ts'
import { mobyDickTexts, trainBpe } from '../../compute/tokenizer/index.ts'
import { readSotuAddresses, type SotuAddress } from '../../storage/corpora/sotu.ts'
import { readSpamAssassinMails, spamAssassinDataDir, type SpamAssassinMail } from '../../storage/corpora/spam-assassin.ts'
import { importFile } from '../../storage/unixfs/index.ts'

export const RECIPES = ['sotu-lm', 'spam-base'] as const
export type RecipeName = typeof RECIPES[number]

export interface RecipeOptions {
  steps?: number
  threads?: number
  /** Smaller model and vocabulary, for tests and quick looks. */
  tiny?: boolean
  onStep?: (p: StepProgress) => void
  onPhase?: (phase: string, fields?: Record<string, unknown>) => void
}

/** The CID `datanet import` gives these bytes (Kubo's defaults), without storing them. */
async function kuboCid (bytes: Uint8Array): Promise<CID> {
  return (await importFile({ put: async (cid: CID) => cid }, bytes)).cid
}

export const SOTU_LM: { cfg: Omit<LmConfig, 'vocab'>, vocab: number, steps: number, batch: number, seq: number, lr: number } = {
  cfg: { dModel: 128, layers: 4, heads: 4, ffn: 512, context: 128 },
  vocab: 4096,
  steps: 6000,
  batch: 16,
  seq: 128,
  lr: 3e-3
}

export async function buildBase (name: RecipeName, opts: RecipeOptions = {}): Promise<Model> {
  return name === 'sotu-lm' ? await sotuLm(opts) : await spamBase(opts)
}

/** The SOTU addresses split by the held-out rule, as `datanet import sotu` stores them. */
export async function sotuSplit (): Promise<{ kept: SotuAddress[], heldOut: SotuAddress[] }> {
  const encoder = new TextEncoder()
  const split = { kept: [] as SotuAddress[], heldOut: [] as SotuAddress[] }
  for (const a of readSotuAddresses()) (isHeldOut((await kuboCid(encoder.encode(a.text))).toString()) ? split.heldOut : split.kept).push(a)
  return split
}

/** The SpamAssassin mails split by the held-out rule, as `datanet import spam-assassin` stores them. */
export async function spamSplit (): Promise<{ kept: SpamAssassinMail[], heldOut: SpamAssassinMail[] }> {
  const dir = spamAssassinDataDir()
  const split = { kept: [] as SpamAssassinMail[], heldOut: [] as SpamAssassinMail[] }
  for (const m of readSpamAssassinMails()) {
    const cid = await kuboCid(new Uint8Array(readFileSync(join(dir, `${m.name}.txt`))))
    ;(isHeldOut(cid.toString()) ? split.heldOut : split.kept).push(m)
  }
  return split
}

async function sotuLm (opts: RecipeOptions): Promise<Model> {
  const split = await sotuSplit()
  const kept = split.kept.map(a => a.text)
  const heldOut = split.heldOut.length
  const texts = [...mobyDickTexts().map(t => t.text), ...kept]
  const vocab = opts.tiny === true ? 512 : SOTU_LM.vocab
  opts.onPhase?.('tokenizer', { texts: texts.length, heldOutAddresses: heldOut, vocab })
  const tokenizer = trainBpe(texts, { vocabSize: vocab })
  const cfg: LmConfig = opts.tiny === true
    ? { vocab: tokenizer.vocabSize, dModel: 32, layers: 1, heads: 2, ffn: 64, context: 64 }
    : { vocab: tokenizer.vocabSize, ...SOTU_LM.cfg }
  const steps = opts.steps ?? SOTU_LM.steps
  opts.onPhase?.('pretrain', { cfg, steps })
  return await pretrainLm({
    name: 'sotu-lm',
    source: { corpora: ['moby-dick', 'sotu'], heldOutRule: 'compute/jobs/held-out.ts share 0.1', sotuAddresses: kept.length, sotuHeldOut: heldOut },
    cfg,
    tokenizer,
    texts,
    hyper: { steps, batch: SOTU_LM.batch, seq: Math.min(SOTU_LM.seq, cfg.context), lr: SOTU_LM.lr, warmup: Math.min(100, Math.ceil(steps / 10)), weightDecay: 0.1, checkpointEvery: steps, seed: 1 },
    threads: opts.threads,
    onStep: opts.onStep
  })
}

export const SPAM_BASE_CONFIG: ClassifierConfig = { buckets: 1 << 14, maxFeatures: 256, maxChars: 20_000, embed: 32, hidden: 32, classes: 2 }

async function spamBase (opts: RecipeOptions): Promise<Model> {
  // The base knows the corpus's first collection only; datanets bring the rest.
  const mails = (await spamSplit()).kept.filter(m => m.group.endsWith('-1'))
  const cfg = opts.tiny === true ? { ...SPAM_BASE_CONFIG, buckets: 1024, embed: 8, hidden: 8 } : SPAM_BASE_CONFIG
  const steps = opts.steps ?? 400
  opts.onPhase?.('pretrain', { mails: mails.length, steps })
  return await pretrainClassifier({
    name: 'spam-base',
    source: { corpus: 'spam-assassin', groups: ['easy-ham-1', 'hard-ham-1', 'spam-1'], heldOutRule: 'compute/jobs/held-out.ts share 0.1', mails: mails.length },
    cfg,
    labels: ['ham', 'spam'],
    data: { texts: mails.map(m => m.text), labels: mails.map(m => (m.label === 'spam' ? 1 : 0)) },
    hyper: { steps, batch: 64, lr: 1e-2, warmup: 20, weightDecay: 0.01, checkpointEvery: steps, seed: 1 },
    threads: opts.threads,
    onStep: opts.onStep
  })
}
