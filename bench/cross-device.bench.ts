// What a verifier on another device sees: the market's classifier job (the shipped
// spam-base, rank 8 on the embedding and both layers, batch 32, the default schedule) is
// trained on one device with a checkpoint every 50 steps, and each segment is replayed
// on the other device from the worker's own start checkpoint and compared with its end
// checkpoint, group by group as compareCheckpoints does: parameters, Adam's first and
// second moments, and each step's loss. Both directions, and the device against itself
// (a GPU is not bit-reproducible), several seeds: the spread is what
// compute/verify/device-tolerance.ts must hold with room to spare.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { probeDevices } from '../compute/capacity/device-probe.ts'
import { classifierAdapterTask, DEFAULT_CLASSIFIER_ADAPTER_HYPER } from '../compute/jobs/train-classifier-adapter.ts'
import { decodeModel } from '../compute/models/artifacts.ts'
import { CLASSIFIER_LORA_TARGETS } from '../compute/models/classifier/config.ts'
import { parseDeviceChoice, type Device } from '../compute/onnx/devices.ts'
import { decodeCheckpoint } from '../compute/train/checkpoint.ts'
import { MemoryCheckpointStore } from '../compute/train/checkpoint-store.ts'
import { replaySegment, train } from '../compute/train/trainer.ts'
import { CROSS_DEVICE_TOLERANCE } from '../compute/verify/device-tolerance.ts'
import { checkpointDrift, segmentsOf } from '../compute/verify/training.ts'
import { readSpamAssassinMails } from '../storage/corpora/spam-assassin.ts'
import { numberFlag, parseFlags } from './lib/args.ts'
import { BenchUsageError, type BenchResult } from './lib/bench.ts'
import { median, round } from './lib/stats.ts'

export const name = 'cross-device'
export const description = 'drift of honest segment replays between the CPU and another device, per checkpoint group, as a cross-device verifier compares them'
export const flags = [
  '--device D   the other device (default webgpu)',
  '--seeds N   runs per direction, seeds 1..N (default 3)',
  '--steps N   steps per run, a checkpoint every 50 (default 150)',
  '--mails N   SpamAssassin mails trained on (default 300, as a market devnet imports)',
  '--directions L   worker-verifier pairs, gpu standing for --device (default gpu-cpu,cpu-gpu,gpu-gpu: the last is one GPU class against itself)'
]

type Groups = 'params' | 'm' | 'v' | 'loss'
const GROUPS: readonly Groups[] = ['params', 'm', 'v', 'loss']

export async function run (args: string[]): Promise<BenchResult> {
  const f = parseFlags(args, { device: 'string', seeds: 'string', steps: 'string', mails: 'string', directions: 'string' })
  const device = (() => { try { return parseDeviceChoice(f.device ?? 'webgpu') } catch (err) { throw new BenchUsageError((err as Error).message) } })()
  if (device === 'cpu' || device === 'auto') throw new BenchUsageError('--device names the other device: webgpu or cuda')
  const seeds = numberFlag(f, 'seeds', 3, { min: 1 })
  const steps = numberFlag(f, 'steps', 150, { min: 50 })
  const [probe] = await probeDevices([device])
  if (!probe.available) throw new BenchUsageError(`${device} is unavailable here: ${probe.error} (${probe.hint})`)

  const model = decodeModel(new Uint8Array(await readFile(fileURLToPath(new URL('../peer/models/built/spam-base.safetensors', import.meta.url)))))
  const labels = (model.meta as { labels: string[] }).labels
  const mails = readSpamAssassinMails({ limit: numberFlag(f, 'mails', 300, { min: 10 }) })
  const texts = { texts: mails.map(m => m.text), labels: mails.map(m => labels.indexOf(m.label)) }
  const job = (seed: number, on: Device, store?: MemoryCheckpointStore) => ({
    base: model, baseCid: 'bench', train: texts, heldOut: { texts: [], labels: [] }, lora: { rank: 8, alpha: 16, targets: [...CLASSIFIER_LORA_TARGETS] },
    hyper: { ...DEFAULT_CLASSIFIER_ADAPTER_HYPER, steps, batch: 32, seed }, threads: 1, device: on, ...(store !== undefined ? { store } : {})
  })

  const worst: Record<string, Record<Groups, number[]>> = {}
  const rows: unknown[] = []
  const directions = (typeof f.directions === 'string' ? f.directions : 'gpu-cpu,cpu-gpu,gpu-gpu').split(',').map((d: string) => d.trim().replaceAll('gpu', device).split('-') as [Device, Device])
  for (const [worker, verifier] of directions) {
    const key = `${worker}->${verifier}`
    worst[key] = { params: [], m: [], v: [], loss: [] }
    for (let seed = 1; seed <= seeds; seed++) {
      const store = new MemoryCheckpointStore()
      const w = await classifierAdapterTask(job(seed, worker, store))
      try { await train(w.task) } finally { await w.release() }
      const v = await classifierAdapterTask(job(seed, verifier))
      try {
        const per: Record<Groups, number> = { params: 0, m: 0, v: 0, loss: 0 }
        for (const s of segmentsOf(v.task)) {
          const from = s.from === 0 ? null : await store.load(s.from)
          const replay = await replaySegment(v.task, from)
          const d = checkpointDrift(decodeCheckpoint(replay.bytes, v.task.specs), decodeCheckpoint(await store.load(s.to), v.task.specs), v.task.specs)
          for (const g of GROUPS) per[g] = Math.max(per[g], d[g])
          rows.push({ direction: key, seed, segment: s.index, ...Object.fromEntries(GROUPS.map(g => [g, d[g]])) })
          process.stderr.write(`cross-device: ${key} seed ${seed} segment ${s.index}: ${GROUPS.map(g => `${g} ${d[g].toExponential(2)}`).join(', ')}\n`)
        }
        for (const g of GROUPS) worst[key][g].push(per[g])
      } finally {
        await v.release()
      }
    }
  }
  const figures: Record<string, number> = {}
  for (const [key, groups] of Object.entries(worst)) {
    for (const g of GROUPS) {
      figures[`${key}.${g}.worst`] = round(Math.max(...groups[g]), 9)
      figures[`${key}.${g}.median`] = round(median(groups[g]), 9)
    }
  }
  return { figures, baseline: null, ratio: null, reps: seeds, params: { device, seeds, steps }, detail: { tolerance: CROSS_DEVICE_TOLERANCE, segments: rows } }
}
