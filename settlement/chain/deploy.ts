// Deploys the settlement contracts in dependency order and wires them: the registry
// gets the parameters of the profile it is told (devnet or l2, ./profiles.ts), checked
// against the registry's bounds before anything is sent, and is handed to the timelock; the timelock takes
// proposals only from the governor, lets anyone execute after its delay, and its
// deployer admin role is renounced, so from then on only governance changes anything.
// Writes the addresses (+ chain id, deploy block) atomically as JSON for peers and CLI,
// and returns the parameters as the chain reads them back.
import { ContractFactory, NonceManager, Wallet, ZeroAddress, getAddress, id, type InterfaceAbi, type Provider } from 'ethers'
import { compileContracts, type Artifact } from './compile.ts'
import { connectProvider, ROLE, type Addresses } from './client.ts'
import { DeployError } from './errors.ts'
import { writeJsonAtomic } from '../../storage/atomic-file.ts'
import { PROFILES, registryParamProblems, type DeployProfile, type GovernanceParams, type RegistryParams, type StakeRoleName } from './profiles.ts'

const E18 = 10n ** 18n

export { DEVNET_PARAMS, DEVNET_GOVERNANCE, L2_PARAMS, L2_GOVERNANCE, type DeployProfile, type GovernanceParams, type RegistryParams } from './profiles.ts'

export const INITIAL_SUPPLY = 1_000_000_000n * E18

export interface DeployOptions {
  rpcUrl: string
  /** Whose defaults: a devnet's (quorums of 1, minutes) or a real L2's. Always said, never assumed. */
  profile: DeployProfile
  /** Pays for the deploy and holds the supply until funding is done. */
  deployerKey: string
  /** Receives what is left of the supply, slash proceeds and proposal fees (default: the deployer). */
  treasury?: string
  /** OPEN sent to each of these accounts. */
  fund?: { accounts: readonly string[], amount: bigint }
  supply?: bigint
  /** Over the profile's values. */
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
  profile: DeployProfile
  /** What the registry and governor hold after the deploy, read back from the chain. */
  params: RegistryParams
  governance: GovernanceParams
}

/** A deployed contract, as the deploy drives it. */
interface Made { address: string, call: (method: string, ...a: unknown[]) => Promise<void>, read: <T>(method: string, ...a: unknown[]) => Promise<T> }

type PeriodSetter = 'setUnbondingDelay' | 'setMaxEscrowDuration' | 'setChallengeWindow'
type Periods = Pick<RegistryParams, 'unbondingDelay' | 'maxEscrowDuration' | 'challengeWindow'>

/**
 * The three linked periods' setter calls, in an order that keeps the registry's
 * unbondingDelay > maxEscrowDuration + challengeWindow true after each (it refuses any
 * call that breaks it): a longer delay first, a shorter one last, and of the other two
 * whichever shrinks (or grows less) first.
 */
export function periodSteps (from: Periods, to: Periods): Array<[PeriodSetter, number]> {
  const delay: [PeriodSetter, number] = ['setUnbondingDelay', to.unbondingDelay]
  const others = ([['setMaxEscrowDuration', 'maxEscrowDuration'], ['setChallengeWindow', 'challengeWindow']] as const)
    .map(([setter, key]) => ({ step: [setter, to[key]] as [PeriodSetter, number], grows: to[key] - from[key] }))
    .sort((a, b) => a.grows - b.grows)
    .map(o => o.step)
  return to.unbondingDelay >= from.unbondingDelay ? [delay, ...others] : [...others, delay]
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
  const profile = PROFILES[opts.profile]
  if (profile === undefined) throw new DeployError(`unknown deploy profile ${String(opts.profile)}`, { profile: opts.profile })
  const params: RegistryParams = { ...profile.params, ...opts.params }
  const gov: GovernanceParams = { ...profile.governance, ...opts.governance }
  // Refused before the first transaction: a deploy that fails halfway has spent gas for nothing.
  const problems = registryParamProblems(params)
  if (problems.length > 0) throw new DeployError(`parameters the registry would refuse: ${problems.join('; ')}`, { step: 'parameters', problems })
  const { contracts } = await compileContracts()
  const provider = connectProvider(opts.rpcUrl)
  const chainId = Number((await provider.getNetwork()).chainId)
  const deployer = new NonceManager(new Wallet(opts.deployerKey, provider))
  const deployerAddress = await deployer.getAddress()
  const treasury = getAddress(opts.treasury ?? deployerAddress)
  let deployBlock = -1

  const make = async (name: string, args: unknown[]): Promise<Made> => {
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
      },
      read: async <T>(method: string, ...a: unknown[]) => await step(`${name}.${method}`, async () => await contract.getFunction(method).staticCall(...a) as T)
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
  const current = {
    unbondingDelay: Number(await registry.read<bigint>('unbondingDelay')),
    maxEscrowDuration: Number(await registry.read<bigint>('maxEscrowDuration')),
    challengeWindow: Number(await registry.read<bigint>('challengeWindow'))
  }
  for (const [setter, value] of periodSteps(current, params)) await registry.call(setter, value)
  await registry.call('setAggregatorQuorum', params.aggregatorQuorum)
  await registry.call('setVerifierQuorum', params.verifierQuorum)
  for (const [name, role] of Object.entries(ROLE) as Array<[StakeRoleName, number]>) {
    await registry.call('setMinStake', role, params.minStake[name])
    await registry.call('setSlashAmount', role, params.slashAmount[name])
  }
  await registry.call('setProposalFee', params.proposalFee)
  await registry.call('setChallengeBond', params.challengeBond)

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
  return { addresses, provider, ms: performance.now() - started, profile: opts.profile, params: await readParams(registry), governance: await readGovernance(governor, timelock) }
}

async function readParams (registry: Pick<Made, 'read'>): Promise<RegistryParams> {
  const n = async (name: string): Promise<number> => Number(await registry.read<bigint>(name))
  const perRole = async (name: string): Promise<Record<StakeRoleName, bigint>> => ({
    worker: await registry.read<bigint>(name, ROLE.worker),
    verifier: await registry.read<bigint>(name, ROLE.verifier),
    aggregator: await registry.read<bigint>(name, ROLE.aggregator)
  })
  const split = (await registry.read<bigint[]>('rewardSplit')).map(Number)
  return {
    rewardSplit: { worker: split[0], verifiers: split[1], contributors: split[2], treasury: split[3] },
    auditRateBps: await n('auditRateBps'),
    slashAmount: await perRole('slashAmount'),
    proverShareBps: await n('proverShareBps'),
    epochLength: await n('epochLength'),
    challengeWindow: await n('challengeWindow'),
    maxEscrowDuration: await n('maxEscrowDuration'),
    unbondingDelay: await n('unbondingDelay'),
    aggregatorQuorum: await n('aggregatorQuorum'),
    verifierQuorum: await n('verifierQuorum'),
    minStake: await perRole('minStake'),
    proposalFee: await registry.read<bigint>('proposalFee'),
    challengeBond: await registry.read<bigint>('challengeBond')
  }
}

async function readGovernance (governor: Pick<Made, 'read'>, timelock: Pick<Made, 'read'>): Promise<GovernanceParams> {
  return {
    votingDelay: Number(await governor.read<bigint>('votingDelay')),
    votingPeriod: Number(await governor.read<bigint>('votingPeriod')),
    timelockDelay: Number(await timelock.read<bigint>('getMinDelay')),
    proposalThreshold: await governor.read<bigint>('proposalThreshold'),
    quorumPercent: Number(await governor.read<bigint>('quorumNumerator'))
  }
}
