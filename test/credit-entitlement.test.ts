// Which manifest entries may move money, decided from the escrow's releases: a cycle
// only from the worker released for its adapter; an attribution on an entitled cycle
// only from that worker, or for a released job whose result it names, by that job's
// requester or worker.
// Entries are real (a datanet store on a real blockstore); the releases are a table.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { FsBlockstore } from 'blockstore-fs'
import { id as keccakText } from 'ethers'
import { CID } from 'multiformats/cid'
import { creditEntitlement, type ReleasedJob } from '../peer/settlement/credit-entitlement.ts'
import { signerFromPrivateKey } from '../protocols/signer.ts'
import { ingest, planIngest } from '../storage/datanet/ingest.ts'
import { DatanetStore } from '../storage/datanet/store.ts'
import { addressOf } from '../storage/signing.ts'

const newSigner = () => { const s = signerFromPrivateKey(secp256k1.utils.randomSecretKey()); return { ...s, address: addressOf(s.publicKey) } }
const ADAPTER = CID.parse('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy')
const RESULT = CID.parse('bafkreidivzimqfqtoqxkrpge6bjyhlvxqs3rhe73owtmdulaxr5do5in7u')
const JOB = keccakText('attribution job')
const TRAIN_JOB = keccakText('training job')

describe('credit entitlement from the chain\'s releases', () => {
  let dir: string
  let blocks: FsBlockstore
  let store: DatanetStore
  const [requester, worker, stranger] = [newSigner(), newSigner(), newSigner()]

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openledger-entitlement-'))
    blocks = new FsBlockstore(join(dir, 'blocks'))
    await blocks.open()
    store = new DatanetStore({ dir: join(dir, 'datanets'), blockstore: blocks })
  })
  after(async () => {
    await blocks.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('entitles only the released worker\'s cycle and the released job\'s record, by its requester', async () => {
    const log = await store.create({ name: 'd', description: '', license: 'CC0-1.0' }, requester)
    await writeFile(join(dir, 'a.txt'), 'some text')
    const [c] = await store.contribute(log.id, await ingest(blocks, await planIngest([join(dir, 'a.txt')])), 'CC0-1.0', requester)
    const version = await log.version()
    const honestCycle = await store.recordCycle(log.id, { version, model: 'm', adapter: ADAPTER, credits: [] }, worker)
    const strangerCycle = await store.recordCycle(log.id, { version, model: 'm', adapter: ADAPTER, credits: [{ contribution: c.cid, weight: 1 }] }, stranger)
    const record = { cycle: honestCycle.cid, method: 'tracin', credits: [{ contribution: c.cid, weight: 1, influence: 1 }] }
    const honest = await store.recordAttribution(log.id, { ...record, job: JOB, result: RESULT }, requester)
    const noJob = await store.recordAttribution(log.id, record, requester)
    const strangersCopy = await store.recordAttribution(log.id, { ...record, job: JOB, result: RESULT }, stranger)
    const wrongResult = await store.recordAttribution(log.id, { ...record, job: JOB, result: ADAPTER }, requester)
    const onStrangerCycle = await store.recordAttribution(log.id, { ...record, cycle: strangerCycle.cid, job: JOB, result: RESULT }, requester)
    // The released training worker measuring its own adapter (`openledger attribute`): entitled without a job.
    const trainersOwn = await store.recordAttribution(log.id, record, worker)
    const strangerOnOwnCycle = await store.recordAttribution(log.id, { ...record, cycle: strangerCycle.cid }, stranger)

    const releases: Array<ReleasedJob & { requester: string }> = [
      { job: TRAIN_JOB, worker: worker.address, resultHash: keccakText(ADAPTER.toString()), requester: requester.address },
      { job: JOB, worker: newSigner().address, resultHash: keccakText(RESULT.toString()), requester: requester.address }
    ]
    const lookup = {
      releasedTo: async (w: string) => releases.filter(r => r.worker.toLowerCase() === w.toLowerCase()),
      released: async (job: string) => releases.find(r => r.job === job)
    }
    const e = await creditEntitlement(log.ordered(), lookup)
    assert.deepEqual([...e.cycles], [honestCycle.cid.toString()])
    assert.deepEqual([...e.attributions].sort(), [honest.cid.toString(), trainersOwn.cid.toString()].sort())
    for (const refused of [noJob, strangersCopy, wrongResult, onStrangerCycle, strangerOnOwnCycle]) assert.ok(!e.attributions.has(refused.cid.toString()))

    // Nothing released yet: nothing entitled.
    const none = await creditEntitlement(log.ordered(), { releasedTo: async () => [], released: async () => undefined })
    assert.equal(none.cycles.size + none.attributions.size, 0)
    // The view built with it pays the contribution through the newest entitled record only.
    const view = await store.view(log.id, { entitled: e })
    assert.deepEqual(view.contributions[0].credits.map(x => [x.cycle, x.weight]), [[honestCycle.cid.toString(), 1]])
    assert.equal(view.cycles.find(c => c.cid === honestCycle.cid.toString())?.attributedBy, worker.address)
  })
})
