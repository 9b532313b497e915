// The task market in memory, for unit tests of its roles: an in-memory chain with the
// escrow's and staking's rules (a release needs a quorum of staked verifiers' Completion
// signatures, ascending; a refund waits for the deadline; a slash takes at most the
// stake), and a wire that carries sealed envelopes between peers through each peer's
// own Inbound door (signature, replay window, schema), with faults that can be injected.
// No sockets, no blocks, no chain process: a market test runs in milliseconds.
import { randomBytes } from 'node:crypto'
import { ZeroAddress, getAddress, verifyTypedData, type TypedDataDomain } from 'ethers'
import { identityFromPrivateKey, type Identity } from '../../peer/identity/keystore.ts'
import type { EscrowAssignment, JobInfo, MarketChain, SlashCase } from '../../peer/market/chain.ts'
import type { MarketHandlers, MarketTopic, MarketWire } from '../../peer/market/wire.ts'
import { identityOf } from '../../protocols/identity.ts'
import { Inbound } from '../../protocols/inbound.ts'
import { defaultRegistry, DisputeClaimMessage, DisputeQueryMessage, JobBidMessage, JobProgressMessage, JobResultMessage } from '../../protocols/messages/index.ts'
import { ReplayGuard } from '../../protocols/replay-guard.ts'
import { JOBS_TOPIC, VERDICTS_TOPIC } from '../../protocols/topics.ts'
import { domain, TYPES } from '../../settlement/chain/signatures.ts'
import type { StakeRole } from '../../settlement/policy/index.ts'

export const NETWORK = 'memnet'
export const OPEN = 10n ** 18n

/** An error named like a transport's (the verifier retries these). */
export function transportError (name: string, message = name): Error {
  const e = new Error(message)
  e.name = name
  return e
}

/** The chain every memory peer shares: escrow, stakes, registry parameters, a clock. */
export class MemoryLedger {
  readonly chainId = 31337
  readonly escrow = '0x' + 'e5'.repeat(20)
  readonly staking = '0x' + '5a'.repeat(20)
  /** Unix seconds; tests move it. */
  clock = 1_800_000_000
  params = {
    minStake: { worker: 100n * OPEN, verifier: 200n * OPEN, aggregator: 1000n * OPEN } as Record<StakeRole, bigint>,
    slashAmount: { worker: 100n * OPEN, verifier: 200n * OPEN, aggregator: 1000n * OPEN } as Record<StakeRole, bigint>,
    auditRateBps: 1500,
    workerShareBps: 7000,
    proverShareBps: 5000,
    verifierQuorum: 1
  }

  readonly jobs = new Map<string, JobInfo & { worker?: string, resultHash?: string, verifiers?: string[], block?: number }>()
  readonly stakes = new Map<string, bigint>()
  readonly balances = new Map<string, bigint>()
  readonly slashes: Array<{ peer: string, role: StakeRole, amount: bigint, evidence: string, prover: string }> = []
  private block = 1
  private txs = 0

  stake (address: string, role: StakeRole, amount: bigint): void {
    this.stakes.set(`${address.toLowerCase()}:${role}`, this.stakeOf(address, role) + amount)
  }

  stakeOf (address: string, role: StakeRole): bigint {
    return this.stakes.get(`${address.toLowerCase()}:${role}`) ?? 0n
  }

  tx (): string {
    return '0x' + (++this.txs).toString(16).padStart(64, '0')
  }

  /** The chain as one account sees it (that account sends its transactions). */
  as (account: string): MemoryChain {
    return new MemoryChain(this, account)
  }

  /** Signers of 65-byte signatures over typed data, checked as QuorumSigned does: ascending, staked, at least the quorum. */
  quorumSigners (signatures: string, dom: TypedDataDomain, type: 'Completion' | 'Slash', value: Record<string, unknown>, role: StakeRole, quorum: number): string[] {
    const hex = signatures.slice(2)
    if (hex.length % 130 !== 0) throw new Error('SignaturesMalformed')
    const n = hex.length / 130
    if (n < quorum || n === 0) throw new Error('TooFewSignatures')
    const out: string[] = []
    for (let i = 0; i < n; i++) {
      const signer = getAddress(verifyTypedData(dom, { [type]: [...TYPES[type]] }, value, '0x' + hex.slice(i * 130, (i + 1) * 130)))
      if (out.length > 0 && BigInt(signer) <= BigInt(out.at(-1)!)) throw new Error('SignersNotAscending')
      if (this.stakeOf(signer, role) < this.params.minStake[role]) throw new Error(`SignerNotStaked ${signer}`)
      out.push(signer)
    }
    return out
  }

  nextBlock (): number { return ++this.block }
}

const same = (x: string, y: string): boolean => x.toLowerCase() === y.toLowerCase()

export class MemoryChain implements MarketChain {
  private readonly l: MemoryLedger
  private readonly account: string

  constructor (ledger: MemoryLedger, account: string) {
    this.l = ledger
    this.account = account
  }

  get chainId (): number { return this.l.chainId }
  get escrowAddress (): string { return this.l.escrow }
  now = async (): Promise<number> => this.l.clock

  openJob = async (job: string, fee: bigint, deadline: number): Promise<string> => {
    if (fee === 0n) throw new Error('ZeroAmount')
    if (deadline <= this.l.clock) throw new Error('DeadlinePassed')
    if (this.l.jobs.has(job)) throw new Error('JobExists')
    const balance = this.l.balances.get(this.account.toLowerCase()) ?? 0n
    if (balance < fee) throw new Error('InsufficientBalance')
    this.l.balances.set(this.account.toLowerCase(), balance - fee)
    this.l.jobs.set(job, { requester: this.account, amount: fee, deadline: BigInt(deadline), status: 1 })
    return this.l.tx()
  }

  jobOf = async (job: string): Promise<JobInfo> => {
    const j = this.l.jobs.get(job)
    return j === undefined ? { requester: '0x' + '0'.repeat(40), amount: 0n, deadline: 0n, status: 0 } : { requester: j.requester, amount: j.amount, deadline: j.deadline, status: j.status }
  }

  /** JobEscrow.release's rules: the requester's signed assignment, a quorum of its assigned verifiers (or referee), never the worker. */
  releaseJob = async (job: string, a: EscrowAssignment, assignmentSignature: string, resultHash: string, signatures: string): Promise<string> => {
    const j = this.l.jobs.get(job)
    if (j?.status !== 1) throw new Error('JobNotOpen')
    if (BigInt(this.l.clock) > j.deadline) throw new Error('JobExpired')
    const referee = a.referee ?? ZeroAddress
    if (a.verifiers.length === 0 || a.verifiers.length > 16 || a.verifiers.includes(a.worker) || same(referee, a.worker)) throw new Error('AssignmentMalformed')
    const dom = domain('escrow', this.l.chainId, this.l.escrow)
    const message = { jobId: job, worker: a.worker, verifiers: a.verifiers, referee, spec: a.spec }
    if (!same(verifyTypedData(dom, { Assignment: [...TYPES.Assignment] }, message, assignmentSignature), j.requester)) throw new Error('AssignmentNotByRequester')
    const signers = this.l.quorumSigners(signatures, dom, 'Completion', { jobId: job, worker: a.worker, resultHash }, 'verifier', this.l.params.verifierQuorum)
    for (const s of signers) {
      if (same(s, a.worker)) throw new Error('WorkerSignedOwnCompletion')
      if (!same(s, referee) && !a.verifiers.some(v => same(v, s))) throw new Error(`SignerNotAssigned ${s}`)
    }
    j.verifiers = signers
    j.status = 2
    j.worker = a.worker
    j.resultHash = resultHash
    j.block = this.l.nextBlock()
    return this.l.tx()
  }

  refundJob = async (job: string): Promise<string> => {
    const j = this.l.jobs.get(job)
    if (j?.status !== 1) throw new Error('JobNotOpen')
    if (BigInt(this.l.clock) <= j.deadline) throw new Error('JobNotExpired')
    j.status = 3
    this.l.balances.set(j.requester.toLowerCase(), (this.l.balances.get(j.requester.toLowerCase()) ?? 0n) + j.amount)
    return this.l.tx()
  }

  jobReleased = async (job: string): Promise<{ worker: string, resultHash: string, block: number } | undefined> => {
    const j = this.l.jobs.get(job)
    return j?.status === 2 ? { worker: j.worker!, resultHash: j.resultHash!, block: j.block! } : undefined
  }

  stakeOf = async (address: string, role: StakeRole): Promise<bigint> => this.l.stakeOf(address, role)
  slashableOf = async (address: string, role: StakeRole): Promise<bigint> => this.l.stakeOf(address, role)

  /** Staking.slash's rules: the requester's assignment names the peer, it signed its participation, the referee signs, every signer assigned. */
  slash = async (c: SlashCase, a: EscrowAssignment, assignmentSignature: string, participation: string, signatures: string): Promise<string> => {
    const role = (['worker', 'verifier'] as const)[c.role]
    if (role === undefined) throw new Error('RoleNotSlashableByJob')
    const j = this.l.jobs.get(c.jobId)
    if (j === undefined) throw new Error('JobNotOpen')
    const referee = a.referee ?? ZeroAddress
    const escrowDomain = domain('escrow', this.l.chainId, this.l.escrow)
    if (!same(verifyTypedData(escrowDomain, { Assignment: [...TYPES.Assignment] }, { jobId: c.jobId, worker: a.worker, verifiers: a.verifiers, referee, spec: a.spec }, assignmentSignature), j.requester)) throw new Error('AssignmentNotByRequester')
    if (same(referee, ZeroAddress)) throw new Error('NoReferee')
    if (role === 'worker' ? !same(c.peer, a.worker) : !a.verifiers.some(v => same(v, c.peer))) throw new Error('NotAssignedToJob')
    if (!same(verifyTypedData(escrowDomain, { Participation: [...TYPES.Participation] }, { jobId: c.jobId, resultHash: c.resultHash }, participation), c.peer)) throw new Error('NoParticipation')
    const signers = this.l.quorumSigners(signatures, domain('staking', this.l.chainId, this.l.staking), 'Slash', { ...c }, 'verifier', this.l.params.verifierQuorum)
    for (const s of signers) {
      if (same(s, c.peer)) throw new Error('SlashedPeerSigned')
      if (!same(s, referee) && !a.verifiers.some(v => same(v, s))) throw new Error('SignerNotAssigned')
    }
    if (!signers.some(s => same(s, referee))) throw new Error('RefereeMustSign')
    const have = this.l.stakeOf(c.peer, role)
    const taken = have < c.amount ? have : c.amount
    if (taken === 0n) throw new Error('NothingToSlash')
    this.l.stakes.set(`${c.peer.toLowerCase()}:${role}`, have - taken)
    this.l.slashes.push({ peer: getAddress(c.peer), role, amount: taken, evidence: c.evidence, prover: c.prover })
    return this.l.tx()
  }

  minStake = async (role: StakeRole): Promise<bigint> => this.l.params.minStake[role]
  slashAmount = async (role: StakeRole): Promise<bigint> => this.l.params.slashAmount[role]
  auditRateBps = async (): Promise<number> => this.l.params.auditRateBps
  workerShareBps = async (): Promise<number> => this.l.params.workerShareBps
  proverShareBps = async (): Promise<number> => this.l.params.proverShareBps
  verifierQuorum = async (): Promise<number> => this.l.params.verifierQuorum
  domain = (contract: 'escrow' | 'staking'): TypedDataDomain => domain(contract, this.l.chainId, contract === 'escrow' ? this.l.escrow : this.l.staking)
}

/** What the wire may do to a message: deliver it, or fail it with a transport error. */
export type Fault = (m: { from: string, to: string, what: 'gossip' | 'task' | 'fetch' | 'dispute' | 'slash', type?: string }) => Error | undefined

/** The peers of one in-memory network and the faults it injects. */
export class MemoryNet {
  readonly peers = new Map<string, { identity: Identity, inbound: Inbound, handlers?: MarketHandlers }>()
  /** Every inbound rejection, by peer: what an attacker's message ran into. */
  readonly rejected: Array<{ at: string, channel: string, error?: string }> = []
  fault: Fault = () => undefined

  identity (): Identity {
    const identity = identityFromPrivateKey(randomBytes(32))
    const inbound = new Inbound({
      network: NETWORK,
      registry: defaultRegistry(),
      replayGuard: new ReplayGuard(),
      onEvent: (e) => { if (e.verdict !== 'accept') this.rejected.push({ at: identity.peerId, channel: e.channel, error: e.error?.name }) }
    })
    this.peers.set(identity.peerId, { identity, inbound })
    return identity
  }

  wire (identity: Identity): MarketWire {
    const me = identity.peerId
    const target = (peer: string, what: 'task' | 'fetch' | 'dispute' | 'slash', type?: string): { inbound: Inbound, handlers: MarketHandlers } => {
      const p = this.peers.get(peer)
      const err = this.fault({ from: me, to: peer, what, type })
      if (err !== undefined) throw err
      if (p?.handlers === undefined) throw transportError('DialError', `no peer ${peer} on the memory net`)
      return { inbound: p.inbound, handlers: p.handlers }
    }
    const typeOf = (bytes: Uint8Array): string | undefined => {
      const m = /job-(bid|result|progress)\/1|dispute-query\/1/.exec(Buffer.from(bytes).toString('latin1'))
      return m?.[0]
    }
    return {
      start: async (h) => { this.peers.get(me)!.handlers = h },
      stop: async () => { this.peers.get(me)!.handlers = undefined },
      publish: async (topic: MarketTopic, envelope: Uint8Array) => {
        const spec = topic === 'jobs' ? JOBS_TOPIC : VERDICTS_TOPIC
        for (const [peer, p] of this.peers) {
          if (peer === me || p.handlers === undefined || this.fault({ from: me, to: peer, what: 'gossip' }) !== undefined) continue
          setImmediate(() => {
            try {
              p.handlers?.onGossip(topic, p.inbound.open(envelope, `gossip:${spec.name}`, me, spec.accept))
            } catch { /* rejected: recorded by the inbound door */ }
          })
        }
      },
      send: async (peer, envelope) => {
        const t = target(peer, 'task', typeOf(envelope))
        const env = t.inbound.open<never>(envelope, 'proto:/openledger/task/1.0.0', me, [JobBidMessage.type, JobResultMessage.type, JobProgressMessage.type], (e) => {
          if (identityOf(e.signer).peerId !== me) throw transportError('SignerMismatchError')
        })
        const type = (env as { type: string }).type
        if (type === JobBidMessage.type) return await t.handlers.onBid(env, me)
        if (type === JobResultMessage.type) return await t.handlers.onResult(env, me)
        return await t.handlers.onProgress(env, me)
      },
      fetch: async (peer, job, entry) => {
        const bytes = await target(peer, 'fetch').handlers.serveEntry(job, entry, me)
        if (bytes === undefined) throw Object.assign(transportError('RemoteError', 'peer refused the request: UnknownReceiptEntryError'), { details: { remoteName: 'UnknownReceiptEntryError' } })
        return bytes
      },
      askDispute: async (peer, query, envelope) => {
        const t = target(peer, 'dispute')
        const env = t.inbound.open<never>(envelope, 'proto:/openledger/dispute/1.0.0', me, [DisputeQueryMessage.type])
        const answer = await t.handlers.onDisputeQuery(env, me)
        if ('state' in answer) return { state: answer.state }
        const mine = this.peers.get(me)!.inbound
        return { claim: mine.open(answer.claim, 'proto:/openledger/dispute/1.0.0:claim', peer, [DisputeClaimMessage.type]), claimBytes: answer.claim }
      },
      askSlashCosign: async (peer, req) => {
        try {
          return await target(peer, 'slash').handlers.onSlashCosign(req, me)
        } catch (err) {
          // What a remote refusal looks like on the libp2p wire.
          if ((err as Error).name === 'SlashCosignRefusedError') throw Object.assign(transportError('RemoteError', `peer refused the request: ${(err as Error).name}`), { details: { remoteName: (err as Error).name, remoteMessage: (err as Error).message } })
          throw err
        }
      }
    }
  }
}
