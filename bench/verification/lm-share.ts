// Verification compute as a share of training compute on a small LM adapter (byte-level,
// d 64, 2 layers, LoRA rank 4, on State of the Union text): the figure
// test/verify-training.test.ts prints but no longer bounds (a busy machine must not
// fail a test). A worker trains `steps` steps with a checkpoint every `every`; a
// verifier replays k = 10% of the segments, sampled from the receipt; both timed as
// this process's CPU time (user + system), which other tenants of the cores disturb
// least. Baseline: full replication, 1.0x.
import { defaultLoraTargets, type LmConfig } from '../../compute/models/lm/config.ts'
import { windowsOf } from '../../compute/models/lm/data.ts'
import { buildLmStepGraph } from '../../compute/models/lm/graphs.ts'
import { lmParamSpecs } from '../../compute/models/lm/params.ts'
import { lmStepFn } from '../../compute/models/lm/train-step.ts'
import { loraSpecs, type LoraConfig } from '../../compute/models/lora.ts'
import { initParams } from '../../compute/models/param-spec.ts'
import { StepRunner } from '../../compute/models/step-runner.ts'
import { DEFAULT_ADAMW } from '../../compute/train/adamw.ts'
import { MemoryCheckpointStore } from '../../compute/train/checkpoint-store.ts'
import { fingerprint } from '../../compute/train/fingerprint.ts'
import { train, type TrainTask } from '../../compute/train/trainer.ts'
import { receiptHash, sampleSeed, sampleSegments, segmentsForFraction } from '../../compute/verify/sample.ts'
import { checkpointsNeeded, verifyTraining } from '../../compute/verify/training.ts'
import { readSotuAddresses } from '../../storage/corpora/sotu.ts'
import { median } from '../lib/stats.ts'

const VERIFIER = '0x00000000000000000000000000000000000000aa'

export interface LmShareResult {
  steps: number
  every: number
  segments: number
  sampled: number
  /** Per repetition: CPU ms of the training run and of the verification, and their ratio. */
  reps: Array<{ trainMs: number, verifyMs: number, share: number }>
  medianShare: number
}

export async function lmVerificationShare (opts: { reps: number, steps?: number, every?: number, threads?: number, log?: (m: string) => void }): Promise<LmShareResult> {
  const steps = opts.steps ?? 100
  const every = opts.every ?? 5
  const cfg: LmConfig = { vocab: 258, dModel: 64, layers: 2, heads: 2, ffn: 128, context: 32 }
  const seq = 32
  const batch = 8
  const docs = readSotuAddresses({ limit: 3 }).map(a => Int32Array.from(Buffer.from(a.text.slice(0, 20_000))))
  const windows = windowsOf(docs, { seq, eot: 256, pad: 257 })
  const base = initParams(lmParamSpecs(cfg), 4)
  const lora: LoraConfig = { rank: 4, alpha: 8, targets: defaultLoraTargets(cfg) }
  const specs = loraSpecs(lmParamSpecs(cfg), lora)
  const runner = await StepRunner.create(buildLmStepGraph({ cfg, batch, seq, mode: { kind: 'lora', base, lora }, train: true }), { threads: opts.threads ?? 1 })
  try {
    const step = lmStepFn(runner, windows, batch)
    const task = (n: number): TrainTask => ({
      job: fingerprint({ bench: 'verification-lm', steps: n, every }), specs, init: initParams(specs, 1), examples: windows.count, batch, steps: n, seed: 1,
      schedule: { peak: 2e-3, warmup: 5, total: n, kind: 'cosine', floor: 0.1 }, adamw: DEFAULT_ADAMW, checkpointEvery: every, step
    })
    const cpu = async (fn: () => Promise<unknown>): Promise<number> => {
      const c = process.cpuUsage()
      await fn()
      const d = process.cpuUsage(c)
      return (d.user + d.system) / 1000
    }
    const n = Math.ceil(steps / every)
    const k = segmentsForFraction(n, 0.1)
    const verifyOnce = async (t: TrainTask, store: MemoryCheckpointStore, chain: Awaited<ReturnType<typeof train>>['chain'], beacon: string): Promise<void> => {
      const receipt = { job: t.job, chain }
      const segments = sampleSegments(sampleSeed({ job: t.job, receipt: receiptHash(receipt), verifier: VERIFIER, beacon }), Math.ceil(t.steps / every), k)
      const checkpoints = new Map(await Promise.all(checkpointsNeeded(t, segments).map(async s => [s, await store.load(s)] as const)))
      if (!(await verifyTraining({ task: t, receipt, segments, checkpoints })).ok) throw new Error('an honest run failed verification')
    }
    { // warm-up: the session and the code paths
      const t = task(2 * every)
      const store = new MemoryCheckpointStore()
      const run = await train({ ...t, store })
      await verifyOnce(t, store, run.chain, 'warm-up')
    }
    const reps: LmShareResult['reps'] = []
    for (let rep = 0; rep < opts.reps; rep++) {
      const t = task(steps)
      const store = new MemoryCheckpointStore()
      let chain: Awaited<ReturnType<typeof train>>['chain'] = []
      const trainMs = await cpu(async () => { chain = (await train({ ...t, store })).chain })
      const verifyMs = await cpu(async () => { await verifyOnce(t, store, chain, String(rep)) })
      reps.push({ trainMs, verifyMs, share: verifyMs / trainMs })
      opts.log?.(`LM adapter rep ${rep + 1}/${opts.reps}: train ${trainMs.toFixed(0)} ms CPU, verify ${k}/${n} segments ${verifyMs.toFixed(0)} ms CPU (${(100 * verifyMs / trainMs).toFixed(1)}%)`)
    }
    return { steps, every, segments: n, sampled: k, reps, medianShare: median(reps.map(r => r.share)) }
  } finally {
    await runner.release()
  }
}
