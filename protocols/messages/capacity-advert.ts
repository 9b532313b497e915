// capacity-advert/1: what a peer can do right now, measured on the peer itself.
// Published on the capacity topic at an interval; receivers drop it after ttlMs.
import { z } from 'zod'
import { deviceName, gflops } from './device.ts'
import { defineMessage } from '../registry.ts'

const bytes = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)
const shortText = (max: number) => z.string().max(max)

export const capacityAdvertSchema = z.object({
  /** Increases with every advert a peer sends; older ones are ignored. */
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  /** How long the advert stays valid after its envelope timestamp. */
  ttlMs: z.number().int().min(1_000).max(600_000),
  /** Software and version, e.g. 'openledger/0.1.0'. */
  agent: shortText(64),
  /** Multiaddrs the peer listens on (with /p2p/ suffix). */
  addrs: z.array(shortText(256)).max(16),
  slots: z.object({ total: z.number().int().min(0).max(4096), free: z.number().int().min(0).max(4096) }),
  cpu: z.object({
    cores: z.number().int().min(1).max(65_536),
    model: shortText(128),
    flags: z.record(shortText(16), z.boolean()).refine(r => Object.keys(r).length <= 16, 'too many flags')
  }),
  memory: z.object({ totalBytes: bytes, freeBytes: bytes }),
  disk: z.object({ totalBytes: bytes, freeBytes: bytes }),
  ort: z.object({
    version: shortText(32),
    providers: z.array(shortText(32)).max(16),
    matmulGflops: z.number().nonnegative().max(1e9),
    matmulSize: z.number().int().min(1).max(65_536),
    threads: z.number().int().min(1).max(65_536)
  }),
  gpus: z.array(z.object({ name: shortText(128), memoryMiB: z.number().int().nonnegative().max(1e9) })).max(64),
  /**
   * The devices the peer measured at start-up (the MatMul chain on each provider) and the
   * one its jobs run on. Optional: peers from before devices send none.
   */
  devices: z.array(z.object({
    device: deviceName,
    gflops,
    inUse: z.boolean()
  })).max(3).refine(d => d.filter(x => x.inUse).length <= 1, 'at most one device in use').optional(),
  /** When the hardware facts were measured (ms since epoch). */
  measuredAt: z.number().int().nonnegative()
})

export type CapacityAdvert = z.infer<typeof capacityAdvertSchema>

export const CapacityAdvertMessage = defineMessage({
  type: 'capacity-advert/1',
  maxBodyBytes: 8 * 1024,
  schema: capacityAdvertSchema
})
