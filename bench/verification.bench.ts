// verification: how many cheating training jobs sampled replay catches, how much honest
// work it wrongly rejects, and what it costs against the honest training it checks.
// Baseline (BENCHMARKS.md): full replication, 100% of the honest compute.
//
// One honest LoRA run of the shipped spam-base on real SpamAssassin mail, and one run of
// each cheater on the same job: 'skip-all' (every other step's update thrown away: half
// the work saved), 'skip-one' (the updates of one segment thrown away) and 'lazy' (half
// the steps trained, the rest claimed by relabelling the last checkpoint). Each of N
// jobs per kind gets its own sampling seed per verifier (sampleSeed over the job id, the
// receipt hash and the verifier), and every sampled segment is really replayed.
// Then the same share on a small LM adapter (bench/verification/lm-share.ts): k = 10% of
// the segments replayed, CPU time, as test/verify-training.test.ts prints it.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { DEFAULT_CLASSIFIER_ADAPTER_HYPER, classifierAdapterTask, type ClassifierAdapterJob } from '../compute/jobs/train-classifier-adapter.ts'
import { decodeModel } from '../compute/models/artifacts.ts'
import { CLASSIFIER_LORA_TARGETS } from '../compute/models/classifier/config.ts'
import { zerosLike } from '../compute/tensors/param-set.ts'
import { MemoryCheckpointStore } from '../compute/train/checkpoint-store.ts'
import { train, type TrainTask } from '../compute/train/trainer.ts'
import { receiptHash, sampleSeed, sampleSegments, segmentsForFraction, type TrainingReceipt } from '../compute/verify/sample.ts'
import { checkpointsNeeded, segmentsOf, verifyTraining } from '../compute/verify/training.ts'
import { readSpamAssassinMails } from '../storage/corpora/spam-assassin.ts'
import { numberFlag, parseFlags } from './lib/args.ts'
import { devnetMarket } from './verification/devnet-market.ts'
import { lmVerificationShare } from './verification/lm-share.ts'
import type { BenchResult } from './lib/bench.ts'
import { median, round } from './lib/stats.ts'

export const name = 'verification'
export const description = 'sampled segment replay: cheating jobs caught, honest jobs rejected, verification compute / honest compute'
export const flags = [
  '--jobs N        jobs per kind (default 40)',
  '--audit F       share of segments each verifier replays (default 0.05)',
  '--verifiers V   verifiers per job (default 2)',
  '--threads N     onnxruntime threads (default 1)',
  '--lm-reps N     repetitions of the LM adapter\'s train + verify (default 5; 0 skips it)',
  '--devnet        the network path instead: a 9-peer devnet with its chain, 5 cheating workers (random, base, stale, copy, lazy), jobs through the market',
  '--steps S       with --devnet: training steps per job (default 500: 10 segments of 50)'
]

const SPAM_BASE = fileURLToPath(new URL('../peer/models/built/spam-base.safetensors', import.meta.url))
const KINDS = ['skip-all', 'skip-one', 'lazy'] as const
type Kind = typeof KINDS[number]

interface Run { receipt: TrainingReceipt, store: MemoryCheckpointStore, ms: number, saved: number }

export async function run (args: string[]): Promise<BenchResult> {
  const f = parseFlags(args, { jobs: 'string', audit: 'string', verifiers: 'string', threads: 'string', devnet: 'boolean', steps: 'string', 'lm-reps': 'string' })
  if (f.devnet === true) return await onDevnet(numberFlag(f, 'jobs', 32, { min: 1 }), numberFlag(f, 'steps', 500, { min: 50 }))
  const jobs = numberFlag(f, 'jobs', 40, { min: 1 })
  const audit = Math.min(1, numberFlag(f, 'audit', 0.05, { min: 0.01, integer: false }))
  const verifiers = numberFlag(f, 'verifiers', 2, { min: 1 })
  const threads = numberFlag(f, 'threads', 1, { min: 1 })
  const lmReps = numberFlag(f, 'lm-reps', 5, { min: 0 })
  const log = (m: string): void => { process.stderr.write(`verification: ${m}\n`) }

  const base = decodeModel(new Uint8Array(await readFile(SPAM_BASE)))
  const mails = readSpamAssassinMails({ limit: 800 }).filter(m => m.group.endsWith('-2'))
  const labelled = { texts: mails.map(m => m.text), labels: mails.map(m => (m.label === 'spam' ? 1 : 0)) }
  const spec: ClassifierAdapterJob = {
    base, baseCid: 'spam-base', train: labelled, heldOut: labelled, threads,
    lora: { rank: 8, alpha: 16, targets: [...CLASSIFIER_LORA_TARGETS] },
    hyper: { ...DEFAULT_CLASSIFIER_ADAPTER_HYPER, steps: 200, batch: 32, checkpointEvery: 10 }
  }

  const honest = await worker(spec, undefined)
  log(`honest run: ${spec.hyper.steps} steps in ${(honest.ms / 1000).toFixed(1)} s, ${honest.receipt.chain.length} checkpoints`)
  const cheats = new Map<Kind, Run>()
  for (const kind of KINDS) cheats.set(kind, await worker(spec, kind, honest.receipt.job))

  // The verifiers' own copy of the job's task: what a peer rebuilds from the job spec.
  const { task, release } = await classifierAdapterTask(spec)
  try {
    const n = segmentsOf(task).length
    const k = segmentsForFraction(n, audit)
    const check = async (r: Run, job: string): Promise<{ caught: boolean, ms: number }> => {
      let caught = false
      let ms = 0
      for (let v = 0; v < verifiers; v++) {
        const segments = sampleSegments(sampleSeed({ job, receipt: receiptHash(r.receipt), verifier: '0x' + String(v + 1).padStart(40, '0') }), n, k)
        const started = performance.now()
        try {
          const checkpoints = new Map<number, Uint8Array>()
          for (const step of checkpointsNeeded(task, segments)) if ((await r.store.steps()).includes(step)) checkpoints.set(step, await r.store.load(step))
          const verdict = await verifyTraining({ task, receipt: r.receipt, segments, checkpoints })
          if (!verdict.ok) caught = true
        } catch {
          caught = true // a receipt or checkpoint the verifier refuses is a caught job too
        }
        ms += performance.now() - started
      }
      return { caught, ms }
    }
    const honestChecks: Array<{ caught: boolean, ms: number }> = []
    for (let j = 0; j < jobs; j++) honestChecks.push(await check(honest, `honest-${j}`))
    const figures: Record<string, number> = {
      honestRejected: honestChecks.filter(c => c.caught).length,
      verificationShare: round(median(honestChecks.map(c => c.ms / honest.ms)), 4)
    }
    const rows = [['cheater', 'compute saved', 'jobs', 'caught', 'share caught', 'per-verifier chance (k/n of bad segments)']]
    for (const kind of KINDS) {
      const r = cheats.get(kind)!
      let caught = 0
      for (let j = 0; j < jobs; j++) if ((await check(r, `${kind}-${j}`)).caught) caught++
      figures[`caught_${kind.replace('-', '_')}`] = round(caught / jobs, 4)
      rows.push([kind, `${Math.round(r.saved * 100)}%`, String(jobs), String(caught), (caught / jobs).toFixed(3), kind === 'skip-one' ? `${k}/${n}` : 'every segment bad'])
      log(`${kind}: ${caught}/${jobs} caught`)
    }
    const baseline: Record<string, number> = { verificationShare: 1 }
    const units: Record<string, string> = { verificationShare: 'x honest training compute (all verifiers of one job)' }
    const tables = [{ title: 'cheaters', rows }]
    let lm: Awaited<ReturnType<typeof lmVerificationShare>> | undefined
    if (lmReps > 0) {
      lm = await lmVerificationShare({ reps: lmReps, threads, log })
      figures.lmVerificationShare = round(lm.medianShare, 4)
      baseline.lmVerificationShare = 1
      units.lmVerificationShare = `x honest training CPU time (one verifier, ${lm.sampled} of ${lm.segments} segments of ${lm.every} steps)`
      tables.push({
        title: `LM adapter (byte-level, d 64, 2 layers, LoRA rank 4): ${lm.steps} steps, ${lm.sampled} of ${lm.segments} segments replayed, CPU time`,
        rows: [['rep', 'train ms', 'verify ms', 'share'], ...lm.reps.map((r, i) => [String(i + 1), r.trainMs.toFixed(0), r.verifyMs.toFixed(0), r.share.toFixed(3)])]
      })
    }
    return {
      figures,
      baseline,
      ratio: figures.verificationShare,
      reps: jobs,
      params: { jobs, audit, verifiers, segments: n, sampled: k, steps: spec.hyper.steps, checkpointEvery: spec.hyper.checkpointEvery, threads, mails: mails.length, lmReps },
      units,
      detail: lm === undefined ? undefined : { lm },
      notes: [
        'baseline: full replication costs 1.0x the honest compute',
        'skip-one saves only one segment of work; each verifier samples it with probability k/n, so it is the cheater the audit policy (settlement/policy/audit.ts) must deter with stake rather than catch every time',
        'targets (issue 7): caught >= 99%, honest rejected 0, verification <= 15% of honest compute',
        'lmVerificationShare: the median over --lm-reps of verify CPU / train CPU on the LM adapter (target <= 15%; test/verify-training prints the same figure without bounding it)'
      ],
      tables
    }
  } finally {
    await release()
  }
}

async function onDevnet (jobs: number, steps: number): Promise<BenchResult> {
  const log = (m: string): void => { process.stderr.write(`verification --devnet: ${m}\n`) }
  const r = await devnetMarket({ jobs, steps, log })
  const rows = [['worker', 'jobs won', 'jobs cheated', 'cheats caught'], ...Object.entries(r.byWorker).map(([w, x]) => [w, String(x.jobs), String(x.cheated), String(x.caught)])]
  return {
    figures: {
      caughtShare: r.cheatingJobs === 0 ? 0 : round(r.caught / r.cheatingJobs, 4),
      honestRejected: r.honestRejected,
      verificationShare: r.verificationShare,
      verificationWallShare: r.verificationWallShare
    },
    baseline: { verificationShare: 1 },
    ratio: r.verificationShare,
    reps: r.jobs,
    params: { devnet: true, jobs: r.jobs, steps, cheatingJobs: r.cheatingJobs, honestJobs: r.honestJobs, auditRate: 'registry auditRateBps (devnet 1000)', verifiers: 1 },
    units: { verificationShare: 'x the worker\'s job time (the verifier\'s replay only)', verificationWallShare: 'x the worker\'s job time (the verifier\'s whole wall time: data, session, fetches, replay, binding)' },
    detail: { byWorker: r.byWorker },
    notes: [
      'baseline: full replication costs 1.0x the honest compute',
      'a job counts as cheating when its worker really delivered a cheat (stale and copy work honestly until they have something to reuse)',
      'targets (issue 7): caught >= 99%, honest rejected 0, verification <= 15% of honest compute'
    ],
    tables: [{ title: 'workers', rows }]
  }
}

/** Runs the job as an honest worker or as a cheater; returns its receipt and checkpoints. */
async function worker (spec: ClassifierAdapterJob, kind: Kind | undefined, claimJob?: string): Promise<Run> {
  const store = new MemoryCheckpointStore()
  const lazy = kind === 'lazy'
  const { task, release } = await classifierAdapterTask({ ...spec, store, hyper: lazy ? { ...spec.hyper, steps: spec.hyper.steps / 2 } : spec.hyper })
  const steps = spec.hyper.steps
  const skipped = (step: number): boolean => kind === 'skip-all' ? step % 2 === 1 : kind === 'skip-one' ? step >= 70 && step < 80 : false
  let calls = 0
  let saved = 0
  const cheating: TrainTask = kind === undefined || lazy
    ? task
    : {
        ...task,
        // A cheater that skips a step pays for no backward pass: its update is zero.
        step: async (params, indices) => {
          const step = calls++
          const r = await task.step(params, indices)
          if (!skipped(step)) return r
          saved++
          return { ...r, grads: zerosLike(r.grads) }
        }
      }
  const started = performance.now()
  try {
    const result = await train(cheating)
    const chain = [...result.chain]
    if (lazy) {
      const last = chain.at(-1)!
      for (let step = last.step + spec.hyper.checkpointEvery; step <= steps; step += spec.hyper.checkpointEvery) chain.push({ step, hash: last.hash })
      saved = steps / 2
    }
    return { receipt: { job: claimJob ?? task.job, chain }, store, ms: performance.now() - started, saved: saved / steps }
  } finally {
    await release()
  }
}
