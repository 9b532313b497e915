// The simulator pays what the network pays: a real 3-peer devnet with its anvil chain
// releases jobs from escrow, its aggregator journals the receipts and posts epoch roots;
// the sim's settlement step, fed the receipts the aggregator journaled, must give the
// same per-address earnings as the aggregator's sealed ledger, the same cumulative
// balances, and so the same Merkle root and total that are on chain.
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { NonceManager, Wallet, hexlify, id, parseUnits } from 'ethers'
import { loadKeystore } from '../peer/identity/keystore.ts'
import { SettlementClient } from '../settlement/chain/client.ts'
import { packSignatures, signMessage } from '../settlement/chain/signatures.ts'
import { Journal } from '../settlement/epoch/index.ts'
import { buildCumulativeTree, type CumulativeEntry } from '../settlement/merkle/index.ts'
import { settleEpoch } from '../sim/settle.ts'
import { useMarketDevnet } from './helpers/devnet.ts'
import { waitFor } from './helpers/wait.ts'
import { signedAssignment } from './helpers/escrow.ts'

const OPEN = (n: string): bigint => parseUnits(n, 18)

describe('simulator vs devnet: the same receipts give the same payouts', function () {
  this.timeout(120_000)
  const net = useMarketDevnet({ name: 'sim-devnet', peers: 3, cliTimeoutMs: 60_000 })
  const { cli } = net

  it('settles the aggregator\'s journaled receipts to its posted ledger, cumulative tree and on-chain root', async () => {
    const { chain } = net
    const [aggregator, worker, verifier] = net.peers
    await cli(2, ['stake', 'add', '200', '--role', 'verifier'])
    const provider = net.provider()
    const requesterWallet = new Wallet(chain.anvil.accounts[0].privateKey, provider)
    const requester = await SettlementClient.create(chain.addresses, new NonceManager(requesterWallet))
    const verifierKey = await loadKeystore(verifier.dataDir, 'openledger-devnet')
    const verifierWallet = new Wallet(hexlify(verifierKey.libp2pKey.raw))
    // Fees that do not divide evenly, so the fee split's rounding is exercised too.
    const fees = ['100', '7.000000000000000013', '33.333333333333333333']
    for (const [k, fee] of fees.entries()) {
      const jobId = id(`sim devnet job ${k}`)
      const resultHash = id(`result ${k}`)
      await requester.openJob(jobId, OPEN(fee), (await provider.getBlock('latest'))!.timestamp + 3_600)
      const signed = await signMessage(verifierWallet, 'Completion', requester.domain('escrow'), { jobId, worker: worker.address, resultHash })
      const a = await signedAssignment(requester, requesterWallet, jobId, worker.address!, [signed.signer])
      await requester.releaseJob(jobId, a.assignment, a.signature, resultHash, packSignatures([signed]))
    }
    const paidTotal = fees.reduce((s, f) => s + OPEN(f), 0n)

    // Wait until every release is in a posted root (they may land in one epoch or several).
    let posted = 0
    await waitFor('all three jobs in posted roots', async (saw) => {
      const next = Number(await requester.nextEpoch())
      saw({ nextEpoch: next })
      if (next < 2) return undefined
      const root = await requester.rootOf(next - 1)
      posted = next - 1
      saw({ posted, total: root.total, paidTotal })
      if (root.total === paidTotal) return true
      // Releases spread over epochs under load: the next root waits out this one's challenge window.
      await provider.send('evm_increaseTime', [61])
      await provider.send('evm_mine', [])
      return undefined
    }, 90_000, 1_000)
    const onChain = []
    for (let n = 1; n <= posted; n++) onChain.push(await requester.rootOf(n))
    const split = await requester.read<bigint[]>('registry', 'rewardSplit')
    const feeSplit = { worker: Number(split[0]), verifiers: Number(split[1]), contributors: Number(split[2]), treasury: Number(split[3]) }
    const shown = await cli(1, ['rewards', 'show'])
    provider.destroy()
    await net.stop()

    // What the aggregator journaled and sealed.
    const epochsDir = join(aggregator.dataDir, 'epochs')
    const [store] = await readdir(epochsDir)
    const { journal, records } = await Journal.open<any>(join(epochsDir, store, 'journal.jsonl'))
    await journal.close()
    const receipts = records.filter(r => r.t === 'receipt')
    assert.equal(receipts.length, fees.length, 'one receipt per released job')

    // The sim settles each epoch from the journaled receipts alone, carrying its own cumulative balances.
    let previous: CumulativeEntry[] = []
    for (let n = 1; n <= posted; n++) {
      const ledgerFile = JSON.parse(await readFile(join(epochsDir, store, String(n), 'ledger.json'), 'utf8'))
      const tree = JSON.parse(await readFile(join(epochsDir, store, String(n), 'tree.json'), 'utf8'))
      const sim = settleEpoch({
        receipts: receipts.filter(r => r.epoch === n).map(r => r.receipt),
        previous,
        feeSplit,
        treasury: chain.addresses.treasury,
        normalize: true
      })
      assert.deepEqual(sim.earned.map(e => [e.account, e.amount.toString()]), ledgerFile.earned, `epoch ${n}: per-address earnings`)
      // The tree file lists leaves in tree order; compare as balances by account.
      const inTree = new Map<string, string>(tree.accounts.map((a: string, i: number) => [a, tree.cumulative[i]]))
      assert.deepEqual(new Map(sim.cumulative.map(e => [e.account, e.cumulative.toString()])), inTree, `epoch ${n}: cumulative balances`)
      const simTree = buildCumulativeTree(sim.cumulative)
      assert.equal(simTree.root, ledgerFile.root, `epoch ${n}: Merkle root`)
      assert.equal(simTree.root, onChain[n - 1].root.toLowerCase(), `epoch ${n}: the root on chain`)
      assert.equal(simTree.total, onChain[n - 1].total, `epoch ${n}: the total on chain`)
      previous = sim.cumulative
    }
    // And what the worker's own peer shows as earned is the sim's cumulative for it.
    const simWorker = previous.find(e => e.account === worker.address.toLowerCase())
    assert.equal(shown.earned, simWorker?.cumulative.toString())
    assert.ok(simWorker !== undefined && simWorker.cumulative > 0n)
  })
})
