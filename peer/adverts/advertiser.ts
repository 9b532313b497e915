// Builds this peer's capacity advert from measured facts. The MatMul benchmark runs
// once at start (it costs a second of CPU); free memory and disk are re-read for
// every advert because they change.
import { statfs } from 'node:fs/promises'
import os from 'node:os'
import type { CapacityFacts } from '../../compute/capacity/index.ts'
import type { CapacityAdvert } from '../../protocols/messages/capacity-advert.ts'

export interface AdvertiserOptions {
  facts: CapacityFacts
  dataDir: string
  agent: string
  slots: number
  ttlMs: number
  addrs: () => string[]
}

export class Advertiser {
  private readonly opts: AdvertiserOptions
  private seq = 0

  constructor (opts: AdvertiserOptions) {
    this.opts = opts
  }

  /** A fresh advert body. seq starts from the clock, so it keeps rising across restarts. */
  async next (): Promise<CapacityAdvert> {
    this.seq = Math.max(this.seq + 1, Date.now())
    return await this.body(this.seq)
  }

  /** The current advert again (same seq), e.g. to answer a hello. */
  async current (): Promise<CapacityAdvert> {
    if (this.seq === 0) return await this.next()
    return await this.body(this.seq)
  }

  private async body (seq: number): Promise<CapacityAdvert> {
    const { facts } = this.opts
    let disk = facts.disk
    try {
      const s = await statfs(this.opts.dataDir)
      disk = { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize }
    } catch {}
    return {
      seq,
      ttlMs: this.opts.ttlMs,
      agent: this.opts.agent,
      addrs: this.opts.addrs().slice(0, 16),
      // No jobs run yet in this version: every slot is free.
      slots: { total: this.opts.slots, free: this.opts.slots },
      cpu: { cores: facts.cpu.cores, model: facts.cpu.model.slice(0, 128), flags: { ...(facts.cpu.flags ?? {}) } },
      memory: { totalBytes: os.totalmem(), freeBytes: os.freemem() },
      disk,
      ort: facts.ort,
      gpus: facts.gpus,
      ...(facts.devices !== undefined ? { devices: facts.devices } : {}),
      measuredAt: facts.measuredAt
    }
  }
}
