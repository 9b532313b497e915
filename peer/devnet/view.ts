// What the devnet shows while it runs: every peer, whom it is connected to, whose
// adverts it holds, the capacity each advertises, and where each one's dashboard is.
import type { StatusReport } from '../api/status-report.ts'
import { formatBytes, table } from '../cli/output.ts'
import type { DevnetPeer } from './devnet.ts'

type PeerStatus = StatusReport | { error: string }

function isUp (s: PeerStatus): s is StatusReport { return !('error' in s) }

function percentile (values: number[], p: number): number | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}

export function renderDevnet (peers: DevnetPeer[], statuses: PeerStatus[], header: string): string {
  const rows: string[][] = [['#', 'peer id', 'address', 'pid', 'state', 'conns', 'adverts', 'GFLOP/s', 'cores', 'free mem', 'gossip p50', 'datanets', 'shards']]
  peers.forEach((p, i) => {
    const s = statuses[i]
    if (!isUp(s)) { rows.push([String(i), '…' + p.peerId.slice(-8), p.address.slice(0, 10) + '…', String(p.child?.pid ?? '-'), s.error]); return }
    const self = s.advert
    const p50 = percentile(s.latencySamples.slice(-200), 0.5)
    rows.push([
      String(i), '…' + p.peerId.slice(-8), p.address.slice(0, 10) + '…', String(s.pid), 'up ' + Math.round(s.uptimeMs / 1000) + 's',
      String(new Set(s.connections.map(c => c.peerId)).size), `${s.advertsSeen}/${peers.length - 1}`,
      self != null ? self.ort.matmulGflops.toFixed(0) : '-', self != null ? String(self.cpu.cores) : '-',
      self != null ? formatBytes(self.memory.freeBytes) : '-', p50 != null ? `${p50} ms` : '-',
      String(s.datanets.followed), String(s.datanets.pinnedShards)
    ])
  })
  // Who sees whom: C = connected and advert held, a = advert held (via gossip relay), c = connected only.
  const matrix: string[][] = [['sees →', ...peers.map(p => String(p.index))]]
  peers.forEach((p, i) => {
    const s = statuses[i]
    const row = [String(i)]
    for (const q of peers) {
      if (q.index === i) { row.push('·'); continue }
      if (!isUp(s)) { row.push('?'); continue }
      const conn = s.connections.some(c => c.peerId === q.peerId)
      const advert = s.adverts.some(a => a.peerId === q.peerId)
      row.push(conn && advert ? 'C' : advert ? 'a' : conn ? 'c' : '-')
    }
    matrix.push(row)
  })
  const rejected = statuses.filter(isUp).reduce((n, s) => n + s.inbound.rejected, 0)
  // Every peer serves its own; a big devnet lists the first few.
  const dashboards = peers.slice(0, 8).map(p => `  peer ${p.index}: ${p.statusUrl != null ? p.statusUrl + '/' : '(starting)'}`)
  if (peers.length > 8) dashboards.push(`  … and ${peers.length - 8} more (each at its status URL + /)`)
  return [header, '', 'dashboards (open in a browser on this machine):', ...dashboards, '', table(rows), '', 'who sees whom (C connected + advert, a advert via gossip, c connected only):',
    table(matrix), '', `inbound messages rejected across the devnet: ${rejected}`].join('\n')
}
