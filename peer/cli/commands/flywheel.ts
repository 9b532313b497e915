// openledger flywheel: the whole flywheel on a devnet (peer/devnet/flywheel.ts), stage by
// stage with timings on stderr, then the final report (or --json). `npm start` runs it.
// The flywheel code loads inside the action, so --help answers at once.
import { rm } from 'node:fs/promises'
import type { Command } from 'commander'
import type { Flywheel } from '../../devnet/flywheel.ts'
import { intOption } from '../options.ts'
import { printJson } from '../output.ts'

interface FlywheelCliOptions { peers: number, dir: string, fresh?: boolean, json?: boolean, keepRunning?: boolean, warp: boolean, webgpuPeers: number }

export function flywheelCommand (program: Command): void {
  program.command('flywheel')
    .description('run the whole flywheel on a devnet: datanets, a training job escrowed, trained, verified and released, attribution, explained answers, paid inference, an epoch settled on chain and everyone\'s claims; ends with a report of who contributed, what it measured and who was paid')
    .option('-n, --peers <n>', 'number of peers (at least 4)', intOption('--peers', 4, 16), 5)
    .option('--dir <dir>', 'devnet folder: keys, stores and the chain persist there', '.flywheel')
    .option('--fresh', 'delete the devnet folder first (new keys, a new chain)')
    .option('--keep-running', 'leave the network up after the report, until Ctrl-C')
    .option('--no-warp', 'wait out each root\'s challenge window (60 s) instead of moving the devnet chain\'s clock')
    .option('--webgpu-peers <n>', 'run the last N peers on WebGPU (node start --device webgpu): they train and verify the training jobs beside the CPU peers; needs --peers N+4 or more', intOption('--webgpu-peers', 0, 12), 0)
    .option('--json', 'the report as one JSON object on stdout (progress stays on stderr)')
    .action(async (opts: FlywheelCliOptions) => {
      if (opts.fresh === true) await rm(opts.dir, { recursive: true, force: true })
      const log = (m: string): void => { process.stderr.write(m + '\n') }
      const { Flywheel } = await import('../../devnet/flywheel.ts')
      const { formatReport } = await import('../../devnet/flywheel-report.ts')
      const flywheel: Flywheel = new Flywheel({ dir: opts.dir, peers: opts.peers, warp: opts.warp, webgpuPeers: opts.webgpuPeers, log })

      let done = false
      let stopping: Promise<void> | undefined
      const stop = async (): Promise<void> => { stopping ??= flywheel.stop(); await stopping }
      const onSignal = (): void => {
        if (stopping != null) process.exit(1)
        log('\nstopping the network…')
        // Interrupted before the report: 130, as a shell reports a Ctrl-C; after it, a normal end.
        stop().then(() => { log('all peers and the chain stopped'); process.exit(done ? 0 : 130) }, () => process.exit(1))
      }
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)

      log(`openledger flywheel: ${opts.peers} peers and a local chain in ${opts.dir}${opts.keepRunning === true ? ' (kept running afterwards)' : ''}`)
      try {
        const report = await flywheel.run().catch((err: Error & { details?: unknown }) => {
          if (opts.json === true) printJson({ ok: false, error: { name: err.name, message: err.message, details: err.details }, stages: flywheel.stagesSoFar })
          throw err
        })
        done = true
        if (opts.json === true) printJson(report)
        else console.log('\n' + formatReport(report))
        if (!report.ok) process.exitCode = 1
        if (opts.keepRunning === true) {
          log(`\nthe network stays up: peers' data in ${opts.dir}/peer-N (e.g. npx openledger status -d ${opts.dir}/peer-0), chain at ${report.chain.rpcUrl}. Ctrl-C stops it.`)
          await new Promise<never>(() => { setInterval(() => {}, 1 << 30) })
        }
      } finally {
        await stop()
      }
    })
}
