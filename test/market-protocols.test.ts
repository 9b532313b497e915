// The market's request/response protocols over a real libp2p connection on loopback:
// /openledger/task/1.0.0 takes a bid or a result only when signed by the peer on the
// connection; /openledger/verify/1.0.0 hands a verifier one receipt entry;
// /openledger/rewards/1.0.0 answers with a proof, and a malformed answer is refused.
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { randomBytes } from 'node:crypto'
import { sealEnvelope } from '../protocols/envelope.ts'
import { MalformedMessageError, RemoteError } from '../protocols/errors.ts'
import { Inbound } from '../protocols/inbound.ts'
import { defaultRegistry, JobBidMessage, JobVerdictMessage } from '../protocols/messages/index.ts'
import { ReplayGuard } from '../protocols/replay-guard.ts'
import { askRewards, parseRewardsAnswer, serveRewards } from '../protocols/rewards/rewards.ts'
import { signerFromPrivateKey, type Signer } from '../protocols/signer.ts'
import { sendTask, serveTask } from '../protocols/task/task.ts'
import { fetchReceiptEntry, serveVerify } from '../protocols/verify/verify.ts'
import { encode } from '../protocols/codec.ts'
import { buildCumulativeTree } from '../settlement/merkle/index.ts'
import { verifyCumulativeProof } from '../settlement/merkle/index.ts'
import { expectRejects } from './helpers/expect-throws.ts'
import { createPlainNode, type PlainNode } from '../bench/lib/plain-node.ts'

const registry = defaultRegistry()
const job = '0x' + 'cd'.repeat(32)
const bid = { job, role: 'worker', price: '5', etaMs: 1_000, stake: '100' }

describe('market protocols on a loopback libp2p connection', function () {
  this.timeout(30_000)
  let requester: PlainNode
  let bidder: PlainNode
  let bidderSigner: Signer
  const bids: string[] = []

  before(async () => {
    const key = await generateKeyPair('secp256k1')
    bidderSigner = signerFromPrivateKey(key.raw)
    requester = await createPlainNode()
    bidder = await createPlainNode(key)
    const inbound = new Inbound({ network: 'devnet', registry, replayGuard: new ReplayGuard() })
    await serveTask(requester, inbound, registry, { onBid: async (env, from) => { bids.push(from); return { accepted: env.body.price !== '0', reason: env.body.price === '0' ? 'free work is not work' : undefined } } })
    await serveVerify(requester, async (j, entry) => j === job && entry === 0 ? new Uint8Array([1, 2, 3]) : undefined)
    await bidder.dial(requester.getMultiaddrs()[0])
  })
  after(async () => {
    await bidder?.stop()
    await requester?.stop()
  })

  const seal = (type: string, body: unknown, signer = bidderSigner): Uint8Array => sealEnvelope({ network: 'devnet', type, body, signer, registry })

  it('task: takes a bid signed by the connected peer, and answers the handler\'s verdict', async () => {
    assert.deepEqual(await sendTask(bidder, registry, requester.peerId, seal(JobBidMessage.type, bid)), { accepted: true })
    assert.deepEqual(bids, [bidder.peerId.toString()])
    assert.deepEqual(await sendTask(bidder, registry, requester.peerId, seal(JobBidMessage.type, { ...bid, price: '0' })), { accepted: false, reason: 'free work is not work' })
  })

  it('task: refuses a bid in another peer\'s name, a replay, and a message that is not a bid or result', async () => {
    const stranger = signerFromPrivateKey(randomBytes(32))
    const cases: Array<[Uint8Array, string]> = [
      [seal(JobBidMessage.type, bid, stranger), 'SignerMismatchError'],
      [seal(JobVerdictMessage.type, { job, worker: '0x' + '11'.repeat(20), resultHash: job, ok: true, checked: [], completion: '0x' + '22'.repeat(65), participation: '0x' + '22'.repeat(65) }), 'UnexpectedMessageTypeError']
    ]
    const once = seal(JobBidMessage.type, bid)
    await sendTask(bidder, registry, requester.peerId, once)
    cases.push([once, 'ReplayedNonceError'])
    for (const [bytes, name] of cases) {
      const err = await expectRejects(sendTask(bidder, registry, requester.peerId, bytes), RemoteError)
      assert.equal(err.details.remoteName, name)
    }
  })

  it('verify: serves a receipt entry, and says when it holds none', async () => {
    assert.deepEqual(await fetchReceiptEntry(bidder, requester.peerId, job, 0), new Uint8Array([1, 2, 3]))
    const err = await expectRejects(fetchReceiptEntry(bidder, requester.peerId, job, 7), RemoteError)
    assert.equal(err.details.remoteName, 'UnknownReceiptEntryError')
  })

  it('rewards: answers with a proof that verifies, and refuses malformed answers', async () => {
    const a = '0x' + '0a'.repeat(20)
    const tree = buildCumulativeTree([{ account: a, cumulative: 7n }, { account: '0x' + '0b'.repeat(20), cumulative: 9n }])
    await serveRewards(requester, async (accounts) => ({ epoch: 3, root: tree.root, finalAt: 100n, leaves: accounts.map(x => ({ account: x, cumulative: tree.cumulativeOf(x) ?? 0n })), proof: tree.proof(accounts[0]) }))
    const answer = await askRewards(bidder, requester.peerId, [a])
    assert.equal(answer.epoch, 3)
    assert.ok(verifyCumulativeProof(answer.root, answer.leaves[0], answer.proof))
    for (const bad of [{ epoch: -1 }, { epoch: 1, root: new Uint8Array(31), finalAt: null, leaves: [], proof: [] }, { epoch: 1, root: new Uint8Array(32), finalAt: null, leaves: [{ account: new Uint8Array(20), cumulative: '1.5' }], proof: [] }]) {
      assert.throws(() => parseRewardsAnswer(encode(bad)), MalformedMessageError)
    }
  })
})
