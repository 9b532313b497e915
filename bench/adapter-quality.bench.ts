// Does a LoRA adapter help, on real data it never saw? Both bases come from
// `openledger model pretrain` (files in peer/models/built/), which leave out every file
// the held-out rule reserves; adapters train on the rest and are judged on those.
//  - sotu-lm: an adapter per party trained on that party's addresses; held-out
//    perplexity on that party's held-out addresses, base vs adapter (and the other
//    party's, to show the adapter specialised rather than just trained longer).
//  - spam-base (saw only the corpus's first collection): an adapter trained on all the
//    kept mail; held-out accuracy, base vs adapter.
// The baseline is the base model itself on the same held-out text. Training is
// deterministic for a fixed seed and thread count, so each figure is one run per seed.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { decodeModel, type Model } from '../compute/models/artifacts.ts'
import { allLoraTargets, type LmConfig } from '../compute/models/lm/config.ts'
import { CLASSIFIER_LORA_TARGETS } from '../compute/models/classifier/config.ts'
import { DEFAULT_CLASSIFIER_ADAPTER_HYPER, trainClassifierAdapter } from '../compute/jobs/train-classifier-adapter.ts'
import { DEFAULT_LM_ADAPTER_HYPER, trainLmAdapter } from '../compute/jobs/train-lm-adapter.ts'
import { Tokenizer } from '../compute/tokenizer/index.ts'
import { sotuSplit, spamSplit } from '../peer/models/recipes.ts'
import { numberFlag, parseFlags } from './lib/args.ts'
import { BenchUsageError, type BenchResult } from './lib/bench.ts'
import { round } from './lib/stats.ts'

export const name = 'adapter-quality'
export const description = 'held-out perplexity (sotu, per party) and accuracy (spam) of LoRA adapters against their base'
export const flags = [
  '--models DIR     folder with sotu-lm.safetensors and spam-base.safetensors (default peer/models/built)',
  '--lm-steps N     adapter steps for each party (default 600)',
  '--lm-rank R      adapter rank on every projection (default 16)',
  '--seeds N        spam adapters trained with seeds 1..N (default 3)',
  '--threads N      onnxruntime threads (default 2)',
  '--only lm|spam   run one half'
]

const BUILT = fileURLToPath(new URL('../peer/models/built/', import.meta.url))
const PARTIES = ['Republican', 'Democratic'] as const

async function load (dir: string, file: string): Promise<Model> {
  try {
    return decodeModel(new Uint8Array(await readFile(`${dir}/${file}`)))
  } catch (err) {
    throw new BenchUsageError(`cannot read ${dir}/${file} (${(err as Error).message}); build it with: npx openledger model pretrain ${file.replace('.safetensors', '')} --out ${dir}/${file}`)
  }
}

export async function run (args: string[]): Promise<BenchResult> {
  const a = parseFlags(args, { models: 'string', 'lm-steps': 'string', 'lm-rank': 'string', seeds: 'string', threads: 'string', only: 'string' })
  const dir = (a.models as string | undefined) ?? BUILT
  const threads = numberFlag(a, 'threads', 2, { min: 1 })
  const only = a.only as string | undefined
  if (only !== undefined && only !== 'lm' && only !== 'spam') throw new BenchUsageError('--only must be lm or spam')
  const figures: Record<string, number> = {}
  const baseline: Record<string, number> = {}
  const detail: Record<string, unknown> = {}
  const rows: string[][] = [['adapter', 'held-out set', 'base', 'adapter', 'adapter / base', 'train s']]
  const notes: string[] = []

  if (only !== 'spam') {
    const base = await load(dir, 'sotu-lm.safetensors')
    const tokenizer = Tokenizer.fromJSON((base.meta as { tokenizer: unknown }).tokenizer)
    const cfg = base.meta.config as LmConfig
    const split = await sotuSplit()
    const steps = numberFlag(a, 'lm-steps', 600, { min: 1 })
    const rank = numberFlag(a, 'lm-rank', 16, { min: 1 })
    const lora = { rank, alpha: 2 * rank, targets: allLoraTargets(cfg) }
    const heldOutOf = (p: string) => split.heldOut.filter(x => x.party === p).map(x => x.text)
    for (const party of PARTIES) {
      const train = split.kept.filter(x => x.party === party).map(x => x.text)
      const started = performance.now()
      const r = await trainLmAdapter({
        base, baseCid: 'sotu-lm', tokenizer, train, heldOut: heldOutOf(party),
        lora,
        hyper: { ...DEFAULT_LM_ADAPTER_HYPER, steps, batch: 16, seq: cfg.context, lr: 5e-3, checkpointEvery: steps },
        threads,
        onStep: p => { if (p.step % 50 === 0) process.stderr.write(`${party}: step ${p.step}/${p.steps} loss ${p.loss.toFixed(3)}\n`) }
      })
      const seconds = (performance.now() - started) / 1000
      const other = PARTIES.find(p => p !== party) as string
      const { LmEvaluator } = await import('../compute/jobs/lm-eval.ts')
      const ev = await LmEvaluator.create({ cfg, base: base.params, lora, batch: 16, seq: cfg.context, threads })
      const otherBase = await ev.evaluate(heldOutOf(other), tokenizer, null)
      const otherAfter = await ev.evaluate(heldOutOf(other), tokenizer, r.adapter.params)
      await ev.release()
      const key = party.toLowerCase()
      figures[`${key}Perplexity`] = round(r.after.perplexity, 3)
      baseline[`${key}Perplexity`] = round(r.before.perplexity, 3)
      detail[key] = { trainAddresses: train.length, heldOutAddresses: heldOutOf(party).length, heldOutTokens: r.after.tokens, before: r.before, after: r.after, otherParty: { party: other, base: otherBase, adapter: otherAfter }, steps, seconds: round(seconds, 1) }
      rows.push([`sotu ${party}`, `${party} held out (${heldOutOf(party).length} addresses, ${r.after.tokens} tokens)`, r.before.perplexity.toFixed(2), r.after.perplexity.toFixed(2), (r.after.perplexity / r.before.perplexity).toFixed(3), seconds.toFixed(0)])
      rows.push([`sotu ${party}`, `${other} held out`, otherBase.perplexity.toFixed(2), otherAfter.perplexity.toFixed(2), (otherAfter.perplexity / otherBase.perplexity).toFixed(3), ''])
    }
    notes.push(`perplexity is per BPE token of the base's own tokenizer; lower is better. LM adapters: rank ${rank} on all ${lora.targets.length} projections, ${steps} steps, lr 5e-3`)
  }

  if (only !== 'lm') {
    const base = await load(dir, 'spam-base.safetensors')
    const split = await spamSplit()
    const labelled = (ms: typeof split.kept) => ({ texts: ms.map(m => m.text), labels: ms.map(m => (m.label === 'spam' ? 1 : 0)) })
    const seeds = numberFlag(a, 'seeds', 3, { min: 1 })
    const accs: number[] = []
    let before = 0
    for (let seed = 1; seed <= seeds; seed++) {
      const started = performance.now()
      const r = await trainClassifierAdapter({
        base, baseCid: 'spam-base', train: labelled(split.kept), heldOut: labelled(split.heldOut),
        lora: { rank: 8, alpha: 16, targets: [...CLASSIFIER_LORA_TARGETS] },
        hyper: { ...DEFAULT_CLASSIFIER_ADAPTER_HYPER, seed, checkpointEvery: DEFAULT_CLASSIFIER_ADAPTER_HYPER.steps },
        threads
      })
      accs.push(r.after.accuracy)
      before = r.before.accuracy
      rows.push([`spam seed ${seed}`, `held-out mail (${r.after.examples})`, `${(r.before.accuracy * 100).toFixed(2)}%`, `${(r.after.accuracy * 100).toFixed(2)}%`, (r.after.accuracy / r.before.accuracy).toFixed(3), ((performance.now() - started) / 1000).toFixed(1)])
      detail[`spamSeed${seed}`] = { before: r.before, after: r.after }
    }
    const sorted = [...accs].sort((x, y) => x - y)
    figures.spamAccuracy = round(sorted[Math.floor(sorted.length / 2)], 4)
    baseline.spamAccuracy = round(before, 4)
    detail.spam = { trainMails: split.kept.length, heldOutMails: split.heldOut.length, heldOutSpam: split.heldOut.filter(m => m.label === 'spam').length, accuracies: accs }
    notes.push('spam accuracy: median over seeds; the base saw only easy-ham-1, hard-ham-1 and spam-1 (minus held-out mail)')
  }

  const ratio = figures.republicanPerplexity !== undefined ? round(figures.republicanPerplexity / baseline.republicanPerplexity, 4) : round(figures.spamAccuracy / baseline.spamAccuracy, 4)
  notes.push(figures.republicanPerplexity !== undefined ? 'ratio: Republican adapter\'s held-out perplexity / the base\'s (below 1: the adapter helps)' : 'ratio: adapter\'s held-out spam accuracy / the base\'s')
  return { figures, baseline, ratio, reps: 1, params: { dir, threads, only: only ?? 'both' }, detail, notes, tables: [{ title: 'held-out quality', rows }] }
}
