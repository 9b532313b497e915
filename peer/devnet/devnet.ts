// A local devnet: N real `openledger node start` processes on loopback, each with its
// own data folder and key, all bootstrapping from peer 0. Used by `openledger devnet`,
// by tests and by benchmarks. Children are tied to this process by their stdin: if
// the devnet dies, even by SIGKILL, their stdin closes and they stop themselves. The
// keystore passphrase goes down that same stdin as its first line, never through the
// environment, which every grandchild would inherit.
import { spawn, type ChildProcess } from 'node:child_process'
import { access, mkdir, open } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createKeystore, keystorePath, loadKeystore } from '../identity/keystore.ts'
import { PASSPHRASE_ENV, takeEnvPassphrase } from '../identity/passphrase.ts'
import type { Cheat } from '../market/adversaries/cheat-modes.ts'
import type { Device } from '../../compute/onnx/device-names.ts'
import type { StatusReport } from '../api/status-report.ts'
import { fetchStatus } from '../cli/commands/status.ts'
import { startDevnetChain, type DevnetChain } from './devnet-chain.ts'

export const CLI_PATH = fileURLToPath(new URL('../cli/openledger.ts', import.meta.url))
/** Devnet keys are throwaway: a cheap KDF keeps start-up fast. Never use for real keys. */
const DEVNET_KDF_COST = 12
const DEVNET_PASSPHRASE = 'openledger-devnet'
/** A peer that has not printed its ready line by then is declared failed. */
const READY_TIMEOUT_MS = 120_000

export interface DevnetOptions {
  dir: string
  peers: number
  network?: string
  advertIntervalMs?: number
  benchSize?: number
  /** Start anvil, deploy the contracts and settle on them; peer 0 aggregates rewards. */
  chain?: boolean
  /** How often peer 0 seals a reward epoch (ms). */
  epochIntervalMs?: number
  /** Peers, counted from the last, that work as lazy cheating workers (demonstrations, tests). */
  cheaters?: number
  /** Adversaries (peer/market/adversaries/cheats.ts) for the peers before those: the last entry is the last such peer. */
  cheats?: Cheat[]
  /** Every peer's forced-error rate instead of the policy's (tests of lazy verifiers); undefined: the policy's. */
  forcedErrorRate?: number
  /** The device (node start --device) of each peer named here; the others run on the CPU. */
  devices?: Readonly<Record<number, Device>>
  /** Extra environment for one peer's process at each (re)start (bench soak: OPENLEDGER_CHAOS). */
  peerEnv?: (peer: DevnetPeer) => Record<string, string>
  log?: (msg: string) => void
}

export interface DevnetPeer {
  index: number
  dataDir: string
  peerId: string
  address: string
  statusUrl?: string
  addrs: string[]
  child?: ChildProcess
  exitCode?: number | null
  restarts: number
}

export class Devnet {
  readonly opts: Required<Omit<DevnetOptions, 'log' | 'forcedErrorRate' | 'peerEnv'>> & Pick<DevnetOptions, 'log' | 'forcedErrorRate' | 'peerEnv'>
  readonly peers: DevnetPeer[] = []
  private readonly passphrase: string
  private stopping = false
  chain?: DevnetChain

  constructor (opts: DevnetOptions) {
    this.opts = { network: 'devnet', advertIntervalMs: 2_000, benchSize: 256, chain: false, epochIntervalMs: 5_000, cheaters: 0, cheats: [], devices: {}, ...opts, dir: resolve(opts.dir) }
    this.passphrase = takeEnvPassphrase() ?? DEVNET_PASSPHRASE
  }

  /** Create (or reuse) keys and start every peer; resolves when all report ready. */
  async start (): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true })
    for (let i = 0; i < this.opts.peers; i++) {
      const dataDir = join(this.opts.dir, `peer-${i}`)
      const id = await keyFor(dataDir, this.passphrase)
      this.peers.push({ index: i, dataDir, peerId: id.peerId, address: id.address, addrs: [], restarts: 0 })
    }
    if (this.opts.chain) this.chain = await startDevnetChain(this.opts.dir, this.peers.map(p => p.address), { log: this.opts.log, aggregatorQuorum: this.peers.length >= 2 ? 2 : 1 })
    // Peer 0 first: everyone else bootstraps from it.
    await this.startPeer(this.peers[0])
    await Promise.all(this.peers.slice(1).map(async p => await this.startPeer(p)))
  }

  private bootstrapList (peer: DevnetPeer): string[] {
    return peer.index === 0 ? [] : this.peers[0].addrs
  }

  /**
   * Start (or restart) one peer's process and wait for its ready line. `bootstrap`
   * overrides the usual list (peer 0), e.g. [] to make a restarted peer rely on its
   * persisted peer store.
   */
  /** The adversary peer `index` plays, if any: the lazy cheaters last, the listed cheats before them. */
  cheatOf (index: number): Cheat | undefined {
    const roles: Cheat[] = [...this.opts.cheats, ...new Array<Cheat>(this.opts.cheaters).fill('lazy')]
    const at = index - (this.peers.length - roles.length)
    return at >= 0 && index > 0 ? roles[at] : undefined
  }

  async startPeer (peer: DevnetPeer, opts: { bootstrap?: string[] } = {}): Promise<void> {
    const args = [CLI_PATH, 'node', 'start', '--data-dir', peer.dataDir, '--json', '--passphrase-stdin', '--stop-with-stdin', '--no-mdns',
      '--network', this.opts.network, '--advert-interval', String(this.opts.advertIntervalMs),
      '--bench-size', String(this.opts.benchSize), '--bench-lock', join(this.opts.dir, 'bench.lock')]
    for (const b of opts.bootstrap ?? this.bootstrapList(peer)) args.push('--bootstrap', b)
    const device = this.opts.devices[peer.index]
    if (device !== undefined) args.push('--device', device)
    if (this.chain != null) {
      args.push('--chain', this.chain.file)
      // Peer 0 proposes reward roots; peer 1 audits and co-signs them (aggregator quorum 2) and watches.
      if (peer.index === 0) args.push('--aggregator', '--epoch-interval', String(this.opts.epochIntervalMs))
      if (peer.index === 1) args.push('--cosign', '--epoch-interval', String(this.opts.epochIntervalMs))
      const cheat = this.cheatOf(peer.index)
      if (cheat !== undefined) args.push('--cheat', cheat)
      if (this.opts.forcedErrorRate !== undefined) args.push('--forced-error-rate', String(this.opts.forcedErrorRate))
    }
    const logFile = await open(join(peer.dataDir, 'node.log'), 'a')
    const env: Record<string, string | undefined> = { ...process.env, ...this.opts.peerEnv?.(peer) }
    delete env[PASSPHRASE_ENV]
    const child = spawn(process.execPath, args, {
      // Own process group: a Ctrl-C at the terminal reaches only the devnet, which then
      // stops each peer once, in order. stdin still ties each peer's life to ours.
      detached: true,
      stdio: ['pipe', 'pipe', logFile.fd],
      env
    })
    await logFile.close()
    // A peer that died before reading it makes the pipe fail: its exit is reported below.
    child.stdin!.on('error', () => {})
    child.stdin!.write(this.passphrase + '\n')
    peer.child = child
    peer.exitCode = undefined
    child.once('exit', (code, signal) => {
      peer.exitCode = code ?? (signal != null ? -1 : null)
      if (!this.stopping) this.opts.log?.(`peer ${peer.index} exited (${signal ?? code})`)
    })
    const ready = await new Promise<{ statusUrl: string, addrs: string[], peerId: string }>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! })
      const fail = (why: string): void => {
        clearTimeout(timer)
        child.off('exit', onExit)
        reject(new Error(`peer ${peer.index} ${why}; see ${join(peer.dataDir, 'node.log')}`))
      }
      const onExit = (): void => fail('exited before it was ready')
      const timer = setTimeout(() => { child.kill('SIGKILL'); fail(`was not ready after ${READY_TIMEOUT_MS / 1000} s`) }, READY_TIMEOUT_MS)
      child.once('exit', onExit)
      lines.on('line', (line) => {
        try {
          const msg = JSON.parse(line)
          if (msg.event === 'ready') { clearTimeout(timer); child.off('exit', onExit); resolve(msg) }
        } catch {}
      })
    })
    if (ready.peerId !== peer.peerId) throw new Error(`peer ${peer.index} came up as ${ready.peerId}, expected ${peer.peerId}`)
    peer.statusUrl = ready.statusUrl
    peer.addrs = ready.addrs
  }

  /** Kill a peer's process the hard way (SIGKILL), as a crash would. */
  async kill (peer: DevnetPeer): Promise<void> {
    const child = peer.child
    if (child == null || child.exitCode != null || child.signalCode != null) return
    await new Promise<void>(resolve => { child.once('exit', () => resolve()); child.kill('SIGKILL') })
  }

  async statuses (): Promise<Array<StatusReport | { error: string }>> {
    return await Promise.all(this.peers.map(async p => {
      if (p.statusUrl == null || p.exitCode !== undefined) return { error: p.exitCode !== undefined ? `exited (${p.exitCode})` : 'starting' }
      try { return await fetchStatus(p.statusUrl) } catch (err) { return { error: (err as Error).message } }
    }))
  }

  /** SIGTERM every peer, wait for clean exits, SIGKILL whatever hangs. */
  async stop (graceMs = 10_000): Promise<void> {
    this.stopping = true
    await Promise.all(this.peers.map(async p => {
      const child = p.child
      if (child == null || child.exitCode != null || child.signalCode != null) return
      const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
    }))
    await this.chain?.stop()
  }
}

async function keyFor (dataDir: string, passphrase: string): Promise<{ peerId: string, address: string }> {
  const exists = await access(keystorePath(dataDir)).then(() => true, () => false)
  return exists
    ? await loadKeystore(dataDir, passphrase)
    : await createKeystore(dataDir, passphrase, { kdfCost: DEVNET_KDF_COST })
}
