// Accounts the attack scenes fund from the devnet's deployer: gas money and OPEN.
import { Wallet, type JsonRpcProvider } from 'ethers'
import type { SettlementClient } from '../../settlement/chain/client.ts'

const E18 = 10n ** 18n

export interface FundingScene { provider: JsonRpcProvider, deployerKey: string }

/** Gives `wallet` 10 ETH of gas and `open` OPEN (from `admin`, the deployer); its own client. */
export async function fundWallet (scene: FundingScene, admin: SettlementClient, wallet: Wallet, open: bigint): Promise<SettlementClient> {
  const deployer = new Wallet(scene.deployerKey, scene.provider)
  await (await deployer.sendTransaction({ to: wallet.address, value: 10n * E18 })).wait()
  if (open > 0n) await admin.transfer(wallet.address, open)
  return admin.as(wallet)
}

/** A fresh random account, funded as fundWallet does. One at a time: they share the deployer's nonce. */
export async function fundedWallet (scene: FundingScene, admin: SettlementClient, open: bigint): Promise<{ wallet: Wallet, client: SettlementClient }> {
  const wallet = new Wallet(Wallet.createRandom().privateKey, scene.provider)
  return { wallet, client: await fundWallet(scene, admin, wallet, open) }
}
