// The sotu attribution bench's base: the shipped sotu-lm was pretrained on the kept State
// of the Union addresses, among them every contributor's speech, so leaving a speech out
// of the adapter could not take it out of the model. This base has the shipped shape
// (SOTU_LM.cfg) but its tokenizer and weights learned Moby-Dick only: no address, neither
// a contributor's nor a validation one. Built once, deterministically (seed 1), and kept
// under bench/.cache; its pretraining checkpoints make a killed build resume.
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pretrainLm } from '../../compute/jobs/pretrain.ts'
import { decodeModel, encodeModel, type Model } from '../../compute/models/artifacts.ts'
import type { LmConfig } from '../../compute/models/lm/config.ts'
import { fingerprint } from '../../compute/train/fingerprint.ts'
import { mobyDickTexts, trainBpe } from '../../compute/tokenizer/index.ts'
import { SOTU_LM } from '../../peer/models/recipes.ts'
import { FileCheckpointStore } from '../../peer/models/checkpoint-files.ts'
import { writeFileAtomic } from '../../storage/atomic-file.ts'
import { CACHE_DIR } from './run-cache.ts'

/** Pretraining steps: 16 windows of 128 tokens each, ~9 passes over Moby-Dick's ~290k tokens. */
export const SOTU_BENCH_BASE_STEPS = 1500

export const SOTU_BENCH_BASE_NOTE = `sotu base: the shipped sotu-lm shape (d 128, 4 layers, vocabulary 4096) with tokenizer and weights pretrained on Moby-Dick only (${SOTU_BENCH_BASE_STEPS} steps of 16 x 128 tokens, lr 3e-3, seed 1; bench/attribution/sotu-base.ts): it saw no State of the Union address, neither the contributors' nor the validation ones`

export async function sotuBenchBase (opts: { threads: number, log: (msg: string) => void }): Promise<{ model: Model, bytes: Uint8Array }> {
  const recipe = { corpus: 'moby-dick', cfg: SOTU_LM.cfg, vocab: SOTU_LM.vocab, steps: SOTU_BENCH_BASE_STEPS, batch: SOTU_LM.batch, seq: SOTU_LM.seq, lr: SOTU_LM.lr, weightDecay: 0.1, seed: 1 }
  const name = `sotu-base-${fingerprint(recipe).slice(0, 16)}`
  const file = join(CACHE_DIR, `${name}.safetensors`)
  try {
    const bytes = new Uint8Array(await readFile(file))
    return { model: decodeModel(bytes), bytes }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const texts = mobyDickTexts().map(t => t.text)
  opts.log(`pretraining the sotu bench base on Moby-Dick (${texts.length} texts, ${recipe.steps} steps; once, then cached at ${file})`)
  const tokenizer = trainBpe(texts, { vocabSize: recipe.vocab })
  const cfg: LmConfig = { vocab: tokenizer.vocabSize, ...recipe.cfg }
  const ckpts = join(CACHE_DIR, `${name}-checkpoints`)
  await mkdir(ckpts, { recursive: true })
  const started = performance.now()
  const model = await pretrainLm({
    name: 'sotu-bench-base',
    source: { corpora: ['moby-dick'], note: 'attribution bench base: no State of the Union text' },
    cfg,
    tokenizer,
    texts,
    hyper: { steps: recipe.steps, batch: recipe.batch, seq: recipe.seq, lr: recipe.lr, warmup: 100, weightDecay: recipe.weightDecay, checkpointEvery: 250, seed: recipe.seed },
    threads: opts.threads,
    store: new FileCheckpointStore(ckpts),
    onStep: p => { if (p.step % 100 === 0) opts.log(`pretrain step ${p.step}/${p.steps}: loss ${p.loss.toFixed(3)}, ${((performance.now() - started) / 1000).toFixed(0)} s`) }
  })
  const bytes = encodeModel(model)
  await writeFileAtomic(file, bytes)
  opts.log(`sotu bench base built in ${((performance.now() - started) / 1000).toFixed(0)} s, final loss ${String(model.meta.provenance?.finalLoss)}`)
  return { model, bytes }
}
