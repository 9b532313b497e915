// openledger status: ask a running peer's status API.
import type { Command } from 'commander'
import { UsageError } from '../../errors.ts'
import type { StatusReport } from '../../api/status-report.ts'
import { apiGet, endpointOf } from '../api-client.ts'
import { DATA_DIR_HELP, dataDirOf } from '../options.ts'
import { formatBytes, printJson, table } from '../output.ts'

export async function fetchStatus (url: string): Promise<StatusReport> {
  return await apiGet<StatusReport>({ url }, '/status', 5_000)
}

export function formatStatus (s: StatusReport): string {
  const lines = [
    `peer     ${s.peerId}`,
    `dashboard ${s.dashboardUrl}   (open in a browser on this machine)`,
    `address  ${s.address}`,
    `network  ${s.network}   agent ${s.agent}   uptime ${Math.round(s.uptimeMs / 1000)} s`,
    ...s.addrs.map(a => `listen   ${a}`),
    `connections ${s.connections.length}   gossip peers ${s.gossipPeers}   adverts seen ${s.advertsSeen}`,
    `inbound  accepted ${s.inbound.accepted}  rejected ${s.inbound.rejected}  ignored ${s.inbound.ignored}` +
      (Object.keys(s.inbound.byError).length > 0 ? `  (${Object.entries(s.inbound.byError).map(([k, v]) => `${k} ${v}`).join(', ')})` : ''),
    `datanets ${s.datanets.followed} followed` + (s.datanets.pending > 0 ? ` (${s.datanets.pending} pending)` : '') + `   ${s.datanets.pinnedShards} shards pinned` +
      (s.datanets.ignoredHeads > 0 ? `   ${s.datanets.ignoredHeads} announcements of datanets not followed ignored` : '') +
      (s.datanets.penalised.length > 0 ? `   ${s.datanets.penalised.length} peers penalised` : '')
  ]
  const others = s.adverts.filter(a => a.peerId !== s.peerId)
  if (others.length > 0) {
    lines.push('', table([
      ['peer', 'address', 'cores', 'GFLOP/s', 'free mem', 'free disk', 'slots', 'age'],
      ...others.map(a => [
        '…' + a.peerId.slice(-8), a.address.slice(0, 10) + '…', String(a.advert.cpu.cores),
        a.advert.ort.matmulGflops.toFixed(0), formatBytes(a.advert.memory.freeBytes), formatBytes(a.advert.disk.freeBytes),
        `${a.advert.slots.free}/${a.advert.slots.total}`, `${Math.round((Date.now() - a.ts) / 1000)} s`
      ])
    ]))
  }
  return lines.join('\n')
}

export function statusCommand (program: Command): void {
  program.command('status')
    .description('show what a running peer sees: connections, adverts, rejected input')
    .option('-d, --data-dir <dir>', DATA_DIR_HELP)
    .option('--url <url>', 'status API URL (instead of reading <data-dir>/run.json)')
    .option('--json', 'print the full status as one JSON object')
    .action(async (opts: { dataDir?: string, url?: string, json?: boolean }) => {
      if (opts.url != null && !/^https?:\/\//.test(opts.url)) throw new UsageError(`--url must be an http URL, got "${opts.url}"`)
      const url = opts.url ?? (await endpointOf(dataDirOf(opts))).url
      const status = await fetchStatus(url)
      if (opts.json === true) printJson(status)
      else console.log(formatStatus(status))
    })
}
