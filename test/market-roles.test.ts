// The market's roles in memory (test/helpers/memory-market.ts): requester, bidder,
// worker, verifier, forced errors and release played by real MarketServices over a wire
// that carries sealed envelopes through each peer's Inbound door, on a chain with the
// escrow's and staking's rules; a toy job kind stands in for training. What each test
// shows is the attacker's view first: who may call what, and what stops everyone else.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseUnits } from 'ethers'
import { behaviourOf, type MarketBehaviour } from '../peer/market/adversaries/behaviour.ts'
import { MarketService } from '../peer/market/market-service.ts'
import type { JobState } from '../peer/market/job-state.ts'
import type { ModelFactory } from '../peer/models/model-factory.ts'
import type { Identity } from '../peer/identity/keystore.ts'
import { defaultRegistry, JobResultMessage, JobVerdictMessage, JobAnnounceMessage } from '../protocols/messages/index.ts'
import { sealEnvelope } from '../protocols/envelope.ts'
import { MemoryLedger, MemoryNet, NETWORK, OPEN, transportError } from './helpers/memory-market.ts'
import { ToyKind, TOY_BASE, type ToyOptions } from './helpers/toy-kind.ts'
import { waitFor } from './helpers/wait.ts'

interface Peer { id: Identity, market: MarketService, toy: ToyKind, logs: Array<{ msg: string, fields?: Record<string, unknown> }> }

const FAST = { refundSweepMs: 200, releaseGraceMs: 300, revealAfterMs: 5_000, revealGraceMs: 200, revealPauseMs: 50, retryBaseMs: 20, retryMaxMs: 50, verifyRetryMs: 20 }

describe('market roles in memory: requester, bidder, worker, verifier, forced errors, release', function () {
  this.timeout(30_000)
  let dir: string
  let net: MemoryNet
  let ledger: MemoryLedger
  let peers: Peer[]

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), 'openledger-market-roles-'))
    net = new MemoryNet()
    ledger = new MemoryLedger()
    peers = []
  })

  afterEach(async function () {
    for (const p of peers) await p.market.stop()
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 })
  })

  /** A started peer; `stake` in OPEN per role, `toy` its kind's options, `behaviour` an adversary. */
  async function peer (opts: { stake?: Partial<Record<'worker' | 'verifier', bigint>>, balance?: bigint, toy?: Partial<ToyOptions>, behaviour?: MarketBehaviour, forcedErrorRate?: number, device?: 'cpu' | 'webgpu' } = {}): Promise<Peer> {
    const id = net.identity()
    for (const [role, amount] of Object.entries(opts.stake ?? {})) ledger.stake(id.address, role as 'worker' | 'verifier', amount * OPEN)
    ledger.balances.set(id.address.toLowerCase(), (opts.balance ?? 0n) * OPEN)
    const toy = new ToyKind({ worker: id.address, ...opts.toy })
    const logs: Peer['logs'] = []
    const market = new MarketService({
      identity: id,
      network: NETWORK,
      registry: defaultRegistry(),
      wire: net.wire(id),
      chain: ledger.as(id.address),
      factory: {} as ModelFactory,
      modelKind: (m) => m === TOY_BASE ? 'lm' : undefined,
      dataDir: join(dir, String(peers.length)),
      models: {} as never,
      cycles: async () => [],
      kinds: { infer: toy },
      behaviour: opts.behaviour,
      forcedErrorRate: opts.forcedErrorRate ?? 0,
      device: opts.device ?? 'cpu',
      timing: FAST,
      log: (msg, fields) => { logs.push({ msg, fields }) }
    })
    await market.start()
    const p = { id, market, toy, logs }
    peers.push(p)
    return p
  }

  const submit = async (r: Peer, verifiers = 1): Promise<JobState> => await r.market.submit({ infer: { base: TOY_BASE, prompts: ['p'], maxNewTokens: 1 }, amount: '10', verifiers, bidWindowMs: 300 })
  const phase = async (p: Peer, job: string): Promise<string | undefined> => (await p.market.status(job).catch(() => undefined))?.phase

  it('an honest job: escrowed, bid on, assigned by the policy, verified, released; every record ends final', async function () {
    const requester = await peer({ balance: 100n })
    const worker = await peer({ stake: { worker: 100n } })
    const a = await peer({ stake: { verifier: 200n } })
    const b = await peer({ stake: { verifier: 200n } })
    const state = await submit(requester)
    assert.equal(state.phase, 'assigned')
    assert.equal(state.assign?.workers[0].address, worker.id.address)
    // One verifier, the other bid left over referees.
    const [verifier, referee] = state.assign?.verifiers[0].address === a.id.address ? [a, b] : [b, a]
    assert.deepEqual(state.assign?.verifiers.map(v => v.address), [verifier.id.address])
    assert.equal(state.assign?.referee?.address, referee.id.address)
    assert.equal(ledger.jobs.get(state.job)?.amount, parseUnits('10', 18))
    await waitFor('the escrow released', () => ledger.jobs.get(state.job)?.status === 2)
    assert.deepEqual(ledger.jobs.get(state.job)?.verifiers, [verifier.id.address])
    assert.equal(ledger.jobs.get(state.job)?.worker, worker.id.address)
    await waitFor('every record final', async () => await phase(requester, state.job) === 'released' && await phase(worker, state.job) === 'released' && await phase(verifier, state.job) === 'verified')
    assert.equal(ledger.slashes.length, 0)
  })

  it('a peer without stake cannot bid, and the stake a bid claims is read from the chain', async function () {
    const requester = await peer({ balance: 100n })
    const poor = await peer({ stake: { worker: 99n } })
    await peer({ stake: { verifier: 200n } })
    const state = await submit(requester)
    assert.equal(state.phase, 'unassigned')
    assert.ok(!(state.bids ?? []).some(b => b.address === poor.id.address), 'an under-staked peer bid')
    assert.match(state.error ?? '', /not enough eligible bids: 0 worker/)
  })

  it('a peer on another device than the CPU takes no inference job yet (its check compares tokens as a CPU computes them)', async function () {
    const requester = await peer({ balance: 100n })
    const gpu = await peer({ stake: { worker: 1000n, verifier: 1000n }, device: 'webgpu' })
    await peer({ stake: { verifier: 200n } })
    const state = await submit(requester)
    assert.equal(state.phase, 'unassigned')
    assert.ok(!(state.bids ?? []).some(b => b.address === gpu.id.address), 'a webgpu peer bid')
    assert.ok(gpu.logs.some(l => /cpu device only/.test(l.msg)))
  })

  it('a result from anyone but the assigned worker is refused, and a replayed envelope is rejected at the door', async function () {
    const requester = await peer({ balance: 100n })
    const worker = await peer({ stake: { worker: 100n }, toy: { etaMs: 60_000 } })
    const verifier = await peer({ stake: { verifier: 200n } })
    const state = await submit(requester)
    await waitFor('released', () => ledger.jobs.get(state.job)?.status === 2)
    // A staked stranger, joined after the assignment.
    const stranger = await peer({ stake: { worker: 1000n } })
    const fake = { ...(await requester.market.status(state.job)).result!, worker: stranger.id.address }
    const wire = net.wire(stranger.id)
    const sealed = sealEnvelope({ network: NETWORK, type: JobResultMessage.type, body: fake, signer: stranger.id.signer, registry: defaultRegistry() })
    assert.deepEqual(await wire.send(verifier.id.peerId, sealed), { accepted: false, reason: 'not the assigned worker' })
    await assert.rejects(wire.send(verifier.id.peerId, sealed))
    assert.ok(net.rejected.some(r => r.at === verifier.id.peerId && r.error === 'ReplayedNonceError'), JSON.stringify(net.rejected))
    assert.equal(ledger.jobs.get(state.job)?.worker, worker.id.address)
  })

  it('a lying worker is rejected with evidence, the referee confirms, and it is slashed on chain; its requester takes the fee back after the deadline', async function () {
    const requester = await peer({ balance: 100n })
    const liar = await peer({ stake: { worker: 100n }, toy: { lie: true } })
    const checkers = [await peer({ stake: { verifier: 200n } }), await peer({ stake: { verifier: 200n } })]
    const state = await submit(requester)
    // Equal stakes: which is the verifier and which the referee is the policy's pick.
    const [verifier, referee] = state.assign?.verifiers[0].address === checkers[0].id.address ? checkers : [checkers[1], checkers[0]]
    assert.equal(state.assign?.referee?.address, referee.id.address)
    await waitFor('the liar slashed', () => ledger.slashes.find(s => s.peer === liar.id.address))
    const v = await waitFor('the verdict', async () => (await verifier.market.status(state.job)).verdicts?.[0])
    assert.equal(v.ok, false)
    assert.ok(v.evidence !== undefined && v.completion === undefined)
    assert.equal(ledger.slashes.length, 1)
    assert.equal(ledger.slashes[0].prover.toLowerCase(), verifier.id.address.toLowerCase(), 'the verifier that found it is the prover')
    assert.equal((await referee.market.status(state.job)).rulings?.[0]?.faulty, 'worker')
    assert.equal(ledger.stakeOf(liar.id.address, 'worker'), 0n)
    assert.equal(ledger.jobs.get(state.job)?.status, 1, 'a rejected result was released')
    assert.equal(await phase(requester, state.job), 'failed')
    ledger.clock += 3_601
    await waitFor('refunded', async () => await phase(requester, state.job) === 'refunded')
    assert.equal(ledger.jobs.get(state.job)?.status, 3)
    assert.equal(ledger.balances.get(requester.id.address.toLowerCase()), 100n * OPEN)
  })

  // A real L2's verifier quorum is 2: a slash needs the referee's signature and another
  // assigned verifier's. Before, the referee submitted nothing then: cheaters on such a
  // chain were never slashed.
  it('with a verifier quorum of 2, a lying worker rejected by both verifiers is slashed with the referee\'s and a verifier\'s signatures', async function () {
    ledger.params.verifierQuorum = 2
    const requester = await peer({ balance: 100n })
    const liar = await peer({ stake: { worker: 100n }, toy: { lie: true } })
    const checkers = [await peer({ stake: { verifier: 300n } }), await peer({ stake: { verifier: 300n } }), await peer({ stake: { verifier: 200n } })]
    const state = await submit(requester, 2)
    assert.equal(state.assign?.verifiers.length, 2)
    const referee = checkers.find(c => c.id.address === state.assign?.referee?.address)!
    assert.ok(referee !== undefined)
    const s = await waitFor('the liar slashed', () => ledger.slashes.find(x => x.peer === liar.id.address))
    assert.equal(s.role, 'worker')
    assert.equal(ledger.stakeOf(liar.id.address, 'worker'), 0n)
    const cosigned = checkers.filter(c => c !== referee && c.logs.some(l => l.msg === 'slash co-signed'))
    assert.ok(cosigned.length >= 1, 'a verifier co-signed')
    assert.equal(ledger.jobs.get(state.job)?.status, 1, 'a rejected result was released')
  })

  it('with a verifier quorum of 2, a false accuser is slashed with the co-signature of the verifier that approved, and the worker is paid', async function () {
    ledger.params.verifierQuorum = 2
    const requester = await peer({ balance: 100n })
    const worker = await peer({ stake: { worker: 100n } })
    const accuser = await peer({ stake: { verifier: 400n }, toy: { rejectsAll: true } })
    const honest = await peer({ stake: { verifier: 300n } })
    const referee = await peer({ stake: { verifier: 200n } })
    const state = await submit(requester, 2)
    assert.deepEqual(new Set(state.assign?.verifiers.map(v => v.address)), new Set([accuser.id.address, honest.id.address]))
    assert.equal(state.assign?.referee?.address, referee.id.address)
    const s = await waitFor('the accuser slashed', () => ledger.slashes.find(x => x.peer === accuser.id.address))
    assert.equal(s.role, 'verifier')
    assert.ok(honest.logs.some(l => l.msg === 'slash co-signed'))
    await waitFor('released', () => ledger.jobs.get(state.job)?.status === 2)
    assert.ok(!ledger.slashes.some(x => x.peer === worker.id.address), 'the honest worker was slashed')
  })

  it('nobody borrows an honest verifier\'s signature: asked to co-sign a slash of work it approved, of itself, or of a job it never verified, it refuses', async function () {
    ledger.params.verifierQuorum = 2
    const requester = await peer({ balance: 100n })
    const worker = await peer({ stake: { worker: 100n } })
    const v1 = await peer({ stake: { verifier: 300n } })
    const v2 = await peer({ stake: { verifier: 300n } })
    const state = await submit(requester, 2)
    await waitFor('released', () => ledger.jobs.get(state.job)?.status === 2)
    const resultHash = (await v1.market.status(state.job)).result!.resultHash
    // A staked stranger plays the referee and asks v1.
    const stranger = await peer({ stake: { verifier: 1000n } })
    const ask = async (over: Record<string, string>): Promise<string | undefined> => {
      try {
        await net.wire(stranger.id).askSlashCosign(v1.id.peerId, { jobId: state.job, peer: worker.id.address, role: 'worker', amount: (10n * OPEN).toString(), evidence: '0x' + '11'.repeat(32), prover: stranger.id.address, resultHash, fault: 'wrong-result', ...over } as never)
        return undefined
      } catch (err) {
        return (err as { details?: { remoteMessage?: string } }).details?.remoteMessage
      }
    }
    assert.match(await ask({}) ?? 'SIGNED', /approved that result/)
    assert.match(await ask({ peer: v2.id.address, role: 'verifier', fault: 'false-accusation' }) ?? 'SIGNED', /agrees with this peer's/)
    assert.match(await ask({ peer: v1.id.address, role: 'verifier', fault: 'false-accusation' }) ?? 'SIGNED', /its own slash/)
    assert.match(await ask({ jobId: '0x' + '77'.repeat(32) }) ?? 'SIGNED', /knows no assignment/)
    assert.match(await ask({ resultHash: '0x' + '66'.repeat(32) }) ?? 'SIGNED', /no verdict on that result/)
    assert.equal(ledger.slashes.length, 0)
  })

  it('a verifier never slashes on its own word: without a referee a lying worker is not paid, and nobody is slashed', async function () {
    const requester = await peer({ balance: 100n })
    const liar = await peer({ stake: { worker: 100n }, toy: { lie: true } })
    const verifier = await peer({ stake: { verifier: 200n } })
    const state = await submit(requester)
    assert.equal(state.assign?.referee, undefined)
    await waitFor('the rejection', async () => (await verifier.market.status(state.job)).verdicts?.[0]?.ok === false)
    await waitFor('the verifier handing it to nobody', () => verifier.logs.some(l => l.msg === 'no referee for this job: the result is not paid, nobody is slashed'))
    assert.equal(ledger.slashes.length, 0)
    assert.equal(ledger.jobs.get(state.job)?.status, 1)
    assert.equal(ledger.stakeOf(liar.id.address, 'worker'), 100n * OPEN)
  })

  it('a false accuser planted as verifier rejects honest work: the referee re-runs the check, refutes it, slashes it, and the worker is paid', async function () {
    const requester = await peer({ balance: 100n })
    const worker = await peer({ stake: { worker: 100n } })
    const accuser = await peer({ stake: { verifier: 300n }, toy: { rejectsAll: true } })
    const referee = await peer({ stake: { verifier: 200n } })
    const state = await submit(requester)
    assert.equal(state.assign?.verifiers[0].address, accuser.id.address)
    assert.equal(state.assign?.referee?.address, referee.id.address)
    await waitFor('released', () => ledger.jobs.get(state.job)?.status === 2)
    assert.deepEqual(ledger.jobs.get(state.job)?.verifiers, [referee.id.address], 'the referee\'s ruling released it')
    const s = await waitFor('the accuser slashed', () => ledger.slashes.find(x => x.peer === accuser.id.address))
    assert.equal(s.role, 'verifier')
    assert.equal(s.prover.toLowerCase(), worker.id.address.toLowerCase(), 'the wronged worker is the prover')
    assert.ok(!ledger.slashes.some(x => x.peer === worker.id.address), 'the honest worker was slashed')
  })

  it('an inference result is delivered with retries: the first two hand-overs to the verifier drop, it still verifies and is paid', async function () {
    const requester = await peer({ balance: 100n })
    const worker = await peer({ stake: { worker: 100n } })
    const verifier = await peer({ stake: { verifier: 200n } })
    let dropped = 0
    net.fault = (m) => m.what === 'task' && m.from === worker.id.peerId && m.to === verifier.id.peerId && m.type === JobResultMessage.type && dropped++ < 2 ? transportError('StreamResetError') : undefined
    const state = await submit(requester)
    assert.equal(state.announce.kind, 'infer')
    await waitFor('released', () => ledger.jobs.get(state.job)?.status === 2)
    assert.equal(dropped, 3)
    assert.equal(worker.logs.filter(l => l.msg === 'result not delivered' && l.fields?.peer === verifier.id.peerId).length, 2)
  })

  it('a verification that fails on the network is retried, then judged unproven: not paid, nobody slashed', async function () {
    const requester = await peer({ balance: 100n })
    const worker = await peer({ stake: { worker: 100n } })
    const verifier = await peer({ stake: { verifier: 200n } })
    net.fault = (m) => m.what === 'fetch' && m.from === verifier.id.peerId ? transportError('RequestTimeoutError') : undefined
    const state = await submit(requester)
    const v = await waitFor('the verdict', async () => (await verifier.market.status(state.job)).verdicts?.[0])
    assert.equal(v.ok, false)
    assert.equal((await verifier.market.status(state.job)).evidence !== undefined, true)
    assert.equal(((await verifier.market.status(state.job)).evidence as { unproven?: boolean }).unproven, true)
    assert.equal(verifier.logs.filter(l => l.msg === 'verification interrupted: trying again').length, 2)
    await waitFor('the verifier gave up slashing', () => verifier.logs.some(l => l.msg === 'verification failed on the network: the worker is not slashed'))
    assert.equal(ledger.slashes.length, 0)
    assert.equal(ledger.jobs.get(state.job)?.status, 1)
    assert.equal(ledger.stakeOf(worker.id.address, 'worker'), 100n * OPEN)
  })

  it('forced errors: a verifier that approves without checking is slashed through the referee, its honest co-verifier the prover, and the real result is paid', async function () {
    const requester = await peer({ balance: 100n, forcedErrorRate: 1 })
    const worker = await peer({ stake: { worker: 100n }, forcedErrorRate: 1 })
    const lazy = await peer({ stake: { verifier: 300n }, behaviour: behaviourOf('approve'), forcedErrorRate: 1 })
    const honest = await peer({ stake: { verifier: 250n }, forcedErrorRate: 1 })
    const referee = await peer({ stake: { verifier: 200n }, forcedErrorRate: 1 })
    const state = await submit(requester, 2)
    assert.deepEqual(new Set(state.assign?.verifiers.map(v => v.address)), new Set([lazy.id.address, honest.id.address]))
    assert.equal(state.assign?.referee?.address, referee.id.address)
    await waitFor('the lazy verifier slashed', () => ledger.slashes.find(s => s.peer === lazy.id.address))
    const s = ledger.slashes.find(x => x.peer === lazy.id.address)!
    assert.equal(s.role, 'verifier')
    assert.equal(s.prover.toLowerCase(), honest.id.address.toLowerCase())
    await waitFor('the real result released', () => ledger.jobs.get(state.job)?.status === 2)
    assert.deepEqual(ledger.jobs.get(state.job)?.verifiers, [honest.id.address], 'the slashed approver signed the release')
    assert.ok(!ledger.slashes.some(x => x.peer === worker.id.address), 'the worker was slashed for its forced error')
    assert.ok((await referee.market.status(state.job)).lazySlashes?.some(l => l.verifier === lazy.id.address))
  })

  it('a silent worker is replaced by the next-best bidder, which is paid; the silent one records a timeout', async function () {
    this.timeout(40_000)
    const requester = await peer({ balance: 100n })
    const silent = await peer({ stake: { worker: 500n }, toy: { silent: true, etaMs: 150 } })
    const second = await peer({ stake: { worker: 100n }, toy: { etaMs: 150 } })
    await peer({ stake: { verifier: 200n } })
    const state = await submit(requester)
    const first = state.assign!.workers[0].address
    await waitFor('released', () => ledger.jobs.get(state.job)?.status === 2, 25_000) // a liveness wait: the replacement runs on real timers, slower on a loaded machine
    const final = await requester.market.status(state.job)
    assert.equal(final.silent?.length, 1)
    assert.notEqual(final.assign!.workers[0].address, first)
    assert.equal(ledger.jobs.get(state.job)?.worker, [silent, second].find(p => p.id.address !== first)!.id.address)
  })

  it('verdicts count only from assigned verifiers, and a late failing verdict does not reopen a released job', async function () {
    const requester = await peer({ balance: 100n })
    await peer({ stake: { worker: 100n } })
    const verifier = await peer({ stake: { verifier: 200n } })
    const state = await submit(requester)
    await waitFor('released', async () => await phase(requester, state.job) === 'released')
    const stranger = await peer({ stake: { verifier: 1000n } })
    const result = (await requester.market.status(state.job)).result!
    const body = { job: state.job, worker: result.worker, resultHash: result.resultHash, ok: false, checked: [], evidence: { hash: '0x' + '1'.repeat(64), cid: result.result }, participation: '0x' + '11'.repeat(65) }
    for (const who of [stranger, verifier]) {
      await net.wire(who.id).publish('verdicts', sealEnvelope({ network: NETWORK, type: JobVerdictMessage.type, body, signer: who.id.signer, registry: defaultRegistry() }))
    }
    await new Promise(resolve => setTimeout(resolve, 200))
    const after = await requester.market.status(state.job)
    assert.equal(after.phase, 'released')
    assert.ok(!(after.verdicts ?? []).some(v => v.by === stranger.id.address), 'a stranger\'s verdict was kept')
  })

  it('a job is assigned at least the escrow\'s verifier quorum: fewer is refused before any OPEN moves, none asked gives the quorum', async function () {
    ledger.params.verifierQuorum = 2 // a real L2's
    const requester = await peer({ balance: 100n })
    await assert.rejects(submit(requester, 1), (err: Error) => err.name === 'UsageError' && /2 verifiers' signatures: assign at least 2/.test(err.message))
    assert.equal(ledger.balances.get(requester.id.address.toLowerCase()), 100n * OPEN, 'nothing escrowed')
    const state = await requester.market.submit({ infer: { base: TOY_BASE, prompts: ['p'], maxNewTokens: 1 }, amount: '10', bidWindowMs: 100 })
    assert.equal(state.announce.verifiers, 2)
  })

  it('nobody bids on an announce whose fee is not in escrow as announced', async function () {
    const requester = await peer({ balance: 100n })
    const worker = await peer({ stake: { worker: 100n } })
    const body = {
      job: '0x' + 'ab'.repeat(32), kind: 'infer', spec: { base: TOY_BASE, params: {} },
      escrow: { chainId: ledger.chainId, contract: ledger.escrow, amount: (10n * OPEN).toString(), deadline: (ledger.clock + 3600) * 1000 },
      maxPrice: (10n * OPEN).toString(), requiredStake: '0', workers: 1, verifiers: 1, bidUntil: Date.now() + 1_000
    }
    await net.wire(requester.id).publish('jobs', sealEnvelope({ network: NETWORK, type: JobAnnounceMessage.type, body, signer: requester.id.signer, registry: defaultRegistry() }))
    await waitFor('the announce ignored', () => worker.logs.some(l => l.msg === 'job announce without matching escrow ignored'))
    assert.equal(await worker.market.status(body.job).catch(() => undefined), undefined)
  })

  it('nobody bids on a job whose escrow expires before the work could be done (a refund that keeps the result)', async function () {
    const requester = await peer({ balance: 100n })
    const worker = await peer({ stake: { worker: 100n }, toy: { etaMs: 600_000 } })
    const job = '0x' + 'cd'.repeat(32)
    // Ten minutes of work, an escrow of five: it would expire on delivery.
    await ledger.as(requester.id.address).openJob(job, 10n * OPEN, ledger.clock + 300)
    const body = {
      job, kind: 'infer', spec: { base: TOY_BASE, params: {} },
      escrow: { chainId: ledger.chainId, contract: ledger.escrow, amount: (10n * OPEN).toString(), deadline: (ledger.clock + 300) * 1000 },
      maxPrice: (10n * OPEN).toString(), requiredStake: '0', workers: 1, verifiers: 1, bidUntil: Date.now() + 1_000
    }
    await net.wire(requester.id).publish('jobs', sealEnvelope({ network: NETWORK, type: JobAnnounceMessage.type, body, signer: requester.id.signer, registry: defaultRegistry() }))
    await waitFor('the announce ignored', () => worker.logs.some(l => l.msg === 'job announce with too short an escrow ignored'))
    assert.equal(await worker.market.status(job).catch(() => undefined), undefined)
  })

  it('a worker serves its receipt only to the job\'s own peers until the escrow pays, then to anyone', async function () {
    const requester = await peer({ balance: 100n })
    const worker = await peer({ stake: { worker: 100n } })
    const verifier = await peer({ stake: { verifier: 200n } })
    const stranger = await peer()
    // The verifier gets no result until the stranger has tried: the job stays unpaid meanwhile.
    let hold = true
    let dropped = 0
    net.fault = (m) => hold && m.what === 'task' && m.from === worker.id.peerId && m.to === verifier.id.peerId && m.type === JobResultMessage.type ? (dropped++, transportError('StreamResetError')) : undefined
    const state = await submit(requester)
    await waitFor('the worker\'s result sent', async () => dropped >= 1)
    assert.notEqual(ledger.jobs.get(state.job)?.status, 2)
    await assert.rejects(net.wire(stranger.id).fetch(worker.id.peerId, state.job, 'receipt'), /UnknownReceiptEntryError/)
    assert.ok((await net.wire(requester.id).fetch(worker.id.peerId, state.job, 'receipt')).byteLength > 0, 'the requester is one of the job\'s peers')
    assert.ok((await net.wire(verifier.id).fetch(worker.id.peerId, state.job, 'receipt')).byteLength > 0)
    hold = false
    await waitFor('released', () => ledger.jobs.get(state.job)?.status === 2)
    assert.ok((await net.wire(stranger.id).fetch(worker.id.peerId, state.job, 'receipt')).byteLength > 0)
  })
})
