// openledger devnet: several peers on loopback, shown live until Ctrl-C.
// The devnet code loads inside the action, so --help answers at once.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Command } from 'commander'
import type { Devnet } from '../../devnet/devnet.ts'
import { DevnetTimeoutError, UsageError } from '../../errors.ts'
import { CHEATS, parseCheats, type Cheat } from '../../market/adversaries/cheat-modes.ts'
import type { StatusReport } from '../../api/status-report.ts'
import { intOption, networkOption } from '../options.ts'
import { printJson } from '../output.ts'

interface DevnetCliOptions {
  peers: number
  dir?: string
  fresh?: boolean
  smoke?: boolean
  json?: boolean
  timeout: number
  network: string
  advertInterval: number
  benchSize: number
  import: string[]
  chain: boolean
  epochInterval: number
  cheaters: number
  cheats: Cheat[]
}

function cheatList (v: string): Cheat[] {
  try { return parseCheats(v) } catch (err) { throw new UsageError(`--cheats: ${(err as Error).message}`) }
}

export function devnetCommand (program: Command): void {
  program.command('devnet')
    .description('run N peers on loopback and show who sees whom, until Ctrl-C')
    .option('-n, --peers <n>', 'number of peers', intOption('--peers', 2, 64), 4)
    .option('--dir <dir>', 'devnet folder, one data folder per peer (default: ./.devnet; --smoke: a temporary one)')
    .option('--fresh', 'delete the devnet folder first (new keys, empty stores)')
    .option('--smoke', 'exit 0 once every peer holds a valid advert from every other peer')
    .option('--timeout <s>', 'give up --smoke after this many seconds (exit 6)', intOption('--timeout', 5, 3600), 120)
    .option('--network <name>', 'network name', networkOption, 'devnet')
    .option('--advert-interval <ms>', 'advert interval of each peer', intOption('--advert-interval', 500, 300_000), 2_000)
    .option('--bench-size <n>', 'MatMul size of each peer\'s start-up benchmark', intOption('--bench-size', 16, 4096), 256)
    .option('--import <corpus>', 'import a corpus datanet on peer 0 once it is up: sotu or spam-assassin (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--no-chain', 'no local chain: peers do not settle (faster start)')
    .option('--cheaters <k>', 'the last K peers work as cheating workers (they train half the steps and claim all)', intOption('--cheaters', 0, 64), 0)
    .option('--cheats <list>', `adversaries for the peers before the --cheaters, comma-separated: ${CHEATS.join(', ')} (see peer/market/adversaries/cheats.ts)`, cheatList, [] as Cheat[])
    .option('--epoch-interval <ms>', 'how often peer 0 seals a reward epoch', intOption('--epoch-interval', 1_000, 3_600_000), 5_000)
    .option('--json', 'with --smoke: one JSON object at the end; otherwise one JSON line per refresh')
    .action(async (opts: DevnetCliOptions) => {
      const temporary = opts.dir == null && opts.smoke === true
      const dir = opts.dir ?? (temporary ? await mkdtemp(join(tmpdir(), 'openledger-devnet-')) : '.devnet')
      if (opts.fresh === true) await rm(dir, { recursive: true, force: true })
      const log = (m: string): void => { process.stderr.write(m + '\n') }
      const { Devnet } = await import('../../devnet/devnet.ts')
      const devnet = new Devnet({ dir, peers: opts.peers, network: opts.network, advertIntervalMs: opts.advertInterval, benchSize: opts.benchSize, chain: opts.chain, epochIntervalMs: opts.epochInterval, cheaters: opts.cheaters, cheats: opts.cheats, log })

      let stopped = false
      const stop = async (): Promise<void> => {
        if (stopped) return
        stopped = true
        await devnet.stop()
        if (temporary) await rm(dir, { recursive: true, force: true })
      }
      const onSignal = (): void => {
        if (stopped) process.exit(1)
        log('\nstopping the devnet…')
        stop().then(() => { log('all peers stopped'); process.exit(0) }, () => process.exit(1))
      }
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)

      try {
        log(`starting ${opts.peers} peers in ${dir} …`)
        await devnet.start()
        log(`dashboard: ${devnet.peers[0].statusUrl}/  (peer 0; every peer serves its own at its status URL)`)
        for (const corpus of opts.import) await importOnFirstPeer(devnet, corpus, log)
        if (opts.smoke === true) await smoke(devnet, opts)
        else await watch(devnet, opts, dir)
      } finally {
        await stop()
      }
    })
}

/** Import a corpus datanet on peer 0, and have every other peer follow it; one already there (a restarted devnet) is kept. */
async function importOnFirstPeer (devnet: Devnet, corpus: string, log: (m: string) => void): Promise<void> {
  const { apiGet, apiPost, endpointOf, ApiError } = await import('../api-client.ts')
  log(`importing ${corpus} on peer 0 …`)
  let id: string
  try {
    const r = await apiPost<any>(await endpointOf(devnet.peers[0].dataDir), '/datanets/import', { corpus })
    id = r.datanet
    log(`datanet ${corpus}: ${r.contributors.length} contributors, ${r.contributors.reduce((s: number, c: any) => s + c.files, 0)} files, id ${id}`)
  } catch (err) {
    if (!(err instanceof ApiError) || err.remoteName !== 'AlreadyImportedError') throw err
    log(`datanet ${corpus} is already there`)
    id = (await apiGet<any>(await endpointOf(devnet.peers[0].dataDir), `/datanets/${encodeURIComponent(corpus)}`)).id
  }
  // A peer follows only datanets it chose: on the devnet, every peer is told to follow this one.
  for (const p of devnet.peers.slice(1)) await apiPost<any>(await endpointOf(p.dataDir), '/datanets/follow', { target: id })
  log(`datanet ${corpus} followed by every peer`)
}

/** Wait until every peer holds adverts from all the others; print the result. */
async function smoke (devnet: Devnet, opts: DevnetCliOptions): Promise<void> {
  const deadline = Date.now() + opts.timeout * 1000
  const want = devnet.peers.length - 1
  let last: Array<StatusReport | { error: string }> = []
  while (Date.now() < deadline) {
    last = await devnet.statuses()
    const done = last.every((s, i) => !('error' in s) &&
      devnet.peers.every(q => q.index === i || s.adverts.some(a => a.peerId === q.peerId)))
    if (done) {
      const peers = (last as StatusReport[]).map(s => ({ peerId: s.peerId, address: s.address, advertsSeen: s.advertsSeen }))
      if (opts.json === true) printJson({ peers })
      else console.log(peers.map(p => `${p.peerId} ${p.address} sees ${p.advertsSeen}/${want}`).join('\n') + '\nsmoke: ok')
      return
    }
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  const missing = last.map((s, i) => 'error' in s ? `peer ${i}: ${s.error}` : `peer ${i}: ${s.advertsSeen}/${want}`)
  throw new DevnetTimeoutError(`devnet smoke timed out after ${opts.timeout} s: ${missing.join(', ')}`, { missing })
}

/** Redraw the live view every second until a signal stops the devnet. */
async function watch (devnet: Devnet, opts: DevnetCliOptions, dir: string): Promise<never> {
  const tty = process.stdout.isTTY === true && opts.json !== true
  const header = `openledger devnet: ${devnet.peers.length} peers on loopback, network "${opts.network}", data in ${dir}. Ctrl-C stops it.`
  let previous = ''
  for (;;) {
    const statuses = await devnet.statuses()
    if (opts.json === true) {
      printJson({ at: Date.now(), peers: statuses.map((s, i) => 'error' in s
        ? { index: i, peerId: devnet.peers[i].peerId, pid: devnet.peers[i].child?.pid, error: s.error }
        : { index: i, peerId: s.peerId, address: s.address, pid: s.pid, dashboardUrl: s.dashboardUrl, connections: s.connections.map(c => c.peerId), advertsSeen: s.advertsSeen }) })
    } else {
      const { renderDevnet } = await import('../../devnet/view.ts')
      const view = renderDevnet(devnet.peers, statuses, header)
      // On a terminal, redraw in place; in a log, print only when something changed.
      const stable = view.replace(/up \d+s/g, '').replace(/\d+ ms/g, '')
      if (tty) process.stdout.write('\x1b[H\x1b[2J' + view + '\n')
      else if (stable !== previous) console.log(view + '\n')
      previous = stable
    }
    await new Promise(resolve => setTimeout(resolve, 1_000))
  }
}
