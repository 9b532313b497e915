// A devnet for one mocha `describe`: real peer processes (and with `useMarketDevnet`
// an anvil chain with the contracts), started in a before() hook and stopped, its
// folder removed, in an after() hook. Optionally prepared in the same before(): peer 0
// imports a corpus as a datanet, the listed peers follow it (`datanet follow`) and add model files, and
// peers stake. The handle drives the peers through the CLI as a user would.
//
//   describe('...', function () {
//     this.timeout(400_000)
//     const net = useMarketDevnet({
//       name: 'market', peers: 4, cheaters: 1,
//       import: { corpus: 'spam-assassin', limit: 600, followers: [2, 3] },
//       models: [{ file: SPAM_BASE, peers: [2, 3] }],
//       stakes: [[2, 'worker', 100], [3, 'verifier', 200]]
//     })
//     it('...', async () => { await net.cli(1, ['job', 'submit', ...]) })
//   })
//
// Hooks run in the order they are declared: declare a hook that must run before the
// devnet starts (or after it stops) above this call. KEEP=1 keeps the folder.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { JsonRpcProvider } from 'ethers'
import { Devnet, type DevnetOptions, type DevnetPeer } from '../../peer/devnet/devnet.ts'
import type { DevnetChain } from '../../peer/devnet/devnet-chain.ts'
import { connectProvider } from '../../settlement/chain/client.ts'
import { apiGet, endpointOf } from '../../peer/cli/api-client.ts'
import { devnetCli } from './cli.ts'
import { waitFor } from './wait.ts'

/** `openledger ARGS --json -d <peer's data dir>`: the last stdout line parsed (ok, the default, requires exit 0), or the raw result. */
export type DevnetCli = ReturnType<typeof devnetCli>
export type StakeRole = 'worker' | 'verifier'

export interface DevnetFixtureOptions extends Omit<DevnetOptions, 'dir'> {
  /** Names the temporary folder: openledger-NAME-XXXXXX; the devnet is in its devnet/ subfolder. */
  name: string
  /** Kill an `openledger` command that runs longer (default 300 s). */
  cliTimeoutMs?: number
  /** Peer 0 runs `datanet import CORPUS --limit LIMIT`; then each follower runs `datanet follow` and waits until it has the datanet (and adds `models` listing it). */
  import?: { corpus: string, limit: number, followers?: number[] }
  /** `model add FILE` on each of `peers` (after they follow the imported datanet). */
  models?: Array<{ file: string, peers: number[] }>
  /** `stake add AMOUNT --role ROLE` on each peer, in this order, after the models. */
  stakes?: Array<[peer: number, role: StakeRole, amount: number]>
}

export interface DevnetFixture {
  /** The running devnet (only between the hooks). */
  readonly devnet: Devnet
  readonly peers: DevnetPeer[]
  /** Its anvil chain and contract addresses (market devnets). */
  readonly chain: DevnetChain
  /** The temporary folder: the devnet in devnet/, room for a test's own files beside it. */
  readonly dir: string
  /** What `datanet import` printed, with the `import` option. */
  readonly imported: any
  cli: DevnetCli
  /** `datanet follow ID` on `peer` (a peer follows only datanets it chose), then waits until it lists it (60 s). */
  follow: (peer: number, id: string) => Promise<void>
  /** Polls `openledger ARGS` on `peer` until `until` holds for its output, and returns that output; a timeout names the last output seen. `job status` and `rewards show` are read from the peer's API (the same JSON). */
  waitForCli: (peer: number, args: string[], what: string, until: (out: any) => boolean, timeoutMs?: number, everyMs?: number) => Promise<any>
  /**
   * What `job status JOB --json` prints, read from the peer's API directly: polls use it,
   * so waiting costs a fetch instead of a CLI process a second (npm test's budget).
   */
  jobStatus: (peer: number, job: string) => Promise<any>
  /** Polls the job's status on `peer` (jobStatus) until `until` holds (default 240 s, every 1 s). */
  waitForJob: (peer: number, job: string, what: string, until: (status: any) => boolean, timeoutMs?: number, everyMs?: number) => Promise<any>
  /** A JSON-RPC provider on the devnet's chain; the caller destroys it. */
  provider: () => JsonRpcProvider
  /** Moves the chain's clock `seconds` ahead and mines a block (challenge windows, deadlines, unbonding delays). */
  warp: (seconds: number) => Promise<void>
  /** Stops the devnet now (the after() hook then only removes the folder). */
  stop: () => Promise<void>
}

/** A devnet of `peers` processes for the enclosing describe(); see the file's head. */
export function useDevnet (opts: DevnetFixtureOptions): DevnetFixture {
  const { name, cliTimeoutMs = 300_000, import: toImport, models = [], stakes = [], ...devnetOpts } = opts
  let dir: string | undefined
  let devnet: Devnet | undefined
  let stopped = false
  let imported: any
  const running = (): Devnet => {
    if (devnet === undefined || stopped) throw new Error(`the ${name} devnet is not running (used outside its describe's tests?)`)
    return devnet
  }
  const cli = devnetCli(() => running().peers, cliTimeoutMs)

  // Polls of the read-only status commands fetch the JSON the CLI would print straight from
  // the peer's API (a fetch instead of a CLI process per try: npm test's budget).
  const apiPath = (args: string[]): string | undefined => {
    if (args[0] === 'job' && args[1] === 'status' && args.length === 3) return `/jobs/${encodeURIComponent(args[2])}`
    if (args[0] === 'rewards' && args[1] === 'show' && args.length <= 3) return args[2] !== undefined ? `/rewards/${encodeURIComponent(args[2])}` : '/rewards'
    return undefined
  }
  const read = async (peer: number, args: string[]): Promise<any> => {
    const path = apiPath(args)
    return path === undefined ? await cli(peer, args) : await apiGet(await endpointOf(running().peers[peer].dataDir), path, 30_000)
  }
  const waitForCli: DevnetFixture['waitForCli'] = async (peer, args, what, until, timeoutMs = 60_000, everyMs = 1_000) =>
    await waitFor(what, async (saw) => {
      const out = await read(peer, args)
      saw(out)
      return until(out) ? out : undefined
    }, timeoutMs, everyMs)

  const jobStatus: DevnetFixture['jobStatus'] = async (peer, job) => await read(peer, ['job', 'status', job])

  const fixture: DevnetFixture = {
    get devnet () { return running() },
    get peers () { return running().peers },
    get chain () {
      const chain = running().chain
      if (chain === undefined) throw new Error(`the ${name} devnet has no chain (useMarketDevnet starts one)`)
      return chain
    },
    get dir () {
      if (dir === undefined) throw new Error(`the ${name} devnet's folder is made in its before() hook`)
      return dir
    },
    get imported () { return imported },
    cli,
    follow: async (peer, id) => {
      const list = (await cli(peer, ['datanet', 'list'])).datanets
      if (!list.some((d: any) => d.id === id)) await cli(peer, ['datanet', 'follow', id])
      await waitFor(`peer ${peer} to follow the datanet`, async (saw) => {
        const list = (await cli(peer, ['datanet', 'list'])).datanets
        saw(list.map((d: any) => d.id))
        return list.some((d: any) => d.id === id)
      }, 60_000, 500)
    },
    waitForCli,
    jobStatus,
    waitForJob: async (peer, job, what, until, timeoutMs = 240_000, everyMs = 1_000) =>
      await waitForCli(peer, ['job', 'status', job], what, until, timeoutMs, everyMs),
    provider: () => connectProvider(fixture.chain.anvil.rpcUrl, fixture.chain.anvil.chainId),
    warp: async (seconds) => {
      const provider = fixture.provider()
      try {
        await provider.send('evm_increaseTime', [seconds])
        await provider.send('evm_mine', [])
      } finally {
        provider.destroy()
      }
    },
    stop: async () => {
      if (devnet !== undefined && !stopped) {
        stopped = true
        await devnet.stop()
      }
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), `openledger-${name}-`))
    devnet = new Devnet({ ...devnetOpts, dir: join(dir, 'devnet') })
    await devnet.start()
    if (toImport !== undefined) {
      imported = await cli(0, ['datanet', 'import', toImport.corpus, '--limit', String(toImport.limit)])
      for (const p of toImport.followers ?? []) {
        await fixture.follow(p, imported.datanet)
        for (const m of models) if (m.peers.includes(p)) await cli(p, ['model', 'add', m.file])
      }
    }
    const followed = new Set(toImport?.followers ?? [])
    for (const m of models) for (const p of m.peers) if (!followed.has(p)) await cli(p, ['model', 'add', m.file])
    for (const [p, role, amount] of stakes) await cli(p, ['stake', 'add', String(amount), '--role', role])
  })
  after(async () => {
    await fixture.stop()
    if (dir !== undefined && process.env.KEEP == null) await rm(dir, { recursive: true, force: true })
  })
  return fixture
}

/**
 * A devnet with its anvil chain, as the market tests use it: peer 0 aggregates reward
 * epochs every second; peers measure a 32x32 start-up bench. Options as useDevnet's.
 */
export function useMarketDevnet (opts: DevnetFixtureOptions): DevnetFixture {
  return useDevnet({ benchSize: 32, epochIntervalMs: 1_000, ...opts, chain: true })
}
