// lora-serve: generated tokens/s when the requests in flight bring 1, 10, 100 or 1000
// distinct LoRA adapters, against the same base with ONE adapter merged into its
// weights, served by the same generator (LmGenerator, plain mode) with the same batch
// size, prompts, generation length and KV-cache code, in the same run.
//
// Project op:  for each batch, every request's adapter comes from the AdapterCache
//              (by CID; a miss decodes the adapter file), then LmGenerator.generate
//              in adapter mode (each sequence its own adapter, gathered per batch)
// Baseline op: LmGenerator.generate in plain mode on the merged base, no adapters
// Requests cycle through the N adapters (sequence j uses adapter j mod N), so over
// the timed reps all N distinct adapters are served. Reps go merged, 1, 10, ...
// after a warm-up; medians. Also: adapter load latency cold (decode) and cached (hit),
// and memory per adapter.
import os from 'node:os'
import { performance } from 'node:perf_hooks'
import { encodeModel } from '../compute/models/artifacts.ts'
import { DEFAULT_LM_CONFIG, defaultLoraTargets, type LmConfig } from '../compute/models/lm/config.ts'
import { lmParamSpecs } from '../compute/models/lm/params.ts'
import type { LoraConfig } from '../compute/models/lora.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { Rng } from '../compute/random.ts'
import { LmGenerator, type GenerationRequest } from '../compute/serve/generator.ts'
import { BenchUsageError, type BenchResult } from './lib/bench.ts'
import { numberFlag, parseFlags } from './lib/args.ts'
import { benchDevice, DEVICE_FLAG } from './lib/device.ts'
import { fmt } from './lib/report.ts'
import { max, median, min, percentile, round } from './lib/stats.ts'
import { alternate, type TimedCase } from './lib/timing.ts'
import { adapterCache, baseMeta, cidOf, makeStore, mergedBase, tensorBytes } from './lora-serve/adapters.ts'
import { memoryNow } from './lora-serve/memory.ts'
import { timeRuns } from './lora-serve/ort-time.ts'

export const name = 'lora-serve'
export const description = 'generated tokens/s with 1..1000 distinct LoRA adapters in flight vs one adapter merged into the base'
export const flags = [
  '--adapters LIST  distinct adapters in flight, comma-separated (default 1,10,100,1000)',
  '--batch N        sequences per generate() call (default 32)',
  '--prompt N       prompt tokens per sequence (default 32)',
  '--new N          generated tokens per sequence, greedy (default 32)',
  '--batches N      batches per timed rep (default: enough that the reps serve every adapter)',
  '--reps N         timed repetitions of each case, >= 5 (default 7)',
  '--warmup N       untimed repetitions of each case first (default 1)',
  '--threads N      ORT intra-op threads (default: all cores)',
  '--quick          a small model (d 64, 2 layers, vocab 512), adapters 1,10,100, batch 8, 16+16 tokens',
  DEVICE_FLAG
]

const SEED = 1
const TARGET = 0.7
const QUICK_CFG: LmConfig = { vocab: 512, dModel: 64, layers: 2, heads: 2, ffn: 256, context: 64 }

function parseCounts (raw: string): number[] {
  const counts = raw.split(',').map(s => Number(s.trim()))
  if (counts.length === 0 || counts.some(n => !Number.isInteger(n) || n < 1)) throw new BenchUsageError(`--adapters must be positive integers, comma-separated, got "${raw}"`)
  return [...new Set(counts)].sort((a, b) => a - b)
}

export async function run (args: string[]): Promise<BenchResult> {
  const f = parseFlags(args, { adapters: 'string', batch: 'string', prompt: 'string', new: 'string', batches: 'string', reps: 'string', warmup: 'string', threads: 'string', quick: 'boolean', device: 'string' })
  const device = await benchDevice(f.device)
  const quick = f.quick === true
  const cfg = quick ? QUICK_CFG : DEFAULT_LM_CONFIG
  const counts = parseCounts(typeof f.adapters === 'string' ? f.adapters : (quick ? '1,10,100' : '1,10,100,1000'))
  const batch = numberFlag(f, 'batch', quick ? 8 : 32, { min: 1 })
  const promptLen = numberFlag(f, 'prompt', quick ? 16 : 32, { min: 1 })
  const newTokens = numberFlag(f, 'new', quick ? 16 : 32, { min: 1 })
  const reps = numberFlag(f, 'reps', 7, { min: 5 })
  const warmupReps = numberFlag(f, 'warmup', 1, { min: 1 })
  const threads = numberFlag(f, 'threads', os.availableParallelism(), { min: 1 })
  const maxN = counts[counts.length - 1]
  const batchesPerRep = numberFlag(f, 'batches', Math.max(quick ? 8 : 1, Math.ceil(maxN / (batch * reps))), { min: 1 })
  if (promptLen + newTokens > cfg.context) throw new BenchUsageError(`--prompt + --new must fit the context (${cfg.context})`)
  const log = (msg: string): void => { process.stderr.write(`lora-serve: ${msg}\n`) }
  const lora: LoraConfig = { rank: 8, alpha: 16, targets: defaultLoraTargets(cfg) }

  // The base model and its CID, the adapter files, and the cache in front of them.
  const base = initParams(lmParamSpecs(cfg), SEED)
  const meta = baseMeta(cfg)
  const baseCid = await cidOf(encodeModel({ meta, params: base }))
  log(`encoding ${maxN} adapters (rank ${lora.rank}, ${lora.targets.length} targets)`)
  const store = await makeStore(cfg, lora, baseCid, maxN, SEED + 1000)
  const mem0 = memoryNow()
  let adapterBytes = 0
  const cache = adapterCache(store, { cid: baseCid, meta }, Number.MAX_SAFE_INTEGER)
  for (const cid of store.cids) adapterBytes = tensorBytes(await cache.get(cid))
  const coldMs = cache.stats().loadMs
  const mem1 = memoryNow()
  const hitUs: number[] = []
  for (const cid of store.cids) {
    const t0 = performance.now()
    await cache.get(cid)
    hitUs.push((performance.now() - t0) * 1000)
  }
  log(`cold load median ${fmt(median(coldMs))} ms, cached hit median ${fmt(median(hitUs))} us, ${fmt(adapterBytes)} B of tensors per adapter`)

  const served = await LmGenerator.create({ cfg, base, lora, threads })
  const merged = await LmGenerator.create({ cfg, base: mergedBase(base, await cache.get(store.cids[0]), lora), threads })
  const ortServed = timeRuns(served)
  const ortMerged = timeRuns(merged)
  const rng = new Rng(SEED + 7)
  const prompts = Array.from({ length: batch * batchesPerRep }, () => Int32Array.from({ length: promptLen }, () => rng.int(cfg.vocab)))
  const opsPerRep = batch * batchesPerRep * newTokens

  try {
    // Same model, two code paths: adapter 0 gathered per sequence vs adapter 0 merged.
    const a0 = await cache.get(store.cids[0])
    const viaAdapter = await served.generate(prompts.slice(0, batch).map(prompt => ({ prompt, maxNewTokens: newTokens, adapter: a0 })))
    const viaMerge = await merged.generate(prompts.slice(0, batch).map(prompt => ({ prompt, maxNewTokens: newTokens })))
    const same = viaAdapter.filter((r, i) => r.tokens.join() === viaMerge[i].tokens.join()).length
    log(`adapter 0 gathered vs merged: ${same} of ${batch} sequences generate the same tokens`)

    const cursor = new Map<number, number>(counts.map(n => [n, 0]))
    const servedThisRep = new Map<number, Set<number>>(counts.map(n => [n, new Set()]))
    const servedTimed = new Map<number, Set<number>>(counts.map(n => [n, new Set()]))
    const perRep = new Map<string, Array<{ ms: number, ortMs: number, ortRuns: number }>>()
    const check = (got: number) => { if (got !== opsPerRep) throw new Error(`generated ${got} tokens, expected ${opsPerRep}`) }

    const timedRep = async (key: string, ort: { ms: number, runs: number }, body: () => Promise<number>): Promise<void> => {
      ort.ms = 0
      ort.runs = 0
      const t0 = performance.now()
      check(await body())
      const list = perRep.get(key) ?? []
      list.push({ ms: performance.now() - t0, ortMs: ort.ms, ortRuns: ort.runs })
      perRep.set(key, list)
    }
    const cases: Record<string, TimedCase> = {
      merged: {
        run: async () => await timedRep('merged', ortMerged, async () => {
          let got = 0
          for (let b = 0; b < batchesPerRep; b++) {
            const reqs: GenerationRequest[] = []
            for (let i = 0; i < batch; i++) reqs.push({ prompt: prompts[b * batch + i], maxNewTokens: newTokens })
            for (const r of await merged.generate(reqs)) got += r.tokens.length
          }
          return got
        })
      }
    }
    for (const n of counts) {
      cases[`a${n}`] = {
        prepare: () => { servedThisRep.get(n)?.clear() },
        run: async () => await timedRep(`a${n}`, ortServed, async () => {
          let got = 0
          const seen = servedThisRep.get(n) as Set<number>
          for (let b = 0; b < batchesPerRep; b++) {
            const reqs: GenerationRequest[] = []
            for (let i = 0; i < batch; i++) {
              const j = cursor.get(n) as number
              cursor.set(n, j + 1)
              const idx = j % n
              seen.add(idx)
              reqs.push({ prompt: prompts[b * batch + i], maxNewTokens: newTokens, adapter: await cache.get(store.cids[idx]) })
            }
            for (const r of await served.generate(reqs)) got += r.tokens.length
          }
          return got
        })
      }
    }

    log(`${warmupReps} warm-up + ${reps} timed reps; each rep ${batchesPerRep} batches of ${batch} x (${promptLen} prompt + ${newTokens} new) = ${opsPerRep} tokens`)
    const t = await alternate(cases, {
      ops: opsPerRep,
      reps,
      warmupReps,
      onRep: (c, r, rate) => {
        const n = Number(c.slice(1))
        if (c !== 'merged') for (const i of servedThisRep.get(n) ?? []) servedTimed.get(n)?.add(i)
        log(`rep ${r + 1} ${c.padEnd(6)} ${fmt(rate)} tokens/s`)
      }
    })
    // Warm-up reps were recorded too; keep the timed ones (the last `reps`).
    for (const [k, list] of perRep) perRep.set(k, list.slice(-reps))

    const mergedRate = t.merged.medianOpsPerSec
    const rateOf = (n: number) => t[`a${n}`].medianOpsPerSec
    const ratio = rateOf(maxN) / mergedRate
    const ortShare = (k: string) => median((perRep.get(k) ?? []).map(r => r.ortMs / r.ms))
    const msPerStep = (k: string) => median((perRep.get(k) ?? []).map(r => r.ortMs / r.ortRuns))
    const pairs = (n: number) => t[`a${n}`].opsPerSec.map((x, i) => x / t.merged.opsPerSec[i])
    const figures: Record<string, number> = { mergedTokensPerSec: round(mergedRate) }
    const baseline: Record<string, number> = { mergedTokensPerSec: round(mergedRate) }
    const units: Record<string, string> = { mergedTokensPerSec: 'tokens/s' }
    for (const n of counts) {
      figures[`tokensPerSec${n}`] = round(rateOf(n))
      baseline[`tokensPerSec${n}`] = round(mergedRate)
      units[`tokensPerSec${n}`] = `tokens/s, ${n} adapters`
    }
    for (const n of counts) { figures[`ratio${n}`] = round(rateOf(n) / mergedRate); units[`ratio${n}`] = 'x merged' }
    Object.assign(figures, {
      coldLoadMsP50: round(median(coldMs)),
      coldLoadMsP99: round(percentile(coldMs, 99)),
      cachedHitUsP50: round(median(hitUs)),
      bytesPerAdapter: adapterBytes,
      fileBytesPerAdapter: store.fileBytes,
      rssMiBPer1000: round((mem1.rss - mem0.rss) / 2 ** 20 * 1000 / maxN),
      arrayBufferMiBPer1000: round((mem1.arrayBuffers - mem0.arrayBuffers) / 2 ** 20 * 1000 / maxN)
    })
    Object.assign(units, {
      coldLoadMsP50: 'ms (fetch + decode)', coldLoadMsP99: 'ms', cachedHitUsP50: 'us', bytesPerAdapter: 'B of tensors', fileBytesPerAdapter: 'B encoded',
      rssMiBPer1000: 'MiB RSS / 1000 adapters', arrayBufferMiBPer1000: 'MiB buffers / 1000 adapters'
    })
    const rows: string[][] = [['case', 'tokens/s', 'x merged', 'pair ratio range', 'ORT share', 'ms / ORT run', 'distinct adapters served (timed)']]
    rows.push(['merged (1 adapter in weights)', fmt(mergedRate), '1', '', fmt(ortShare('merged')), fmt(msPerStep('merged')), '1'])
    for (const n of counts) {
      const p = pairs(n)
      rows.push([`${n} adapters`, fmt(rateOf(n)), fmt(rateOf(n) / mergedRate), `${fmt(min(p))} - ${fmt(max(p))}`, fmt(ortShare(`a${n}`)), fmt(msPerStep(`a${n}`)), String(servedTimed.get(n)?.size ?? 0)])
    }
    const stats = cache.stats()
    const pass = ratio >= TARGET
    return {
      figures,
      baseline,
      ratio: round(ratio),
      reps,
      units,
      params: {
        config: Object.entries(cfg).map(([k, v]) => `${k}:${v}`).join(','), quick,
        adapters: counts.join(','), batch, promptTokens: promptLen, newTokens, batchesPerRep, tokensPerRep: opsPerRep,
        reps, warmupReps, threads, device, lora: `rank ${lora.rank} alpha ${lora.alpha} targets ${lora.targets.length}`, greedy: true
      },
      detail: {
        target: { ratio: TARGET, pass },
        pairRatios: Object.fromEntries(counts.map(n => [n, { median: round(median(pairs(n))), range: [round(min(pairs(n))), round(max(pairs(n)))] }])),
        distinctAdaptersServedTimed: Object.fromEntries(counts.map(n => [n, servedTimed.get(n)?.size ?? 0])),
        ortShareOfWallTime: Object.fromEntries(['merged', ...counts.map(n => `a${n}`)].map(k => [k, round(ortShare(k))])),
        msPerOrtRun: Object.fromEntries(['merged', ...counts.map(n => `a${n}`)].map(k => [k, round(msPerStep(k))])),
        perRepTokensPerSec: Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.opsPerSec.map(x => round(x))])),
        adapterLoad: {
          coldMs: { p50: round(median(coldMs)), p99: round(percentile(coldMs, 99)), min: round(min(coldMs)), max: round(max(coldMs)), count: coldMs.length },
          cachedUs: { p50: round(median(hitUs)), p99: round(percentile(hitUs, 99)) }
        },
        memory: {
          adapters: maxN,
          rssGrowthBytes: mem1.rss - mem0.rss,
          arrayBufferGrowthBytes: mem1.arrayBuffers - mem0.arrayBuffers,
          gcBeforeReading: mem0.collected && mem1.collected,
          rssAtEnd: process.memoryUsage().rss
        },
        cache: { hits: stats.hits, misses: stats.misses, evictions: stats.evictions, entries: stats.entries, bytes: stats.bytes },
        gatheredMatchesMerged: `${same}/${batch}`
      },
      tables: [{ title: 'per case (ORT share = time inside session.run / wall time of the rep)', rows }],
      notes: [
        `headline ratio = tokens/s with ${maxN} distinct adapters in flight / tokens/s of the merged baseline`,
        `"N adapters in flight": request j uses adapter j mod N; each batch of ${batch} gathers its sequences' adapters (through AdapterCache by CID); over the ${reps} timed reps every one of the N adapters is served (see distinctAdaptersServedTimed)`,
        'baseline = LmGenerator in plain mode on the base with adapter 0 merged into every target (mergeAdapter), same batch, prompts, generation length and KV-cache code',
        'each batch copies its requests\' factors into per-sequence [B, ...] tensors once, then every step is one ORT call: the work per batch is the same whether its adapters are distinct or not, so N shows up in cache memory (N x bytes per adapter) and cold loads, not in tokens/s',
        'adapter files: encodeAdapter/decodeAdapter (compute/models/artifacts.ts, safetensors layout, every tensor checked on decode), keyed by the raw sha256 CID of the file; cold load = AdapterCache miss: fetch the bytes from an in-memory store (no disk or network) + decode; cached = a hit',
        `memory per adapter: ${fmt(adapterBytes)} B of tensors; RSS / ArrayBuffer growth measured after GC across the ${maxN} cold loads, scaled to 1000`,
        `adapter 0 gathered per sequence vs merged into the weights: ${same}/${batch} sequences generate identical greedy tokens (float rounding may split near-ties)`,
        `target: ratio >= ${TARGET}: ${pass ? 'PASS' : 'MISS'} (${fmt(ratio)})`
      ]
    }
  } finally {
    await served.release()
    await merged.release()
  }
}
