// What the market reads from and submits to the chain: the escrow (open, release, refund,
// a job's state and its release event), staking (stakes, slashes) and the parameter
// registry, behind one small interface. The live peer uses its settlement client; the
// market's unit tests an in-memory chain with the same rules (test/helpers/memory-chain.ts).
import type { TypedDataDomain } from 'ethers'
import { ROLE, type EscrowAssignment, type JobInfo, type SettlementClient, type SlashCase } from '../../settlement/chain/client.ts'
import type { StakeRole } from '../../settlement/policy/index.ts'

export type { EscrowAssignment, JobInfo, SlashCase }

/** JobEscrow's job states. */
export const ESCROW = { none: 0, open: 1, released: 2, refunded: 3 } as const

export interface MarketChain {
  readonly chainId: number
  readonly escrowAddress: string
  /** The chain's clock, unix seconds (deadlines are judged by it; a devnet's may be warped). */
  now: () => Promise<number>
  /** Escrows `fee` of this peer's OPEN for `job` until `deadline` (chain seconds); the transaction hash. */
  openJob: (job: string, fee: bigint, deadline: number) => Promise<string>
  jobOf: (job: string) => Promise<JobInfo>
  /** Releases to the worker the requester's signed assignment names, on its verifiers' packed Completions. */
  releaseJob: (job: string, assignment: EscrowAssignment, assignmentSignature: string, resultHash: string, signatures: string) => Promise<string>
  refundJob: (job: string) => Promise<string>
  /** The job's JobReleased event (searched from `block`, else from the deployment on). */
  jobReleased: (job: string, block?: number) => Promise<{ worker: string, resultHash: string, block: number } | undefined>
  stakeOf: (address: string, role: StakeRole) => Promise<bigint>
  /** Bonded plus unbonding: what a slash can take. */
  slashableOf: (address: string, role: StakeRole) => Promise<bigint>
  /** Staking.slash of one job's peer: the case, the requester's signed assignment, the peer's Participation, the packed Slash signatures. */
  slash: (c: SlashCase, assignment: EscrowAssignment, assignmentSignature: string, participation: string, signatures: string) => Promise<string>
  minStake: (role: StakeRole) => Promise<bigint>
  slashAmount: (role: StakeRole) => Promise<bigint>
  auditRateBps: () => Promise<number>
  workerShareBps: () => Promise<number>
  proverShareBps: () => Promise<number>
  verifierQuorum: () => Promise<number>
  /** EIP-712 domains of the contracts whose messages the market signs. */
  domain: (contract: 'escrow' | 'staking') => TypedDataDomain
}

/** The market's chain on a settlement client (read lazily: the client exists once settlement started). */
export function clientChain (client: () => SettlementClient, now: () => Promise<number>): MarketChain {
  const c = client
  const registry = async <T>(method: string, args: unknown[] = []): Promise<T> => await c().read<T>('registry', method, args)
  return {
    get chainId () { return c().addresses.chainId },
    get escrowAddress () { return c().addresses.escrow },
    now,
    openJob: async (job, fee, deadline) => (await c().openJob(job, fee, deadline)).receipt.hash,
    jobOf: async (job) => await c().jobOf(job),
    releaseJob: async (job, assignment, assignmentSignature, resultHash, signatures) => (await c().releaseJob(job, assignment, assignmentSignature, resultHash, signatures)).receipt.hash,
    refundJob: async (job) => (await c().refundJob(job)).receipt.hash,
    jobReleased: async (job, block) => {
      const escrow = c().c.escrow
      const logs = await escrow.queryFilter(escrow.filters.JobReleased(job), block ?? c().addresses.deployBlock, block ?? 'latest')
      const e = logs.length > 0 ? escrow.interface.parseLog(logs[0]) : null
      return e == null ? undefined : { worker: e.args.worker as string, resultHash: e.args.resultHash as string, block: logs[0].blockNumber }
    },
    stakeOf: async (address, role) => await c().stakeOf(address, ROLE[role]),
    slashableOf: async (address, role) => {
      const [bonded, unbonding] = await Promise.all([c().stakeOf(address, ROLE[role]), c().unbondingOf(address, ROLE[role])])
      return bonded + unbonding.amount
    },
    slash: async (sc, assignment, assignmentSignature, participation, signatures) => (await c().slash(sc, assignment, assignmentSignature, participation, signatures)).receipt.hash,
    minStake: async (role) => await registry<bigint>('minStake', [ROLE[role]]),
    slashAmount: async (role) => await registry<bigint>('slashAmount', [ROLE[role]]),
    auditRateBps: async () => Number(await registry<bigint>('auditRateBps')),
    workerShareBps: async () => Number((await registry<bigint[]>('rewardSplit'))[0]),
    proverShareBps: async () => Number(await registry<bigint>('proverShareBps')),
    verifierQuorum: async () => Number(await registry<bigint>('verifierQuorum')),
    domain: (contract) => c().domain(contract)
  }
}
