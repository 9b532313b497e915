// Credit from anyone (finding 7): a stranger who contributed one file to a datanet
// writes credit entries into its manifest (an open log: anyone may append) to take the
// contributors' part of the fees paid on it. The datanet is a real store on a real
// blockstore; the training job behind the honest credit is released on the devnet's
// chain; what each entry earns is read the way an aggregator pays (peer/settlement:
// entitlement from the chain's JobReleased events, then the shared job-credit policy).
// OPEN taken: the stranger's part of the contributors' 25% of a 100 OPEN fee.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { FsBlockstore } from 'blockstore-fs'
import { Wallet, id, type JsonRpcProvider } from 'ethers'
import { CID } from 'multiformats/cid'
import { chainReleaseLookup, creditEntitlement } from '../../peer/settlement/credit-entitlement.ts'
import { creditLines } from '../../peer/settlement/job-description.ts'
import { signerFromPrivateKey } from '../../protocols/signer.ts'
import { ROLE, SettlementClient, type Addresses } from '../../settlement/chain/client.ts'
import { packSignatures, signMessage } from '../../settlement/chain/signatures.ts'
import { jobCredit } from '../../settlement/policy/index.ts'
import { ingest, planIngest } from '../../storage/datanet/ingest.ts'
import { DatanetStore } from '../../storage/datanet/store.ts'
import { addressOf } from '../../storage/signing.ts'
import { fundWallet } from './accounts.ts'
import { attempts, type AttackOutcome } from './outcome.ts'

const E18 = 10n ** 18n
const FEE = 100n * E18
const ADAPTER = CID.parse('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy')

export interface CreditScene {
  provider: JsonRpcProvider
  addresses: Addresses
  deployerKey: string
}

/** One key as both an Ethereum wallet and a manifest signer (the same address). */
function keyPair (provider: JsonRpcProvider): { wallet: Wallet, signer: ReturnType<typeof signerFromPrivateKey> & { address: string } } {
  const secret = secp256k1.utils.randomSecretKey()
  const s = signerFromPrivateKey(secret)
  return { wallet: new Wallet('0x' + Buffer.from(secret).toString('hex'), provider), signer: { ...s, address: addressOf(s.publicKey) } }
}

export async function creditAttacks (scene: CreditScene): Promise<AttackOutcome[]> {
  const admin = await SettlementClient.create(scene.addresses, new Wallet(scene.deployerKey, scene.provider))
  const fund = async (w: Wallet, open: bigint): Promise<SettlementClient> => await fundWallet(scene, admin, w, open)
  const [requester, worker, verifier, stranger, alice, bob] = Array.from({ length: 6 }, () => keyPair(scene.provider))
  const r = await fund(requester.wallet, FEE)
  const minWorker = await admin.read<bigint>('registry', 'minStake', [ROLE.worker])
  const minVerifier = await admin.read<bigint>('registry', 'minStake', [ROLE.verifier])
  await (await fund(worker.wallet, minWorker)).stake(ROLE.worker, minWorker)
  await (await fund(verifier.wallet, minVerifier)).stake(ROLE.verifier, minVerifier)

  const dir = await mkdtemp(join(tmpdir(), 'openledger-credit-attacks-'))
  const blocks = new FsBlockstore(join(dir, 'blocks'))
  await blocks.open()
  try {
    const store = new DatanetStore({ dir: join(dir, 'datanets'), blockstore: blocks })
    const log = await store.create({ name: 'credit', description: '', license: 'CC0-1.0' }, alice.signer)
    const contribute = async (who: typeof alice, name: string): Promise<CID> => {
      await writeFile(join(dir, name), `${name}: some text of its own`)
      const [c] = await store.contribute(log.id, await ingest(blocks, await planIngest([join(dir, name)])), 'CC0-1.0', who.signer)
      return c.cid
    }
    const [a, b, s] = [await contribute(alice, 'a.txt'), await contribute(bob, 'b.txt'), await contribute(stranger, 's.txt')]
    const version = await log.version()

    // The honest flywheel: a training job released on chain to the worker for ADAPTER,
    // the worker's cycle and its own attribution of it.
    const job = id(`credit attack training job ${worker.signer.address}`)
    await r.openJob(job, FEE, (await scene.provider.getBlock('latest'))!.timestamp + 3_600)
    const resultHash = id(ADAPTER.toString())
    const assignment = { worker: worker.wallet.address, verifiers: [verifier.wallet.address], referee: '0x' + '00'.repeat(20), spec: id('credit attack spec') }
    const aSig = (await signMessage(requester.wallet, 'Assignment', admin.domain('escrow'), { jobId: job, ...assignment })).signature
    const done = await signMessage(verifier.wallet, 'Completion', admin.domain('escrow'), { jobId: job, worker: worker.wallet.address, resultHash })
    await r.releaseJob(job, assignment, aSig, resultHash, packSignatures([done]))
    const cycle = await store.recordCycle(log.id, { version, model: 'm', adapter: ADAPTER, credits: [] }, worker.signer)
    await store.recordAttribution(log.id, { cycle: cycle.cid, method: 'tracin', credits: [{ contribution: a, weight: 0.6, influence: 0.6 }, { contribution: b, weight: 0.4, influence: 0.4 }] }, worker.signer)

    /** What the stranger earns of a fee paid on the datanet now, as an aggregator reads the credit map. */
    const strangersCut = async (): Promise<bigint> => {
      const entitled = await creditEntitlement(log.ordered(), chainReleaseLookup(() => admin))
      const view = await store.view(log.id, { entitled })
      let worst = 0
      // By the honest cycle (a job on the adapter) and by the whole credit map (any job on the datanet).
      for (const credit of [jobCredit({ lines: creditLines(view), cycle: cycle.cid.toString() }), jobCredit({ lines: creditLines(view) })]) {
        const total = credit.weights.reduce((t, w) => t + w.weight, 0)
        const mine = credit.weights.find(w => w.contributor === stranger.signer.address.toLowerCase())?.weight ?? 0
        if (total > 0) worst = Math.max(worst, mine / total)
      }
      return (FEE / 4n) * BigInt(Math.round(worst * 1e6)) / 1_000_000n
    }
    const judged = async (append: () => Promise<unknown>): Promise<string | null> => {
      await append()
      return await strangersCut() === 0n ? 'earns nothing (not entitled)' : null
    }
    const honestIntact = async (): Promise<string | null> => {
      const entitled = await creditEntitlement(log.ordered(), chainReleaseLookup(() => admin))
      const honest = jobCredit({ lines: creditLines(await store.view(log.id, { entitled })), cycle: cycle.cid.toString() })
      const want = [alice.signer.address, bob.signer.address].map(x => x.toLowerCase()).sort()
      return honest.weights.map(w => w.contributor).sort().join() === want.join() ? `honest credit intact (${honest.weights.map(w => w.weight.toFixed(2)).join(', ')})` : null
    }
    const outcome = await attempts([
      ['a training cycle crediting its own file with weight 1e300', async () => await judged(async () => await store.recordCycle(log.id, { version, model: 'm', adapter: ADAPTER, credits: [{ contribution: s, weight: 1e300 }] }, stranger.signer))],
      ['a training cycle crediting the others with weight -1 (their part to the treasury)', async () => await judged(async () => await store.recordCycle(log.id, { version, model: 'm', adapter: ADAPTER, credits: [{ contribution: a, weight: -1 }] }, stranger.signer))],
      ['a newer training cycle for the same adapter, its own file at weight 1', async () => await judged(async () => await store.recordCycle(log.id, { version, model: 'm', adapter: ADAPTER, credits: [{ contribution: s, weight: 1 }] }, stranger.signer))],
      ['an attribution of the honest cycle naming the released job, all weight to its own file', async () => await judged(async () => await store.recordAttribution(log.id, { cycle: cycle.cid, method: 'tracin', job, result: ADAPTER, credits: [{ contribution: s, weight: 1, influence: 1 }] }, stranger.signer))],
      ['an attribution of the honest cycle without a job', async () => await judged(async () => await store.recordAttribution(log.id, { cycle: cycle.cid, method: 'tracin', credits: [{ contribution: s, weight: 1, influence: 1 }] }, stranger.signer))],
      ['all of the above displacing the honest contributors\' credit', honestIntact]
    ])
    return [{ attack: 'credit: a stranger writes credit entries into a datanet\'s manifest', finding: '7', ...outcome, openTaken: await strangersCut(), honestSlashed: 0, crashes: 0 }]
  } finally {
    await blocks.close()
    await rm(dir, { recursive: true, force: true })
  }
}
