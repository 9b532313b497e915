// openledger node start (libp2p and onnxruntime load inside the action).
import { Option, type Command } from 'commander'
import type { DeviceChoice } from '../../../compute/onnx/device-names.ts'
import { UsageError } from '../../errors.ts'
import { readPassphrase } from '../../identity/passphrase.ts'
import { CHEATS, type Cheat } from '../../market/adversaries/cheat-modes.ts'
import { DATA_DIR_HELP, PASSPHRASE_STDIN_HELP, dataDirOf, deviceOption, intOption, multiaddrOption, networkOption } from '../options.ts'
import { logLine, printJson } from '../output.ts'

interface StartOptions {
  device: DeviceChoice
  dataDir?: string
  listen?: string[]
  bootstrap?: string[]
  network: string
  mdns: boolean
  advertInterval: number
  slots?: number
  statusPort: number
  benchSize: number
  json?: boolean
  stopWithStdin?: boolean
  passphraseStdin?: boolean
  benchLock?: string
  chain?: string
  rpcUrl?: string
  chainId?: number
  aggregator?: boolean
  cosign?: boolean
  watch?: boolean
  epochInterval: number
  cheat?: Cheat
  forcedErrorRate?: number
}

function rateOption (v: string): number {
  const q = Number(v)
  if (v.trim() === '' || !(q >= 0 && q <= 1)) throw new UsageError(`--forced-error-rate must be a number in [0, 1], got "${v}"`)
  return q
}

export function nodeCommand (program: Command): void {
  const node = program.command('node').description('run a peer')

  node.command('start')
    .description('start a peer: libp2p on --listen, capacity adverts on gossip, status API on 127.0.0.1')
    .option('-d, --data-dir <dir>', DATA_DIR_HELP)
    .option('-l, --listen <multiaddr>', 'listen address, repeatable (default: the last one used, else /ip4/127.0.0.1/tcp/0)', multiaddrOption('--listen'))
    .option('-b, --bootstrap <multiaddr>', 'bootstrap peer /ip4/.../tcp/.../p2p/<id>, repeatable', multiaddrOption('--bootstrap', true))
    .option('--network <name>', 'network name: part of every topic and signature domain', networkOption, 'devnet')
    .option('--no-mdns', 'do not discover peers on the LAN by mDNS')
    .option('--advert-interval <ms>', 'capacity advert interval', intOption('--advert-interval', 500, 300_000), 10_000)
    .option('--slots <n>', 'job slots to advertise (default: CPU cores)', intOption('--slots', 0, 4096))
    .option('--status-port <port>', 'status API port on 127.0.0.1 (0: any free port)', intOption('--status-port', 0, 65_535), 0)
    .option('--bench-size <n>', 'MatMul size of the start-up capacity benchmark', intOption('--bench-size', 16, 4096), 512)
    .addOption(deviceOption('where training, serving and attribution run: cpu, webgpu (any GPU with a Vulkan driver), cuda (needs the CUDA build of onnxruntime), or auto (the fastest one measured at start-up)'))
    .option('--chain <file>', 'settle on this deployment: JSON with the contract addresses (and rpcUrl), as devnet or deploy writes it')
    .option('--rpc-url <url>', 'JSON-RPC endpoint of the L2 (overrides the chain file\'s)')
    .option('--chain-id <id>', 'refuse to start unless the deployment is on this chain', intOption('--chain-id', 1, 2 ** 48))
    .option('--aggregator', 'build and post reward epochs, and serve claim proofs (needs aggregator stake)')
    .option('--cosign', 'audit other aggregators\' proposed reward roots and co-sign the right ones (stakes the aggregator minimum); also watches')
    .option('--watch', 'audit every posted reward root and challenge a wrong one before it is final (puts up the registry\'s challenge bond)')
    .option('--epoch-interval <ms>', 'how often an aggregator seals an epoch', intOption('--epoch-interval', 1_000, 86_400_000), 15_000)
    .addOption(new Option('--cheat <mode>', 'demonstrations and tests: play an adversary (peer/market/adversaries/cheats.ts)').choices([...CHEATS]).hideHelp())
    .addOption(new Option('--forced-error-rate <q>', 'demonstrations and tests: forced-error rate instead of the policy\'s (all peers must agree)').argParser(rateOption).hideHelp())
    .option('--passphrase-stdin', `${PASSPHRASE_STDIN_HELP}; with --stop-with-stdin, stdin is then watched for its end`)
    .option('--json', 'print a JSON line when ready')
    .addOption(new Option('--stop-with-stdin', 'stop when stdin closes (used by devnet so no peer outlives it)').hideHelp())
    .addOption(new Option('--bench-lock <file>', 'take turns at the start-up benchmark with peers sharing this lock file (used by devnet)').hideHelp())
    .action(async (opts: StartOptions) => {
      const { loadKeystore } = await import('../../identity/keystore.ts')
      const { PeerNode } = await import('../../node/peer-node.ts')
      const dataDir = dataDirOf(opts)
      const identity = await loadKeystore(dataDir, await readPassphrase({ stdin: opts.passphraseStdin }))
      const { loadChainConfig } = await import('../../settlement/chain-config.ts')
      const chain = opts.chain != null ? await loadChainConfig(opts.chain, { rpcUrl: opts.rpcUrl, chainId: opts.chainId }) : undefined
      const { chooseDevice } = await import('../../node/device-choice.ts')
      const device = await chooseDevice(opts.device, { log: logLine })
      const peer = new PeerNode({
        dataDir,
        identity,
        network: opts.network,
        listen: opts.listen,
        bootstrap: opts.bootstrap ?? [],
        mdns: opts.mdns,
        advertIntervalMs: opts.advertInterval,
        slots: opts.slots,
        statusPort: opts.statusPort,
        benchSize: opts.benchSize,
        device,
        benchLock: opts.benchLock,
        chain,
        aggregator: opts.aggregator,
        cosign: opts.cosign,
        watch: opts.watch,
        epochIntervalMs: opts.epochInterval,
        cheat: opts.cheat,
        forcedErrorRate: opts.forcedErrorRate,
        log: logLine
      })

      let stoppingSince = 0
      const shutdown = (why: string): void => {
        if (stoppingSince > 0) {
          // A person pressing Ctrl-C again means "now"; anything else waits for the clean stop.
          if (why === 'SIGINT' && Date.now() - stoppingSince > 1_000) { logLine('second Ctrl-C: exiting now'); process.exit(1) }
          return
        }
        stoppingSince = Date.now()
        logLine('stopping', { why })
        const force = setTimeout(() => { logLine('stop timed out'); process.exit(1) }, 10_000)
        force.unref()
        peer.stop().then(() => { logLine('stopped'); process.exit(0) }, (err) => { logLine('stop failed', { error: String(err) }); process.exit(1) })
      }
      process.on('SIGINT', () => shutdown('SIGINT'))
      process.on('SIGTERM', () => shutdown('SIGTERM'))
      if (opts.stopWithStdin === true) {
        process.stdin.on('end', () => shutdown('stdin closed'))
        process.stdin.on('error', () => shutdown('stdin closed'))
        // The passphrase line may have been all there was: then it has ended already.
        if (process.stdin.readableEnded) shutdown('stdin closed')
        else process.stdin.resume()
      }

      await peer.start()
      const ready = { event: 'ready', peerId: identity.peerId, address: identity.address, addrs: peer.status().addrs, statusUrl: peer.statusUrl, dataDir }
      if (opts.json === true) printJson(ready)
      else {
        console.log(`peer ${ready.peerId} (${ready.address}) started`)
        for (const a of ready.addrs) console.log(`  listening ${a}`)
        console.log(`  status    ${ready.statusUrl}/status`)
        console.log(`  dashboard ${ready.statusUrl}/`)
      }
    })
}
