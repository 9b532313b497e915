// Counts of what arrived and how it was judged, per channel and per error name, plus
// the last few rejections: the evidence a person (or a test) reads to see that bad
// input was refused for the right reason.
import type { InboundEvent } from '../../protocols/inbound.ts'

export interface RejectionRecord {
  at: number
  channel: string
  from: string
  error: string
  message: string
}

export interface InboundReport {
  accepted: number
  rejected: number
  ignored: number
  byError: Record<string, number>
  byChannel: Record<string, { accept: number, reject: number, ignore: number }>
  recentRejections: RejectionRecord[]
}

export class InboundStats {
  private readonly report: InboundReport = { accepted: 0, rejected: 0, ignored: 0, byError: {}, byChannel: {}, recentRejections: [] }
  private readonly keepRecent: number

  constructor (keepRecent = 50) {
    this.keepRecent = keepRecent
  }

  record (event: InboundEvent): void {
    const r = this.report
    const ch = (r.byChannel[event.channel] ??= { accept: 0, reject: 0, ignore: 0 })
    ch[event.verdict]++
    if (event.verdict === 'accept') { r.accepted++; return }
    if (event.verdict === 'reject') r.rejected++
    else r.ignored++
    const name = event.error?.name ?? 'Error'
    r.byError[name] = (r.byError[name] ?? 0) + 1
    r.recentRejections.push({ at: Date.now(), channel: event.channel, from: event.from, error: name, message: event.error?.message ?? '' })
    if (r.recentRejections.length > this.keepRecent) r.recentRejections.shift()
  }

  snapshot (): InboundReport {
    return structuredClone(this.report)
  }
}
