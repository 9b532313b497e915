// Attacks on the payment rails, from an account outside the network that stakes the
// minimum: releasing another requester's escrow to itself (finding 1) and slashing an
// honest worker through a job of its own (findings 1 and 11). Every attempt goes to the
// real contracts on the devnet's anvil; OPEN taken is measured on chain.
import { Wallet, ZeroAddress, id, type JsonRpcProvider } from 'ethers'
import { ROLE, SettlementClient, type Addresses } from '../../settlement/chain/client.ts'
import { signAndPack, signMessage } from '../../settlement/chain/signatures.ts'
import { fundedWallet } from './accounts.ts'
import { attempts, type AttackOutcome } from './outcome.ts'

const E18 = 10n ** 18n

export interface ChainScene {
  provider: JsonRpcProvider
  addresses: Addresses
  /** The deployer (funds the attacker and the victim requester). */
  deployerKey: string
  /** Honest staked peers: the worker and the verifier a slash would hit. */
  honest: Array<{ address: string, role: 'worker' | 'verifier' }>
}

async function stakesOf (admin: SettlementClient, honest: ChainScene['honest']): Promise<bigint[]> {
  return await Promise.all(honest.map(async h => await admin.stakeOf(h.address, ROLE[h.role])))
}

export async function chainAttacks (scene: ChainScene): Promise<AttackOutcome[]> {
  const admin = await SettlementClient.create(scene.addresses, new Wallet(scene.deployerKey, scene.provider))
  const minVerifier = await admin.read<bigint>('registry', 'minStake', [ROLE.verifier])
  const { wallet: victim, client: victimClient } = await fundedWallet(scene, admin, 100n * E18)
  const { wallet: stranger, client: s } = await fundedWallet(scene, admin, minVerifier + 100n * E18)
  await s.stake(ROLE.verifier, minVerifier)
  const dom = admin.domain('escrow')
  const now = async (): Promise<number> => (await scene.provider.getBlock('latest'))!.timestamp
  const stakesBefore = await stakesOf(admin, scene.honest)

  // 1. Another requester's open job, released to the stranger.
  const jobId = id(`victim job ${victim.address}`)
  await victimClient.openJob(jobId, 50n * E18, await now() + 3_600)
  const fundedBefore = await admin.read<bigint>('distributor', 'totalFunded')
  const strangerBefore = await admin.balanceOf(stranger.address)
  const resultHash = id('nothing')
  const selfAssigned = { worker: stranger.address, verifiers: [stranger.address], referee: ZeroAddress, spec: id('spec') }
  const release = await attempts([
    ['its own assignment, its own completion, naming itself the worker', async () => {
      const a = { ...selfAssigned, verifiers: [victim.address] }
      const aSig = (await signMessage(stranger, 'Assignment', dom, { jobId, ...a })).signature
      await s.releaseJob(jobId, a, aSig, resultHash, await signAndPack([stranger], 'Completion', dom, { jobId, worker: stranger.address, resultHash }))
      return null
    }],
    ['an assignment naming an honest worker, signed by itself, its own completion', async () => {
      const a = { worker: scene.honest[0].address, verifiers: [stranger.address], referee: ZeroAddress, spec: id('spec') }
      const aSig = (await signMessage(stranger, 'Assignment', dom, { jobId, ...a })).signature
      await s.releaseJob(jobId, a, aSig, resultHash, await signAndPack([stranger], 'Completion', dom, { jobId, worker: a.worker, resultHash }))
      return null
    }]
  ])
  const taken = (await admin.read<bigint>('distributor', 'totalFunded')) - fundedBefore + (await admin.balanceOf(stranger.address)) - strangerBefore
  const out: AttackOutcome[] = [{ attack: 'escrow: a staked stranger releases another requester\'s job', finding: '1', ...release, openTaken: taken > 0n ? taken : 0n, honestSlashed: 0, crashes: 0 }]

  // 2. A slash of honest peers through a job the stranger opened and assigned itself.
  const ownJob = id(`stranger job ${stranger.address}`)
  await s.openJob(ownJob, 1n * E18, await now() + 3_600)
  const slashTries: Array<[string, () => Promise<string | null>]> = []
  for (const h of scene.honest) {
    const a = h.role === 'worker'
      ? { worker: h.address, verifiers: [stranger.address], referee: stranger.address, spec: id('spec') }
      : { worker: stranger.address, verifiers: [h.address], referee: ZeroAddress, spec: id('spec') }
    const assignment = { ...a, referee: h.role === 'worker' ? stranger.address : victim.address }
    slashTries.push([`the honest ${h.role}, named in its own job's assignment, with a participation it signed itself`, async () => {
      const aSig = (await signMessage(stranger, 'Assignment', dom, { jobId: ownJob, ...assignment })).signature
      const participation = (await signMessage(stranger, 'Participation', dom, { jobId: ownJob, resultHash })).signature
      const c = { jobId: ownJob, peer: h.address, role: ROLE[h.role], amount: 10n * E18, evidence: id(`evidence ${h.address}`), prover: stranger.address, resultHash }
      await s.slash(c, assignment, aSig, participation, await signAndPack([stranger], 'Slash', admin.domain('staking'), c))
      return null
    }])
    slashTries.push([`the honest ${h.role} on the victim's real job, without its participation or the requester's assignment`, async () => {
      const aSig = (await signMessage(stranger, 'Assignment', dom, { jobId, ...assignment })).signature
      const c = { jobId, peer: h.address, role: ROLE[h.role], amount: 10n * E18, evidence: id(`evidence 2 ${h.address}`), prover: stranger.address, resultHash }
      await s.slash(c, assignment, aSig, '0x' + '00'.repeat(65), await signAndPack([stranger], 'Slash', admin.domain('staking'), c))
      return null
    }])
  }
  const slash = await attempts(slashTries)
  const stakesAfter = await stakesOf(admin, scene.honest)
  out.push({ attack: 'staking: a staked stranger slashes honest peers', finding: '1, 11', ...slash, openTaken: 0n, honestSlashed: stakesAfter.filter((x, i) => x < stakesBefore[i]).length, crashes: 0 })
  return out
}
