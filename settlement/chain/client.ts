// Thin typed wrappers over ethers Contracts for what the peer and the CLI do on chain:
// stake, escrow jobs, post/challenge/claim reward roots, run governance. Each write
// waits for its receipt; a revert comes back as ContractRevertError whose
// details.error is the Solidity custom error's name and details.args its arguments,
// decoded with the ABIs of all our contracts (a revert may come from a callee).
import {
  Contract, ErrorDescription, Interface, JsonRpcProvider, ZeroAddress, id, isError,
  type ContractRunner, type InterfaceAbi, type Log, type LogDescription, type TransactionReceipt
} from 'ethers'
import { compileContracts } from './compile.ts'
import { ContractRevertError } from './errors.ts'
import { domain, type DomainContract } from './signatures.ts'
import type { TypedDataDomain } from 'ethers'

export const ROLE = { worker: 0, verifier: 1, aggregator: 2 } as const
export type Role = typeof ROLE[keyof typeof ROLE]

/** What deploy() writes: every contract address of one deployment. */
export interface Addresses {
  chainId: number
  open: string
  gopen: string
  governor: string
  timelock: string
  registry: string
  staking: string
  escrow: string
  distributor: string
  treasury: string
  deployBlock: number
}

export const CONTRACT_NAMES = {
  open: 'OPEN',
  gopen: 'GOpen',
  governor: 'OpenGovernor',
  timelock: 'Timelock',
  registry: 'ParameterRegistry',
  staking: 'Staking',
  escrow: 'JobEscrow',
  distributor: 'RewardDistributor'
} as const
export type ContractKey = keyof typeof CONTRACT_NAMES

/** OpenZeppelin's Governor states, by their enum index. */
export const PROPOSAL_STATES = ['Pending', 'Active', 'Canceled', 'Defeated', 'Succeeded', 'Queued', 'Expired', 'Executed'] as const
export type ProposalState = typeof PROPOSAL_STATES[number]

export interface Proposal {
  targets: string[]
  values: bigint[]
  calldatas: string[]
  description: string
}

/** One slash as Staking.slash takes it: of `peer` in `role` on job `jobId`, over the result `resultHash`. */
export interface SlashCase { jobId: string, peer: string, role: number, amount: bigint, evidence: string, prover: string, resultHash: string }

/** Who a requester assigned to a job, as the escrow takes it (referee absent: none). */
export interface EscrowAssignment { worker: string, verifiers: string[], referee?: string, spec: string }

/** toBlock: the last block whose escrow releases the epoch pays (0 when not posted). */
export interface RootInfo { root: string, total: bigint, finalAt: bigint, toBlock: bigint }
export interface JobInfo { requester: string, amount: bigint, deadline: bigint, status: number }
/** One JobReleased event: who was paid how much for which result, under which spec, in which block. */
export interface JobRelease { jobId: string, worker: string, resultHash: string, amount: bigint, verifiers: string[], spec: string, block: number }

/** A JSON-RPC provider tuned for a local chain: no batching stall, no caching, fast polling. */
export function connectProvider (rpcUrl: string, chainId?: number): JsonRpcProvider {
  const provider = new JsonRpcProvider(rpcUrl, chainId, { staticNetwork: chainId !== undefined, batchMaxCount: 1, cacheTimeout: -1 })
  provider.pollingInterval = 50
  return provider
}

let abisP: Promise<Record<string, InterfaceAbi>> | undefined
/** Every compiled contract's ABI, by contract name (from the compile cache once built). */
export async function loadAbis (): Promise<Record<string, InterfaceAbi>> {
  abisP ??= compileContracts().then(r => Object.fromEntries(Object.entries(r.contracts).map(([n, a]) => [n, a.abi as InterfaceAbi])))
  return await abisP
}

/** One Interface with the custom errors of every ABI, to decode a revert from any callee. */
export function errorInterface (abis: Record<string, InterfaceAbi>): Interface {
  const seen = new Map<string, unknown>()
  for (const abi of Object.values(abis)) {
    for (const f of abi as Array<{ type: string, name: string, inputs: Array<{ type: string }> }>) {
      if (f.type !== 'error') continue
      const sig = `${f.name}(${f.inputs.map(i => i.type).join(',')})`
      if (!seen.has(sig)) seen.set(sig, f)
    }
  }
  return new Interface([...seen.values()] as InterfaceAbi)
}

function revertData (err: unknown): string | undefined {
  let e: any = err
  for (let depth = 0; e != null && depth < 6; depth++) {
    if (typeof e.data === 'string' && e.data.startsWith('0x')) return e.data
    if (typeof e.data?.data === 'string') return e.data.data
    e = e.error ?? e.info?.error ?? e.cause
  }
  return undefined
}

function argsByName (desc: ErrorDescription): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  desc.fragment.inputs.forEach((input, i) => { out[input.name !== '' ? input.name : String(i)] = desc.args[i] })
  return out
}

/** Turns an ethers revert into ContractRevertError; other errors pass through unchanged. */
export function decodeRevert (err: unknown, errors: Interface, where: { contract: string, method: string }): unknown {
  if (!isError(err, 'CALL_EXCEPTION') && revertData(err) === undefined) return err
  const data = revertData(err)
  if (data === undefined || data === '0x') {
    return new ContractRevertError(`${where.contract}.${where.method} reverted without data`, { ...where, error: 'unknown', args: {}, data: data ?? null })
  }
  let desc: ErrorDescription | null = null
  try { desc = errors.parseError(data) } catch {}
  if (desc === null) {
    return new ContractRevertError(`${where.contract}.${where.method} reverted`, { ...where, error: 'unknown', args: {}, data })
  }
  // ethers parses Error(string) and Panic(uint256) itself, under those names.
  return new ContractRevertError(`${where.contract}.${where.method} reverted: ${desc.name}`, { ...where, error: desc.name, args: argsByName(desc), data })
}

export interface TxResult {
  receipt: TransactionReceipt
  gasUsed: bigint
  /** Logs this transaction emitted that our ABIs can parse. */
  events: LogDescription[]
}

export class SettlementClient {
  readonly addresses: Addresses
  readonly runner: ContractRunner
  readonly abis: Record<string, InterfaceAbi>
  readonly errors: Interface
  readonly c: Record<ContractKey, Contract>
  private spendQueue: Promise<unknown> = Promise.resolve()
  private submitQueue: Promise<unknown> = Promise.resolve()

  private constructor (addresses: Addresses, runner: ContractRunner, abis: Record<string, InterfaceAbi>) {
    this.addresses = addresses
    this.runner = runner
    this.abis = abis
    this.errors = errorInterface(abis)
    const c = {} as Record<ContractKey, Contract>
    for (const key of Object.keys(CONTRACT_NAMES) as ContractKey[]) c[key] = new Contract(addresses[key], abis[CONTRACT_NAMES[key]], runner)
    this.c = c
  }

  static async create (addresses: Addresses, runner: ContractRunner): Promise<SettlementClient> {
    return new SettlementClient(addresses, runner, await loadAbis())
  }

  /** The same deployment seen through another signer. */
  as (runner: ContractRunner): SettlementClient {
    return new SettlementClient(this.addresses, runner, this.abis)
  }

  domain (contract: DomainContract): TypedDataDomain {
    const at = contract === 'distributor' ? this.addresses.distributor : contract === 'staking' ? this.addresses.staking : this.addresses.escrow
    return domain(contract, this.addresses.chainId, at)
  }

  async address (): Promise<string> {
    const r = this.runner as { getAddress?: () => Promise<string> }
    if (r.getAddress === undefined) throw new TypeError('this client has no signer')
    return await r.getAddress()
  }

  /** Sends one transaction and waits for it; reverts become ContractRevertError. */
  async send (key: ContractKey | Contract, method: string, args: unknown[]): Promise<TxResult> {
    const contract = typeof key === 'string' ? this.c[key] : key
    const where = { contract: typeof key === 'string' ? CONTRACT_NAMES[key] : String(contract.target), method }
    try {
      // One submission at a time (gas estimate, nonce, broadcast): a reset after a revert
      // with another submission in flight would hand its nonce out twice, and the
      // transaction that loses waits forever. Mining is awaited outside the queue.
      const submit = this.submitQueue.then(async () => {
        try {
          return await contract.getFunction(method).send(...args)
        } catch (err) {
          // ethers' NonceManager counts a nonce as used even when gas estimation reverts;
          // without a reset (here, before the next submission) the next one leaves a gap.
          (this.runner as { reset?: () => void }).reset?.()
          throw err
        }
      })
      this.submitQueue = submit.catch(() => {})
      const tx = await submit
      // Bounded: a transaction that never mines (dropped, replaced) must not hang its caller.
      let receipt: TransactionReceipt | null
      try {
        receipt = await tx.wait(1, 120_000)
      } catch (err) {
        if ((err as { code?: string }).code !== 'TIMEOUT') throw err
        // The waiter may have missed a block: ask for the receipt itself before giving up.
        receipt = await tx.provider.getTransactionReceipt(tx.hash).catch(() => null)
        if (receipt == null) throw await this.unmined(tx, where)
        if (receipt.status === 0) throw new ContractRevertError(`${where.contract}.${where.method} reverted`, { ...where, error: 'unknown', args: {} })
      }
      if (receipt === null) throw new ContractRevertError('transaction dropped', { ...where, error: 'unknown', args: {} })
      return { receipt, gasUsed: receipt.gasUsed, events: this.parseLogs(receipt.logs) }
    } catch (err) {
      throw decodeRevert(err, this.errors, where)
    }
  }

  /**
   * A transaction that did not mine in time: says why as far as the chain shows (its
   * nonce against the account's mined and pending counts: a nonce above the pending
   * count waits behind a gap) and resets the nonce manager, so the next transaction
   * takes the chain's count and a gap fills instead of growing.
   */
  private async unmined (tx: { hash: string, nonce: number, from: string }, where: { contract: string, method: string }): Promise<ContractRevertError> {
    (this.runner as { reset?: () => void }).reset?.()
    const provider = (this.runner as { provider?: { getTransactionCount: (a: string, tag: string) => Promise<number>, getTransaction: (h: string) => Promise<unknown> } }).provider
    const [mined, pending, known] = await Promise.all([
      provider?.getTransactionCount(tx.from, 'latest').catch(() => undefined),
      provider?.getTransactionCount(tx.from, 'pending').catch(() => undefined),
      provider?.getTransaction(tx.hash).then(t => t != null, () => undefined)
    ])
    return new ContractRevertError('transaction not mined in 120 s', { ...where, error: 'NotMined', args: { hash: tx.hash, nonce: tx.nonce, minedNonce: mined, pendingNonce: pending, knownToNode: known } })
  }

  /** A read; reverts become ContractRevertError. */
  async read<T = unknown> (key: ContractKey, method: string, args: unknown[] = []): Promise<T> {
    try {
      return await this.c[key].getFunction(method).staticCall(...args) as T
    } catch (err) {
      throw decodeRevert(err, this.errors, { contract: CONTRACT_NAMES[key], method })
    }
  }

  parseLogs (logs: readonly Log[]): LogDescription[] {
    const out: LogDescription[] = []
    for (const log of logs) {
      const key = (Object.keys(CONTRACT_NAMES) as ContractKey[]).find(k => this.addresses[k].toLowerCase() === log.address.toLowerCase())
      if (key === undefined) continue
      const parsed = this.c[key].interface.parseLog(log)
      if (parsed !== null) out.push(parsed)
    }
    return out
  }

  // OPEN

  async balanceOf (account: string): Promise<bigint> {
    return await this.read<bigint>('open', 'balanceOf', [account])
  }

  async transfer (to: string, amount: bigint): Promise<TxResult> {
    return await this.send('open', 'transfer', [to, amount])
  }

  /**
   * One approve-then-spend at a time: two concurrent ones (jobs submitted together)
   * would each approve only their own amount, and the second spend would find the
   * allowance used up by the first.
   */
  private async spending<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.spendQueue.then(fn)
    this.spendQueue = run.catch(() => {})
    return await run
  }

  /** Approves `spender` for `amount` unless the allowance already covers it. */
  async ensureAllowance (spender: string, amount: bigint): Promise<void> {
    const have = await this.read<bigint>('open', 'allowance', [await this.address(), spender])
    if (have < amount) await this.send('open', 'approve', [spender, amount])
  }

  // Staking

  async stake (role: Role, amount: bigint): Promise<TxResult> {
    return await this.spending(async () => {
      await this.ensureAllowance(this.addresses.staking, amount)
      return await this.send('staking', 'stake', [role, amount])
    })
  }

  async requestUnbond (role: Role, amount: bigint): Promise<TxResult> {
    return await this.send('staking', 'requestUnbond', [role, amount])
  }

  async withdraw (role: Role): Promise<TxResult> {
    return await this.send('staking', 'withdraw', [role])
  }

  async stakeOf (peer: string, role: Role): Promise<bigint> {
    return await this.read<bigint>('staking', 'stakeOf', [peer, role])
  }

  async unbondingOf (peer: string, role: Role): Promise<{ amount: bigint, unlockAt: bigint }> {
    const [amount, unlockAt] = await this.read<[bigint, bigint]>('staking', 'unbondingOf', [peer, role])
    return { amount, unlockAt }
  }

  /**
   * Slashes `c.peer` in `c.role` on job `c.jobId`: `assignment` and `assignmentSignature`
   * are the requester's, `participation` the peer's own Participation(jobId, resultHash)
   * signature, `signatures` the packed Slash signatures of the job's referee (and verifiers).
   */
  async slash (c: SlashCase, assignment: EscrowAssignment, assignmentSignature: string, participation: string, signatures: string): Promise<TxResult> {
    const a = { worker: assignment.worker, verifiers: assignment.verifiers, referee: assignment.referee ?? ZeroAddress, spec: assignment.spec }
    return await this.send('staking', 'slash', [c, a, assignmentSignature, participation, signatures])
  }

  // JobEscrow

  async openJob (jobId: string, amount: bigint, deadline: bigint | number): Promise<TxResult> {
    return await this.spending(async () => {
      await this.ensureAllowance(this.addresses.escrow, amount)
      return await this.send('escrow', 'open', [jobId, amount, deadline])
    })
  }

  /**
   * Releases `jobId` to the worker `assignment` names: `assignmentSignature` is the
   * requester's over it, `signatures` the packed Completions of its verifiers (or referee).
   */
  async releaseJob (jobId: string, assignment: EscrowAssignment, assignmentSignature: string, resultHash: string, signatures: string): Promise<TxResult> {
    const a = { worker: assignment.worker, verifiers: assignment.verifiers, referee: assignment.referee ?? ZeroAddress, spec: assignment.spec }
    return await this.send('escrow', 'release', [jobId, a, assignmentSignature, resultHash, signatures])
  }

  /**
   * The escrow's JobReleased events in blocks [from, to], optionally only one job's or
   * one worker's (both indexed), in chain order.
   */
  async releases (from: number, to: number | 'latest', by: { job?: string, worker?: string } = {}): Promise<JobRelease[]> {
    const escrow = this.c.escrow
    const logs = await escrow.queryFilter(escrow.filters.JobReleased(by.job ?? null, by.worker ?? null), from, to)
    return logs.flatMap(log => {
      const e = escrow.interface.parseLog(log)
      if (e === null) return []
      return [{ jobId: e.args.jobId as string, worker: e.args.worker as string, resultHash: e.args.resultHash as string, amount: e.args.amount as bigint, verifiers: [...(e.args.verifiers as string[])], spec: e.args.spec as string, block: log.blockNumber }]
    })
  }

  async refundJob (jobId: string): Promise<TxResult> {
    return await this.send('escrow', 'refund', [jobId])
  }

  async jobOf (jobId: string): Promise<JobInfo> {
    const [requester, amount, deadline, status] = await this.read<[string, bigint, bigint, bigint]>('escrow', 'jobOf', [jobId])
    return { requester, amount, deadline, status: Number(status) }
  }

  // RewardDistributor

  /** Adds OPEN to the reward pool (approving it); only funded OPEN backs roots. */
  async fund (amount: bigint): Promise<TxResult> {
    await this.ensureAllowance(this.addresses.distributor, amount)
    return await this.send('distributor', 'fund', [amount])
  }

  async totalFunded (): Promise<bigint> {
    return await this.read<bigint>('distributor', 'totalFunded')
  }

  /** Copies a final root to where claims read it in one slot; anyone may call, once is enough. */
  async finalize (epoch: bigint | number): Promise<TxResult> {
    return await this.send('distributor', 'finalize', [epoch])
  }

  /** `toBlock`: the last block whose escrow releases the root pays (after the previous epoch's). */
  async postRoot (epoch: bigint | number, root: string, total: bigint, toBlock: bigint | number, signatures: string): Promise<TxResult> {
    return await this.send('distributor', 'postRoot', [epoch, root, total, toBlock, signatures])
  }

  /** Challenges the pending root, putting up the registry's bond (approving it); `evidence`: the hash of the findings. */
  async challengeRoot (epoch: bigint | number, evidence: string): Promise<TxResult> {
    return await this.spending(async () => {
      await this.ensureAllowance(this.addresses.distributor, await this.read<bigint>('registry', 'challengeBond'))
      return await this.send('distributor', 'challengeRoot', [epoch, evidence])
    })
  }

  /** Pays a challenge's bond out once its epoch is final: back to the challenger, or to the treasury if the root stood. */
  async settleChallenge (id: bigint | number): Promise<TxResult> {
    return await this.send('distributor', 'settleChallenge', [id])
  }

  async claim (epoch: bigint | number, account: string, cumulative: bigint, proof: readonly string[]): Promise<TxResult> {
    return await this.send('distributor', 'claim', [epoch, account, cumulative, proof])
  }

  /** `accounts`/`cumulatives` in the order of StandardMerkleTree.getMultiProof's `leaves`. */
  async claimMultiple (
    epoch: bigint | number,
    accounts: readonly string[],
    cumulatives: readonly bigint[],
    proof: readonly string[],
    proofFlags: readonly boolean[]
  ): Promise<TxResult> {
    return await this.send('distributor', 'claimMultiple', [epoch, accounts, cumulatives, proof, proofFlags])
  }

  async nextEpoch (): Promise<bigint> {
    return await this.read<bigint>('distributor', 'nextEpoch')
  }

  async rootOf (epoch: bigint | number): Promise<RootInfo> {
    const [[root, total, finalAt], toBlock] = await Promise.all([
      this.read<[string, bigint, bigint]>('distributor', 'rootOf', [epoch]),
      this.read<bigint>('distributor', 'cutoffOf', [epoch])
    ])
    return { root, total, finalAt, toBlock }
  }

  async claimed (account: string): Promise<bigint> {
    return await this.read<bigint>('distributor', 'claimed', [account])
  }

  // Governance

  /** Locks OPEN into gOPEN (votes count from the next second on). */
  async lockForVotes (amount: bigint): Promise<TxResult> {
    await this.ensureAllowance(this.addresses.gopen, amount)
    return await this.send('gopen', 'depositFor', [await this.address(), amount])
  }

  /** Pays the registry's proposal fee (approving it) and proposes; returns the proposal id. */
  async propose (p: Proposal): Promise<{ proposalId: bigint, tx: TxResult }> {
    const fee = await this.read<bigint>('registry', 'proposalFee')
    if (fee > 0n) await this.ensureAllowance(this.addresses.governor, fee)
    const tx = await this.send('governor', 'propose', [p.targets, p.values, p.calldatas, p.description])
    return { proposalId: await this.proposalId(p), tx }
  }

  async proposalId (p: Proposal): Promise<bigint> {
    return await this.read<bigint>('governor', 'getProposalId', [p.targets, p.values, p.calldatas, id(p.description)])
  }

  /** support: 0 against, 1 for, 2 abstain. */
  async castVote (proposalId: bigint, support: 0 | 1 | 2): Promise<TxResult> {
    return await this.send('governor', 'castVote', [proposalId, support])
  }

  async queue (p: Proposal): Promise<TxResult> {
    return await this.send('governor', 'queue', [p.targets, p.values, p.calldatas, id(p.description)])
  }

  async execute (p: Proposal): Promise<TxResult> {
    return await this.send('governor', 'execute', [p.targets, p.values, p.calldatas, id(p.description)])
  }

  async proposalState (proposalId: bigint): Promise<ProposalState> {
    return PROPOSAL_STATES[Number(await this.read<bigint>('governor', 'state', [proposalId]))]
  }

  /** A proposal that calls one registry setter, e.g. ('setChallengeWindow', [7200]). */
  registryProposal (setter: string, args: unknown[], description: string): Proposal {
    return {
      targets: [this.addresses.registry],
      values: [0n],
      calldatas: [this.c.registry.interface.encodeFunctionData(setter, args)],
      description
    }
  }
}
