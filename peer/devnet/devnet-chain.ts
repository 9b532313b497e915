// The devnet's chain: anvil on loopback with the contracts deployed, every peer's
// account given gas money and OPEN, and the addresses written to <devnet>/chain.json,
// where each peer reads them (--chain). The chain persists in <devnet>/chain/ (anvil
// dumps its state every 2 s and on a clean stop), so a restarted devnet keeps its
// balances, stakes and reward roots; a lost state file means a fresh deployment, and
// peers then start fresh epoch stores (they are keyed by the deployment). So does a
// change to the contracts' sources (chain.json records the compile's key): an old
// deployment would not speak the new ABI.
import { access, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Contract, NonceManager, Wallet, parseUnits, toQuantity } from 'ethers'
import { startAnvil, type Anvil } from '../../settlement/chain/anvil.ts'
import { connectProvider, loadAbis, type Addresses } from '../../settlement/chain/client.ts'
import { compileContracts } from '../../settlement/chain/compile.ts'
import { deploy } from '../../settlement/chain/deploy.ts'
import { readJsonIfExists, writeJsonAtomic } from '../../storage/atomic-file.ts'

export const DEVNET_CHAIN_ID = 31337
/** What each peer holds at least: gas money and OPEN to stake and to pay for jobs. */
const PEER_ETH = parseUnits('100', 18)
const PEER_OPEN = parseUnits('10000', 18)
/**
 * A block for every transaction at once, and one every 2 s besides, like an L2: the
 * chain's clock moves while nobody sends, and a ready transaction the instant miner
 * missed (a CI run waited 120 s for one; foundry-rs/foundry#10122 reports the like) is
 * mined by the next interval block.
 */
const MINING = ['--mixed-mining', '--block-time', '2']

export interface DevnetChain {
  anvil: Anvil
  addresses: Addresses
  /** <devnet>/chain.json: { rpcUrl, addresses }. */
  file: string
  stop: () => Promise<void>
}

export interface DevnetChainOptions {
  /** Seconds a posted reward root waits before it is final (the registry allows 60 at least). */
  challengeWindow?: number
  /** Aggregator signatures a root needs: 2 on a devnet of 2 peers or more (an aggregator and a co-signer), so no single key posts a root. */
  aggregatorQuorum?: number
  log?: (msg: string) => void
}

export async function startDevnetChain (dir: string, accounts: readonly string[], opts: DevnetChainOptions = {}): Promise<DevnetChain> {
  const stateDir = join(dir, 'chain')
  await mkdir(stateDir, { recursive: true })
  const file = join(dir, 'chain.json')
  const statePath = join(stateDir, 'anvil-state.json')
  const hadState = await access(statePath).then(() => true, () => false)
  const anvil = await startAnvil({ chainId: DEVNET_CHAIN_ID, statePath, hardfork: 'cancun', args: ['--state-interval', '2', ...MINING] })
  try {
    const provider = connectProvider(anvil.rpcUrl, anvil.chainId)
    const { key: contractsKey } = await compileContracts()
    const saved = hadState ? await readJsonIfExists<{ addresses: Addresses, contractsKey?: string }>(file) : undefined
    let addresses = saved?.addresses
    // The state file may predate the addresses file, or come from another deployment.
    if (addresses !== undefined && await provider.getCode(addresses.distributor) === '0x') addresses = undefined
    if (addresses !== undefined && saved?.contractsKey !== contractsKey) {
      opts.log?.('chain: the contracts changed since this devnet was made: deploying them again')
      addresses = undefined
    }
    if (addresses === undefined) {
      const started = performance.now()
      const d = await deploy({ rpcUrl: anvil.rpcUrl, profile: 'devnet', deployerKey: anvil.accounts[0].privateKey, params: { challengeWindow: opts.challengeWindow ?? 60, epochLength: 60, aggregatorQuorum: opts.aggregatorQuorum ?? 1 } })
      addresses = d.addresses
      opts.log?.(`chain: contracts deployed in ${((performance.now() - started) / 1000).toFixed(1)} s (OPEN ${addresses.open}, rewards ${addresses.distributor})`)
    } else {
      opts.log?.(`chain: reusing the deployment in ${stateDir}`)
    }
    // Top every peer up: new peers join a reused chain too.
    const deployer = new NonceManager(new Wallet(anvil.accounts[0].privateKey, provider))
    const open = new Contract(addresses.open, (await loadAbis()).OPEN, deployer)
    for (const account of accounts) {
      await provider.send('anvil_setBalance', [account, toQuantity(PEER_ETH)])
      const have = await open.getFunction('balanceOf').staticCall(account) as bigint
      if (have < PEER_OPEN) await (await open.getFunction('transfer').send(account, PEER_OPEN - have)).wait()
    }
    provider.destroy()
    await writeJsonAtomic(file, { rpcUrl: anvil.rpcUrl, addresses, contractsKey })
    return { anvil, addresses, file, stop: anvil.stop }
  } catch (err) {
    await anvil.stop()
    throw err
  }
}
