// A realistic capacity-advert body, as a peer on this machine would send it: this
// machine's cores, CPU model and flags, memory; a datanet-sized disk; two listen
// addresses with the signer's own /p2p/ suffix; a typical measured MatMul rate.
// Checked against capacityAdvertSchema before use, so the bench never measures a reject.
import os from 'node:os'
import { capacityAdvertSchema, type CapacityAdvert } from '../../protocols/messages/capacity-advert.ts'
import { AGENT } from '../../peer/version.ts'
import { libVersion, machineInfo } from '../lib/machine.ts'

export function capacityAdvertFixture (peerId: string, now = Date.now()): CapacityAdvert {
  const m = machineInfo([])
  const cores = m.cores
  const body: CapacityAdvert = {
    seq: now,
    ttlMs: 30_000,
    agent: AGENT,
    addrs: [`/ip4/127.0.0.1/tcp/41527/p2p/${peerId}`, `/ip4/10.0.4.17/tcp/41527/p2p/${peerId}`],
    slots: { total: cores, free: cores },
    cpu: { cores, model: m.cpuModel.slice(0, 128), flags: { ...m.cpuFlags, neon: false } },
    memory: { totalBytes: os.totalmem(), freeBytes: os.freemem() },
    disk: { totalBytes: 536_870_912_000, freeBytes: 214_748_364_800 },
    ort: {
      version: libVersion('onnxruntime-node') ?? '1.22.0',
      providers: ['cpu', 'webgpu'],
      matmulGflops: 141.7,
      matmulSize: 256,
      threads: cores
    },
    gpus: [],
    measuredAt: now - 5_000
  }
  return capacityAdvertSchema.parse(body)
}
