// shard-sync: MiB/s fetching a 64 MiB datanet file from a peer in another process,
// against, in the same run (BENCHMARKS.md):
//   (a) one libp2p stream (tcp + noise + yamux) between the same two processes, the
//       file's bytes in 64 KiB writes that honour backpressure, counted and dropped;
//   (b) stock Helia bitswap: `@helia/unixfs` cat of the same root (what Helia does to
//       read a file: the exporter fetches sibling blocks in parallel), drained.
// The provider (bench/shard-sync/provider.ts) is a peer built with createPeerStack over
// blockstore-fs; it imports the file Kubo-style and serves all three. Every repetition
// of every case gets a fresh receiving peer (createPeerStack) over a fresh blockstore-fs,
// connected and identified before the clock starts; the project and (b) write every
// block to it. Repetitions alternate project, (a), (b) after a warm-up round.
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { unixfs } from '@helia/unixfs'
import { CID } from 'multiformats/cid'
import { ShardSync } from '../protocols/shard/index.ts'
import { verifyDag } from '../storage/unixfs/index.ts'
import { numberFlag, parseFlags } from './lib/args.ts'
import type { BenchResult } from './lib/bench.ts'
import { fmt } from './lib/report.ts'
import { max, median, min, round } from './lib/stats.ts'
import { MIB, RAW_PROTOCOL } from './shard-sync/data.ts'
import { startProvider } from './shard-sync/provider-process.ts'
import { freshReceiver, MapBlockstore, type ProviderInfo, type Receiver } from './shard-sync/receiver.ts'
import { PackBlockstore } from '../storage/packstore/pack-blockstore.ts'

export const name = 'shard-sync'
export const description = 'MiB/s fetching a datanet file peer to peer (ShardSync) vs one raw libp2p stream and vs Helia bitswap'
export const flags = [
  '--mib N         file size in MiB (default 64)',
  '--reps N        timed repetitions of each case, >= 5 (default 7)',
  '--warmup N      untimed rounds of every case first (default 1)',
  '--seed S        seed of the file\'s pseudo-random bytes (default openledger-shard-sync)',
  '--breakdown     also time ShardSync into an in-memory blockstore (the disk\'s share)'
]

const ACCEPT_VS_RAW = 0.8
const ACCEPT_VS_BITSWAP = 3
const TRANSFER_TIMEOUT_MS = 300_000

type CaseName = 'shard' | 'raw' | 'bitswap' | 'shardMem' | 'shardPack'

interface Timed { ms: number, check: () => Promise<void> }

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these. */
const CLOCK_TICKS = 100

/** CPU ms (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
function processCpuMs (pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 1000 / CLOCK_TICKS
  } catch {
    return NaN
  }
}

interface Sample { rate: number, receiverCpuMs: number, providerCpuMs: number, elu: number }

async function shardCase (info: ProviderInfo, r: Receiver, memory: boolean, pack = false): Promise<Timed> {
  // pack: the same fetch into storage/packstore (blocks appended to pack files), to see
  // what one file per block costs blockstore-fs.
  const packDir = pack ? await mkdtemp(join(tmpdir(), 'openledger-shard-pack-')) : undefined
  const packStore = packDir != null ? new PackBlockstore(packDir) : undefined
  await packStore?.open()
  const store = packStore ?? (memory ? new MapBlockstore() : r.blockstore)
  const sync = new ShardSync({ host: r.helia.libp2p, blockstore: store })
  const root = CID.parse(info.root)
  const t0 = performance.now()
  const got = await sync.fetch(r.provider, [root], { signal: AbortSignal.timeout(TRANSFER_TIMEOUT_MS) })
  const ms = performance.now() - t0
  return {
    ms,
    check: async () => {
      if (got.blocks !== info.blocks || got.bytes !== info.dagBytes) throw new Error(`shard fetched ${got.blocks} blocks / ${got.bytes} bytes, expected ${info.blocks} / ${info.dagBytes}`)
      const v = await verifyDag(store, root)
      if (v.size !== info.size) throw new Error(`fetched file is ${v.size} bytes, expected ${info.size}`)
      await packStore?.close()
      if (packDir != null) await rm(packDir, { recursive: true, force: true })
    }
  }
}

async function rawCase (info: ProviderInfo, r: Receiver): Promise<Timed> {
  const signal = AbortSignal.timeout(TRANSFER_TIMEOUT_MS)
  const t0 = performance.now()
  const stream = await r.helia.libp2p.dialProtocol(r.provider, RAW_PROTOCOL, { signal })
  stream.send(new Uint8Array([1]))
  await stream.close({ signal })
  let n = 0
  for await (const chunk of stream) n += chunk.byteLength
  const ms = performance.now() - t0
  return { ms, check: async () => { if (n !== info.size) throw new Error(`raw stream carried ${n} bytes, expected ${info.size}`) } }
}

async function bitswapCase (info: ProviderInfo, r: Receiver): Promise<Timed> {
  const root = CID.parse(info.root)
  const fs = unixfs(r.helia)
  const t0 = performance.now()
  let n = 0
  for await (const chunk of fs.cat(root, { signal: AbortSignal.timeout(TRANSFER_TIMEOUT_MS) })) n += chunk.byteLength
  const ms = performance.now() - t0
  return {
    ms,
    check: async () => {
      if (n !== info.size) throw new Error(`bitswap cat gave ${n} bytes, expected ${info.size}`)
      // The blocks are in the receiver's own blockstore (Helia stores what it fetches).
      const v = await verifyDag(r.blockstore, root)
      if (v.size !== info.size) throw new Error(`bitswap stored a ${v.size}-byte file, expected ${info.size}`)
    }
  }
}

export async function run (args: string[]): Promise<BenchResult> {
  const f = parseFlags(args, { mib: 'string', reps: 'string', warmup: 'string', seed: 'string', breakdown: 'boolean' })
  const mib = numberFlag(f, 'mib', 64, { min: 1 })
  const reps = numberFlag(f, 'reps', 7, { min: 5 })
  const warmup = numberFlag(f, 'warmup', 1, { min: 0 })
  const seed = typeof f.seed === 'string' ? f.seed : 'openledger-shard-sync'
  const cases: CaseName[] = ['shard', 'raw', 'bitswap']
  if (f.breakdown === true) cases.push('shardMem', 'shardPack')
  const log = (msg: string): void => { process.stderr.write(`shard-sync: ${msg}\n`) }

  log(`starting the provider process (${mib} MiB file, Kubo-style import)`)
  const provider = await startProvider({ mib, seed, readyTimeoutMs: 300_000 })
  const info = provider.info
  log(`provider ${info.peerId} ready: root ${info.root}, ${info.blocks} blocks, ${info.dagBytes} DAG bytes, import ${info.importMs} ms`)
  const runs = Object.fromEntries(cases.map(c => [c, [] as Sample[]])) as Record<CaseName, Sample[]>
  const providerPid = provider.child.pid ?? -1
  try {
    for (let round = 0; round < warmup + reps; round++) {
      const timed = round >= warmup
      for (const c of cases) {
        const r = await freshReceiver(info)
        let t: Timed
        // CPU of both processes over the transfer (the receiver is this process; its
        // figure includes thread-pool work such as file writes).
        const cpu0 = process.cpuUsage()
        const prov0 = processCpuMs(providerPid)
        const elu0 = performance.eventLoopUtilization()
        try {
          t = c === 'raw'
            ? await rawCase(info, r)
            : c === 'bitswap' ? await bitswapCase(info, r) : await shardCase(info, r, c === 'shardMem', c === 'shardPack')
        } catch (err) {
          await r.close()
          throw err
        }
        const cpu = process.cpuUsage(cpu0)
        const sample: Sample = {
          rate: info.size / MIB / (t.ms / 1000),
          receiverCpuMs: (cpu.user + cpu.system) / 1000,
          providerCpuMs: processCpuMs(providerPid) - prov0,
          elu: performance.eventLoopUtilization(elu0).utilization
        }
        try {
          await t.check()
        } finally {
          await r.close()
        }
        if (timed) runs[c].push(sample)
        log(`${timed ? `rep ${round - warmup + 1}` : 'warm-up'} ${c.padEnd(8)} ${fmt(sample.rate)} MiB/s (${t.ms.toFixed(0)} ms; cpu ms receiver ${sample.receiverCpuMs.toFixed(0)}, provider ${sample.providerCpuMs.toFixed(0)})`)
      }
    }
  } finally {
    log('stopping the provider')
    await provider.stop()
  }

  const samples = Object.fromEntries(cases.map(c => [c, runs[c].map(x => x.rate)])) as Record<CaseName, number[]>
  const medOf = (c: CaseName, k: keyof Sample): number => round(median(runs[c].map(x => x[k])))
  const med = (c: CaseName): number => median(samples[c])
  const vsRaw = med('shard') / med('raw')
  const vsBitswap = med('shard') / med('bitswap')
  const pairs = (b: CaseName): number[] => samples.shard.map((p, i) => p / samples[b][i])
  const label: Record<CaseName, string> = {
    shard: 'project: ShardSync -> blockstore-fs',
    raw: '(a) one libp2p stream, 64 KiB writes',
    bitswap: '(b) Helia bitswap, unixfs cat',
    shardMem: 'ShardSync -> in-memory store',
    shardPack: 'ShardSync -> pack blockstore (disk)'
  }
  const rows = [['case', 'median MiB/s', 'min', 'max', 'project / case', 'cpu ms recv', 'cpu ms prov', 'recv loop busy']]
  for (const c of cases) {
    rows.push([label[c], fmt(round(med(c))), fmt(round(min(samples[c]))), fmt(round(max(samples[c]))), fmt(round(med('shard') / med(c))),
      fmt(Math.round(medOf(c, 'receiverCpuMs'))), fmt(Math.round(medOf(c, 'providerCpuMs'))), fmt(round(medOf(c, 'elu'), 2))])
  }
  const cpuDetail = Object.fromEntries(cases.map(c => [c, { receiverCpuMs: medOf(c, 'receiverCpuMs'), providerCpuMs: medOf(c, 'providerCpuMs'), receiverEventLoopUtilization: medOf(c, 'elu') }]))
  return {
    figures: { mibPerSec: round(med('shard')), msPerFetch: round(info.size / MIB / med('shard') * 1000) },
    baseline: { mibPerSec: round(med('raw')), msPerFetch: round(info.size / MIB / med('raw') * 1000) },
    ratio: round(vsRaw),
    reps,
    units: { mibPerSec: 'MiB/s (file bytes)', msPerFetch: 'ms' },
    libs: ['@libp2p/tcp', '@libp2p/noise', '@libp2p/yamux', 'helia', '@helia/bitswap', '@helia/unixfs', 'blockstore-fs'],
    params: { mib, fileBytes: info.size, blocks: info.blocks, dagBytes: info.dagBytes, reps, warmup, seed, cases: cases.join(',') },
    detail: {
      bitswap: { mibPerSec: round(med('bitswap')), msPerFetch: round(info.size / MIB / med('bitswap') * 1000) },
      ...(f.breakdown === true ? { shardMemory: { mibPerSec: round(med('shardMem')) }, shardPack: { mibPerSec: round(med('shardPack')), ratioVsRawStream: round(med('shardPack') / med('raw')), ratioVsBitswap: round(med('shardPack') / med('bitswap')) } } : {}),
      ratioVsRawStream: round(vsRaw),
      ratioVsBitswap: round(vsBitswap),
      acceptance: {
        vsRawStream: { threshold: ACCEPT_VS_RAW, ratio: round(vsRaw), pass: vsRaw >= ACCEPT_VS_RAW },
        vsBitswap: { threshold: ACCEPT_VS_BITSWAP, ratio: round(vsBitswap), pass: vsBitswap >= ACCEPT_VS_BITSWAP }
      },
      medianOfPairRatios: { vsRawStream: round(median(pairs('raw'))), vsBitswap: round(median(pairs('bitswap'))) },
      perRep: Object.fromEntries(cases.map(c => [c, samples[c].map(x => round(x))])),
      cpuPerFetch: cpuDetail,
      providerImportMs: info.importMs
    },
    tables: [{ title: `all cases (MiB/s of file bytes over ${reps} reps)`, rows }],
    notes: [
      'ratio = project / (a); MiB/s = file bytes (not DAG bytes) / wall time of the fetch; the project and (b) also write every block to a fresh blockstore-fs',
      'cpu ms = median CPU (user + system) per fetch of the receiving process (this one, thread pool included) and of the provider; recv loop busy = event-loop utilisation of the receiver during the fetch',
      `acceptance vs (a) one libp2p stream: ${fmt(round(vsRaw))} >= ${ACCEPT_VS_RAW}: ${vsRaw >= ACCEPT_VS_RAW ? 'PASS' : 'FAIL'}`,
      `acceptance vs (b) Helia bitswap: ${fmt(round(vsBitswap))} >= ${ACCEPT_VS_BITSWAP}: ${vsBitswap >= ACCEPT_VS_BITSWAP ? 'PASS' : 'FAIL'}`
    ]
  }
}
