// openledger chain deploy: put the settlement contracts on a chain (a real L2, or any
// JSON-RPC endpoint) with this participant's keystore key as deployer and treasury, and
// write the deployment file peers start with (`node start --chain FILE`).
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { readPassphrase } from '../../identity/passphrase.ts'
import { UsageError } from '../../errors.ts'
import { DATA_DIR_HELP, dataDirOf, intOption } from '../options.ts'
import { printJson } from '../output.ts'

interface DeployCliOptions { dataDir?: string, rpcUrl: string, chainId?: number, out: string, challengeWindow: number, epochLength: number, unbondingDelay: number, json?: boolean }

export function chainCommand (program: Command): void {
  const chain = program.command('chain').description('the settlement contracts on an EVM chain')

  chain.command('deploy')
    .description('deploy OPEN, gOPEN, the governor and timelock, the parameter registry, staking, escrow and the reward distributor; the key\'s address is deployer and treasury')
    .option('-d, --data-dir <dir>', DATA_DIR_HELP)
    .requiredOption('--rpc-url <url>', 'JSON-RPC endpoint of the chain')
    .option('--chain-id <id>', 'refuse unless the endpoint is this chain', intOption('--chain-id', 1, 2 ** 48))
    .requiredOption('--out <file>', 'where to write the deployment (addresses, chain id, rpc URL)')
    .option('--challenge-window <s>', 'seconds a reward root can be challenged before it is final', intOption('--challenge-window', 60, 365 * 86_400), 86_400)
    .option('--epoch-length <s>', 'seconds per reward epoch', intOption('--epoch-length', 60, 365 * 86_400), 86_400)
    .option('--unbonding-delay <s>', 'seconds between unbond and withdraw', intOption('--unbonding-delay', 60, 365 * 86_400), 7 * 86_400)
    .option('--json', 'print one JSON object')
    .action(async (opts: DeployCliOptions) => {
      const { loadKeystore } = await import('../../identity/keystore.ts')
      const { deploy } = await import('../../../settlement/chain/deploy.ts')
      const { connectProvider } = await import('../../../settlement/chain/client.ts')
      const { writeJsonAtomic } = await import('../../../storage/atomic-file.ts')
      const id = await loadKeystore(dataDirOf(opts), await readPassphrase())
      const provider = connectProvider(opts.rpcUrl)
      const chainId = Number((await provider.getNetwork()).chainId)
      provider.destroy()
      if (opts.chainId !== undefined && opts.chainId !== chainId) throw new UsageError(`the endpoint is chain ${chainId}, not ${opts.chainId}`)
      const d = await deploy({
        rpcUrl: opts.rpcUrl,
        deployerKey: '0x' + Buffer.from(id.libp2pKey.raw).toString('hex'),
        params: { challengeWindow: opts.challengeWindow, epochLength: opts.epochLength, unbondingDelay: opts.unbondingDelay }
      })
      const out = resolve(opts.out)
      await writeJsonAtomic(out, { rpcUrl: opts.rpcUrl, addresses: d.addresses })
      if (opts.json === true) printJson({ file: out, ...d.addresses, ms: Math.round(d.ms) })
      else console.log(`deployed on chain ${chainId} in ${(d.ms / 1000).toFixed(1)} s\n${Object.entries(d.addresses).map(([k, v]) => `${k.padEnd(12)} ${String(v)}`).join('\n')}\nwritten to ${out}: start peers with --chain ${out}`)
    })
}
