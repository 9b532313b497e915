// Attacks on the reward root (finding 2), from outside: two throwaway keys staked as
// aggregators (the devnet's quorum is 2) build a root paying one of them everything
// funded. They ask the honest co-signer to sign it over /openledger/epoch, post it with
// their own two signatures, and try to claim after the window; a stranger without the
// bond tries to cancel a root. OPEN taken is measured on chain.
import { noise } from '@libp2p/noise'
import { peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { Wallet, id, type JsonRpcProvider } from 'ethers'
import { createLibp2p } from 'libp2p'
import { askCosign } from '../../protocols/epoch/epoch.ts'
import { ROLE, SettlementClient, type Addresses } from '../../settlement/chain/client.ts'
import { packSignatures, signMessage } from '../../settlement/chain/signatures.ts'
import { buildCumulativeTree } from '../../settlement/merkle/index.ts'
import { fundedWallet } from './accounts.ts'
import { attempts, type AttackOutcome } from './outcome.ts'

const E18 = 10n ** 18n

export interface RootScene {
  provider: JsonRpcProvider
  addresses: Addresses
  deployerKey: string
  /** The honest co-signer (and watcher). */
  cosigner: { peerId: string, addr: string }
}

async function until (what: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await what()) return true
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  return false
}

export async function rootAttacks (scene: RootScene): Promise<AttackOutcome[]> {
  const admin = await SettlementClient.create(scene.addresses, new Wallet(scene.deployerKey, scene.provider))
  const minAggregator = await admin.read<bigint>('registry', 'minStake', [ROLE.aggregator])
  // One after the other: they share the deployer's nonce.
  const sybils = [await fundedWallet(scene, admin, minAggregator), await fundedWallet(scene, admin, minAggregator)]
  sybils.sort((a, b) => a.wallet.address.toLowerCase() < b.wallet.address.toLowerCase() ? -1 : 1)
  for (const s of sybils) await s.client.stake(ROLE.aggregator, minAggregator)
  const [thief] = sybils
  const epoch = Number(await admin.nextEpoch())
  if (epoch > 1) {
    // The root before must be final for a new one to be posted.
    const prev = await admin.rootOf(epoch - 1)
    const now = (await scene.provider.getBlock('latest'))!.timestamp
    if (BigInt(now) < prev.finalAt) await scene.provider.send('evm_increaseTime', [Number(prev.finalAt) - now + 1])
  }
  // What a rogue root can pay out is what is funded: make sure there is some.
  if (await admin.totalFunded() === 0n) await admin.fund(100n * E18)
  const funded = await admin.totalFunded()
  const tree = buildCumulativeTree([{ account: thief.wallet.address, cumulative: funded }])
  const toBlock = await scene.provider.getBlockNumber()
  const message = { epoch, root: tree.root, total: funded, toBlock }
  const balanceBefore = await admin.balanceOf(thief.wallet.address)

  const { client: stranger } = await fundedWallet(scene, admin, 0n)
  let cancel: Awaited<ReturnType<typeof attempts>> | undefined
  const node = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
  await node.start()
  let outcome: Awaited<ReturnType<typeof attempts>>
  try {
    await node.dial(multiaddr(scene.cosigner.addr))
    outcome = await attempts([
      ['ask the honest co-signer to sign it (a bundle that claims no previous balances and no receipts)', async () => {
        const bundle = JSON.stringify({ format: 'openledger-epoch-bundle-v1', ...message, total: funded.toString(), feeSplit: { worker: 5000, verifiers: 2000, contributors: 2500, treasury: 500 }, treasury: scene.addresses.treasury, previous: [], receipts: [] })
        try {
          await askCosign(node, peerIdFromString(scene.cosigner.peerId), bundle)
          return null
        } catch (err) {
          return (err as { details?: { remoteName?: string } }).details?.remoteName ?? (err as Error).name
        }
      }],
      ['post it with the two sybils\' signatures, then claim it after the window', async () => {
        const sigs = await Promise.all(sybils.map(async s => await signMessage(s.wallet, 'EpochRoot', admin.domain('distributor'), message)))
        await thief.client.postRoot(epoch, tree.root, funded, toBlock, packSignatures(sigs))
        // While it is pending: a stranger who cannot pay the bond tries to cancel it.
        cancel = await attempts([['cancel the pending root without putting up the bond', async () => {
          await stranger.challengeRoot(epoch, id('no reason'))
          return null
        }]])
        // The watchers have half the window to find it wrong.
        const window = Number(await admin.read<bigint>('registry', 'challengeWindow'))
        const challenged = await until(async () => (await admin.nextEpoch()) === BigInt(epoch), (window * 1000) * 0.9)
        if (!challenged) {
          await scene.provider.send('evm_increaseTime', [window + 1])
          await scene.provider.send('evm_mine', [])
        }
        await thief.client.claim(epoch, thief.wallet.address, funded, tree.proof(thief.wallet.address))
        return null
      }]
    ])
  } finally {
    await node.stop()
  }
  const taken = (await admin.balanceOf(thief.wallet.address)) - balanceBefore
  const out: AttackOutcome[] = [{ attack: 'rewards: two sybil aggregator keys post a root paying one of them all that is funded', finding: '2', ...outcome, openTaken: taken > 0n ? taken : 0n, honestSlashed: 0, crashes: 0 }]

  // A challenge costs the bond: a stranger without it cannot cancel roots at will.
  if (cancel !== undefined) out.push({ attack: 'rewards: a stranger without the bond challenges a root', finding: '2', ...cancel, openTaken: 0n, honestSlashed: 0, crashes: 0 })
  return out
}
