// Deploys the settlement contracts in dependency order and wires them: the registry
// gets the devnet parameters and is handed to the timelock; the timelock takes
// proposals only from the governor, lets anyone execute after its delay, and its
// deployer admin role is renounced, so from then on only governance changes anything.
// Writes the addresses (+ chain id, deploy block) atomically as JSON for peers and CLI.
import { ContractFactory, NonceManager, Wallet, ZeroAddress, getAddress, id, type InterfaceAbi, type Provider } from 'ethers'
import { compileContracts, type Artifact } from './compile.ts'
import { connectProvider, ROLE, type Addresses } from './client.ts'
import { DeployError } from './errors.ts'
import { writeJsonAtomic } from '../../storage/atomic-file.ts'

const E18 = 10n ** 18n

/** Registry values a deploy sets; each one goes through the registry's bounded setter. */
export interface RegistryParams {
  rewardSplit: { worker: number, verifiers: number, contributors: number, treasury: number }
  auditRateBps: number
  slashAmount: { worker: bigint, verifier: bigint, aggregator: bigint }
  proverShareBps: number
  epochLength: number
  challengeWindow: number
  unbondingDelay: number
  aggregatorQuorum: number
  verifierQuorum: number
  minStake: { worker: bigint, verifier: bigint, aggregator: bigint }
  proposalFee: bigint
}

export interface GovernanceParams {
  /** Seconds from proposing until voting starts. */
  votingDelay: number
  /** Seconds voting lasts. */
  votingPeriod: number
  /** Timelock delay in seconds between queue and execute. */
  timelockDelay: number
  /** gOPEN votes needed to propose (wei). */
  proposalThreshold: bigint
  /** Percent of the gOPEN supply that must vote for quorum. */
  quorumPercent: number
}

/** Short periods so a devnet (or a test warping anvil's clock) gets through an epoch quickly. */
export const DEVNET_PARAMS: RegistryParams = {
  rewardSplit: { worker: 5000, verifiers: 2000, contributors: 2500, treasury: 500 },
  auditRateBps: 1000,
  slashAmount: { worker: 50n * E18, verifier: 100n * E18, aggregator: 200n * E18 },
  proverShareBps: 5000,
  epochLength: 600,
  challengeWindow: 300,
  unbondingDelay: 600,
  aggregatorQuorum: 1,
  verifierQuorum: 1,
  minStake: { worker: 100n * E18, verifier: 200n * E18, aggregator: 500n * E18 },
  proposalFee: 10n * E18
}

export const DEVNET_GOVERNANCE: GovernanceParams = {
  votingDelay: 60,
  votingPeriod: 600,
  timelockDelay: 300,
  proposalThreshold: 0n,
  quorumPercent: 4
}

export const INITIAL_SUPPLY = 1_000_000_000n * E18

export interface DeployOptions {
  rpcUrl: string
  /** Pays for the deploy and holds the supply until funding is done. */
  deployerKey: string
  /** Receives what is left of the supply, slash proceeds and proposal fees (default: the deployer). */
  treasury?: string
  /** OPEN sent to each of these accounts. */
  fund?: { accounts: readonly string[], amount: bigint }
  supply?: bigint
  params?: Partial<RegistryParams>
  governance?: Partial<GovernanceParams>
  /** Where to write the addresses JSON (atomically); none when omitted. */
  outPath?: string
}

export interface Deployment {
  addresses: Addresses
  provider: Provider
  /** Deploy time in milliseconds, compile cache read included. */
  ms: number
}

async function step<T> (name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw new DeployError(`deploy step failed: ${name}`, { step: name, cause: (err as Error).message })
  }
}

export async function deploy (opts: DeployOptions): Promise<Deployment> {
  const started = performance.now()
  const { contracts } = await compileContracts()
  const provider = connectProvider(opts.rpcUrl)
  const chainId = Number((await provider.getNetwork()).chainId)
  const deployer = new NonceManager(new Wallet(opts.deployerKey, provider))
  const deployerAddress = await deployer.getAddress()
  const treasury = getAddress(opts.treasury ?? deployerAddress)
  const params: RegistryParams = { ...DEVNET_PARAMS, ...opts.params }
  const gov: GovernanceParams = { ...DEVNET_GOVERNANCE, ...opts.governance }
  let deployBlock = -1

  const make = async (name: string, args: unknown[]): Promise<{ address: string, call: (method: string, ...a: unknown[]) => Promise<void> }> => {
    const art: Artifact | undefined = contracts[name]
    if (art === undefined) throw new DeployError(`no artifact: ${name}`, { step: name })
    const contract = await step(`deploy ${name}`, async () => {
      const c = await new ContractFactory(art.abi as InterfaceAbi, art.bytecode, deployer).deploy(...args)
      const receipt = await c.deploymentTransaction()?.wait()
      if (deployBlock < 0 && receipt != null) deployBlock = receipt.blockNumber
      return c
    })
    const address = await contract.getAddress()
    return {
      address,
      call: async (method, ...a) => {
        await step(`${name}.${method}`, async () => { await (await contract.getFunction(method).send(...a)).wait() })
      }
    }
  }

  const open = await make('OPEN', [deployerAddress, opts.supply ?? INITIAL_SUPPLY])
  const registry = await make('ParameterRegistry', [deployerAddress, treasury])
  const gopen = await make('GOpen', [open.address])
  const timelock = await make('Timelock', [gov.timelockDelay, [], [ZeroAddress], deployerAddress])
  const governor = await make('OpenGovernor', [
    gopen.address, timelock.address, open.address, registry.address,
    gov.votingDelay, gov.votingPeriod, gov.proposalThreshold, gov.quorumPercent
  ])
  const staking = await make('Staking', [open.address, registry.address])
  const distributor = await make('RewardDistributor', [open.address, staking.address, registry.address])
  const escrow = await make('JobEscrow', [open.address, staking.address, registry.address, distributor.address])
  // Slashes refer to the escrow's assignments; set once, by the deployer, now.
  await staking.call('setEscrow', escrow.address)

  // Parameters while the deployer still owns the registry.
  const s = params.rewardSplit
  await registry.call('setRewardSplit', s.worker, s.verifiers, s.contributors, s.treasury)
  await registry.call('setAuditRateBps', params.auditRateBps)
  await registry.call('setProverShareBps', params.proverShareBps)
  await registry.call('setEpochLength', params.epochLength)
  await registry.call('setChallengeWindow', params.challengeWindow)
  await registry.call('setUnbondingDelay', params.unbondingDelay)
  await registry.call('setAggregatorQuorum', params.aggregatorQuorum)
  await registry.call('setVerifierQuorum', params.verifierQuorum)
  for (const [name, role] of Object.entries(ROLE) as Array<[keyof typeof ROLE, number]>) {
    await registry.call('setMinStake', role, params.minStake[name])
    await registry.call('setSlashAmount', role, params.slashAmount[name])
  }
  await registry.call('setProposalFee', params.proposalFee)

  // Hand everything to governance.
  await timelock.call('grantRole', id('PROPOSER_ROLE'), governor.address)
  await timelock.call('grantRole', id('CANCELLER_ROLE'), governor.address)
  await registry.call('transferOwnership', timelock.address)
  await timelock.call('renounceRole', '0x' + '00'.repeat(32), deployerAddress)

  for (const account of opts.fund?.accounts ?? []) await open.call('transfer', account, opts.fund?.amount ?? 0n)
  if (treasury !== deployerAddress) {
    const rest = await step('OPEN.balanceOf', async () => {
      const c = new ContractFactory(contracts.OPEN.abi as InterfaceAbi, contracts.OPEN.bytecode, deployer).attach(open.address)
      return await c.getFunction('balanceOf').staticCall(deployerAddress) as bigint
    })
    if (rest > 0n) await open.call('transfer', treasury, rest)
  }

  const addresses: Addresses = {
    chainId,
    open: open.address,
    gopen: gopen.address,
    governor: governor.address,
    timelock: timelock.address,
    registry: registry.address,
    staking: staking.address,
    escrow: escrow.address,
    distributor: distributor.address,
    treasury,
    deployBlock
  }
  if (opts.outPath !== undefined) await writeJsonAtomic(opts.outPath, addresses)
  return { addresses, provider, ms: performance.now() - started }
}
