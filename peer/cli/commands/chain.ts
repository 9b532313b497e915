// openledger chain deploy: put the settlement contracts on a chain (a real L2, or any
// JSON-RPC endpoint) with this participant's keystore key as deployer and treasury, and
// write the deployment file peers start with (`node start --chain FILE`). The registry
// gets a profile's parameters, l2 unless --profile devnet says otherwise, and the
// command prints every parameter as the chain holds it after the deploy.
import { resolve } from 'node:path'
import { Option, type Command } from 'commander'
import { readPassphrase } from '../../identity/passphrase.ts'
import { UsageError } from '../../errors.ts'
import { DEPLOY_PROFILES, PROFILES, registryParamProblems, type DeployProfile, type GovernanceParams, type RegistryParams } from '../../../settlement/chain/profiles.ts'
import { DATA_DIR_HELP, PASSPHRASE_STDIN_HELP, dataDirOf, intOption } from '../options.ts'
import { printJson, table } from '../output.ts'

/** Anvil's and hardhat's chain id: where the devnet profile belongs. */
const LOCAL_CHAIN_ID = 31337
const PERIOD = [60, 365 * 86_400] as const

interface DeployCliOptions {
  dataDir?: string
  rpcUrl: string
  chainId?: number
  out: string
  profile: DeployProfile
  epochLength?: number
  challengeWindow?: number
  maxEscrowDuration?: number
  unbondingDelay?: number
  aggregatorQuorum?: number
  verifierQuorum?: number
  passphraseStdin?: boolean
  json?: boolean
}

export function chainCommand (program: Command): void {
  const chain = program.command('chain').description('the settlement contracts on an EVM chain')

  chain.command('deploy')
    .description('deploy OPEN, gOPEN, the governor and timelock, the parameter registry, staking, escrow and the reward distributor; the key\'s address is deployer and treasury')
    .option('-d, --data-dir <dir>', DATA_DIR_HELP)
    .requiredOption('--rpc-url <url>', 'JSON-RPC endpoint of the chain')
    .option('--chain-id <id>', 'refuse unless the endpoint is this chain', intOption('--chain-id', 1, 2 ** 48))
    .requiredOption('--out <file>', 'where to write the deployment (addresses, chain id, rpc URL)')
    .addOption(new Option('--profile <name>', 'parameter defaults: l2 (a public network: quorums of several, days-long periods) or devnet (quorums of 1, minutes; for a local test chain)').choices([...DEPLOY_PROFILES]).default('l2'))
    .option('--epoch-length <s>', 'seconds per reward epoch (default: the profile\'s)', intOption('--epoch-length', ...PERIOD))
    .option('--challenge-window <s>', 'seconds a reward root can be challenged before it is final', intOption('--challenge-window', ...PERIOD))
    .option('--max-escrow-duration <s>', 'longest a job\'s escrow may run', intOption('--max-escrow-duration', ...PERIOD))
    .option('--unbonding-delay <s>', 'seconds between unbond and withdraw; must exceed max escrow duration + challenge window', intOption('--unbonding-delay', ...PERIOD))
    .option('--aggregator-quorum <n>', 'aggregator signatures a reward root needs', intOption('--aggregator-quorum', 1, 64))
    .option('--verifier-quorum <n>', 'verifier signatures a release or slash needs', intOption('--verifier-quorum', 1, 64))
    .option('--passphrase-stdin', PASSPHRASE_STDIN_HELP)
    .option('--json', 'print one JSON object')
    .action(async (opts: DeployCliOptions) => {
      const overrides: Partial<RegistryParams> = {}
      for (const k of ['epochLength', 'challengeWindow', 'maxEscrowDuration', 'unbondingDelay', 'aggregatorQuorum', 'verifierQuorum'] as const) {
        if (opts[k] !== undefined) overrides[k] = opts[k]
      }
      // Before the passphrase and any gas: a combination the registry would refuse is a usage error.
      const problems = registryParamProblems({ ...PROFILES[opts.profile].params, ...overrides })
      if (problems.length > 0) throw new UsageError(`the registry would refuse these parameters: ${problems.join('; ')}`, { problems })
      const { loadKeystore } = await import('../../identity/keystore.ts')
      const { deploy } = await import('../../../settlement/chain/deploy.ts')
      const { connectProvider } = await import('../../../settlement/chain/client.ts')
      const { writeJsonAtomic } = await import('../../../storage/atomic-file.ts')
      const id = await loadKeystore(dataDirOf(opts), await readPassphrase({ stdin: opts.passphraseStdin }))
      const provider = connectProvider(opts.rpcUrl)
      const chainId = Number((await provider.getNetwork()).chainId)
      provider.destroy()
      if (opts.chainId !== undefined && opts.chainId !== chainId) throw new UsageError(`the endpoint is chain ${chainId}, not ${opts.chainId}`)
      if (opts.profile === 'devnet' && chainId !== LOCAL_CHAIN_ID) process.stderr.write(`warning: the devnet profile (quorums of 1, minutes-long windows) on chain ${chainId}: anyone with one staked key can post a root or release an escrow\n`)
      const d = await deploy({
        rpcUrl: opts.rpcUrl,
        profile: opts.profile,
        deployerKey: '0x' + Buffer.from(id.libp2pKey.raw).toString('hex'),
        params: overrides
      })
      const out = resolve(opts.out)
      await writeJsonAtomic(out, { rpcUrl: opts.rpcUrl, profile: d.profile, addresses: d.addresses })
      if (opts.json === true) {
        printJson({ file: out, ...d.addresses, profile: d.profile, params: jsonable(d.params), governance: jsonable(d.governance), ms: Math.round(d.ms) })
      } else {
        console.log(`deployed on chain ${chainId} in ${(d.ms / 1000).toFixed(1)} s\n${Object.entries(d.addresses).map(([k, v]) => `${k.padEnd(12)} ${String(v)}`).join('\n')}`)
        console.log(`\nparameters (profile ${d.profile}; change them only through gOPEN governance)\n${table(parameterRows(d.params, d.governance))}`)
        console.log(`\nwritten to ${out}: start peers with --chain ${out}`)
      }
    })
}

/** Bigints as decimal strings, for JSON. */
function jsonable (v: object): unknown {
  return JSON.parse(JSON.stringify(v, (_, x: unknown) => typeof x === 'bigint' ? x.toString() : x))
}

/** Wei as whole tokens, without loading ethers for every command's start-up. */
function tokens (wei: bigint): string {
  const e18 = 10n ** 18n
  const frac = (wei % e18).toString().padStart(18, '0').replace(/0+$/, '')
  return `${wei / e18}${frac === '' ? '' : '.' + frac}`
}

function parameterRows (p: RegistryParams, g: GovernanceParams): string[][] {
  const open = (wei: bigint): string => `${tokens(wei)} OPEN`
  const secs = (s: number): string => s % 86_400 === 0 ? `${s / 86_400} d` : s % 3_600 === 0 ? `${s / 3_600} h` : `${s} s`
  const roles = (r: RegistryParams['minStake']): string => `worker ${open(r.worker)}, verifier ${open(r.verifier)}, aggregator ${open(r.aggregator)}`
  const s = p.rewardSplit
  return [
    ['aggregatorQuorum', String(p.aggregatorQuorum)],
    ['verifierQuorum', String(p.verifierQuorum)],
    ['minStake', roles(p.minStake)],
    ['slashAmount', roles(p.slashAmount)],
    ['epochLength', secs(p.epochLength)],
    ['challengeWindow', secs(p.challengeWindow)],
    ['maxEscrowDuration', secs(p.maxEscrowDuration)],
    ['unbondingDelay', secs(p.unbondingDelay)],
    ['rewardSplit', `worker ${s.worker}, verifiers ${s.verifiers}, contributors ${s.contributors}, treasury ${s.treasury} bps`],
    ['auditRateBps', String(p.auditRateBps)],
    ['proverShareBps', String(p.proverShareBps)],
    ['proposalFee', open(p.proposalFee)],
    ['challengeBond', open(p.challengeBond)],
    ['votingDelay', secs(g.votingDelay)],
    ['votingPeriod', secs(g.votingPeriod)],
    ['timelockDelay', secs(g.timelockDelay)],
    ['proposalThreshold', `${tokens(g.proposalThreshold)} gOPEN`],
    ['quorum', `${g.quorumPercent}% of gOPEN`]
  ]
}
