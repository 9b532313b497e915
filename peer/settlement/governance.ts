// gOPEN governance of the parameter registry, as this peer's account: propose a change
// to one parameter (the registry's setter is found by name; the fee in OPEN is paid),
// vote with locked OPEN, queue it in the timelock, execute it after the delay. A
// proposal's full text is needed again to queue and execute, so it is kept on disk
// under gov/<id>.json the moment it is proposed.
import { join } from 'node:path'
import { formatUnits } from 'ethers'
import type { Proposal, SettlementClient } from '../../settlement/chain/client.ts'
import { readJsonIfExists, writeJsonAtomic } from '../../storage/atomic-file.ts'
import { PeerError, EXIT, UsageError } from '../errors.ts'

export class UnknownProposalError extends PeerError {
  constructor (id: bigint) { super(`no proposal ${id} was made from this peer (its text is needed to queue or execute it)`, EXIT.notFound, { id: id.toString() }) }
}

/** Registry getters that `gov parameters` shows, and whose setters `gov propose` may call. */
const PARAMETERS = ['rewardSplit', 'auditRateBps', 'proverShareBps', 'epochLength', 'challengeWindow', 'maxEscrowDuration', 'unbondingDelay', 'aggregatorQuorum', 'verifierQuorum', 'proposalFee', 'challengeBond', 'treasury'] as const
const PER_ROLE = ['minStake', 'slashAmount'] as const

interface StoredProposal { id: string, targets: string[], values: string[], calldatas: string[], description: string, parameter: string, args: string[] }

const SUPPORT = { against: 0, for: 1, abstain: 2 } as const

export class Governance {
  private readonly chain: () => SettlementClient
  private readonly dir: string

  constructor (chain: () => SettlementClient, dataDir: string) {
    this.chain = chain
    this.dir = join(dataDir, 'gov')
  }

  async parameters (): Promise<Record<string, unknown>> {
    const c = this.chain()
    const out: Record<string, unknown> = {}
    for (const p of PARAMETERS) {
      const v = await c.read<unknown>('registry', p)
      out[p] = Array.isArray(v) ? v.map(String) : String(v)
    }
    for (const p of PER_ROLE) out[p] = Object.fromEntries(await Promise.all(['worker', 'verifier', 'aggregator'].map(async (r, i) => [r, String(await c.read('registry', p, [i]))])))
    const [votes, locked] = await Promise.all([c.read<bigint>('gopen', 'getVotes', [await c.address()]), c.read<bigint>('gopen', 'balanceOf', [await c.address()])])
    out.you = { votes: formatUnits(votes, 18), locked: formatUnits(locked, 18) }
    return out
  }

  async propose (req: { parameter: string, values: string[], description: string }): Promise<{ id: string, state: string, tx: string, fee: string }> {
    const c = this.chain()
    const setter = `set${req.parameter[0].toUpperCase()}${req.parameter.slice(1)}`
    const fn = c.c.registry.interface.getFunction(setter)
    if (fn === null || (!(PARAMETERS as readonly string[]).includes(req.parameter) && !(PER_ROLE as readonly string[]).includes(req.parameter))) {
      throw new UsageError(`no registry parameter ${req.parameter}; one of ${[...PARAMETERS, ...PER_ROLE].join(', ')}`)
    }
    if (fn.inputs.length !== req.values.length) throw new UsageError(`${setter} takes ${fn.inputs.length} values (${fn.inputs.map(i => i.name).join(', ')}), got ${req.values.length}`)
    const p = c.registryProposal(setter, req.values.map(v => BigInt(v)), req.description)
    const fee = await c.read<bigint>('registry', 'proposalFee')
    const { proposalId, tx } = await c.propose(p)
    await writeJsonAtomic(join(this.dir, `${proposalId}.json`), {
      id: proposalId.toString(), targets: p.targets, values: p.values.map(String), calldatas: p.calldatas, description: p.description, parameter: req.parameter, args: req.values
    } satisfies StoredProposal)
    return { id: proposalId.toString(), state: await c.proposalState(proposalId), tx: tx.receipt.hash, fee: formatUnits(fee, 18) }
  }

  /** Locks OPEN into gOPEN: votes count for proposals whose snapshot comes after this. */
  async lock (amount: bigint): Promise<{ locked: string, votes: string, tx: string }> {
    const c = this.chain()
    const tx = await c.lockForVotes(amount)
    const me = await c.address()
    const [locked, votes] = await Promise.all([c.read<bigint>('gopen', 'balanceOf', [me]), c.read<bigint>('gopen', 'getVotes', [me])])
    return { locked: formatUnits(locked, 18), votes: formatUnits(votes, 18), tx: tx.receipt.hash }
  }

  /** Votes with the gOPEN this peer had locked at the proposal's snapshot. */
  async vote (id: bigint, support: keyof typeof SUPPORT): Promise<{ id: string, state: string, tx: string }> {
    const c = this.chain()
    const tx = await c.castVote(id, SUPPORT[support])
    return { id: id.toString(), state: await c.proposalState(id), tx: tx.receipt.hash }
  }

  async queue (id: bigint): Promise<{ id: string, state: string, tx: string }> {
    const c = this.chain()
    const tx = await c.queue(await this.load(id))
    return { id: id.toString(), state: await c.proposalState(id), tx: tx.receipt.hash }
  }

  async execute (id: bigint): Promise<{ id: string, state: string, tx: string }> {
    const c = this.chain()
    const tx = await c.execute(await this.load(id))
    return { id: id.toString(), state: await c.proposalState(id), tx: tx.receipt.hash }
  }

  async status (id: bigint): Promise<{ id: string, state: string, parameter?: string, args?: string[], description?: string, votes: Record<string, string> }> {
    const c = this.chain()
    const stored = await readJsonIfExists<StoredProposal>(join(this.dir, `${id}.json`))
    const [against, forVotes, abstain] = await c.read<bigint[]>('governor', 'proposalVotes', [id])
    return { id: id.toString(), state: await c.proposalState(id), parameter: stored?.parameter, args: stored?.args, description: stored?.description, votes: { against: formatUnits(against, 18), for: formatUnits(forVotes, 18), abstain: formatUnits(abstain, 18) } }
  }

  private async load (id: bigint): Promise<Proposal> {
    const s = await readJsonIfExists<StoredProposal>(join(this.dir, `${id}.json`))
    if (s === undefined) throw new UnknownProposalError(id)
    return { targets: s.targets, values: s.values.map(v => BigInt(v)), calldatas: s.calldatas, description: s.description }
  }
}
