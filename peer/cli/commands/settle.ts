// openledger rewards | stake | gov — settlement as the running peer's own account, through
// its local API (the peer holds the key; it checks claim proofs against the chain).
import type { Command } from 'commander'
import { UsageError } from '../../errors.ts'
import { ApiError, apiGet, apiPost, endpointOf, type NodeEndpoint } from '../api-client.ts'
import { dataDirOf, nodeClientOptions } from '../options.ts'
import { printJson } from '../output.ts'

interface Common { dataDir?: string, url?: string, json?: boolean }

async function endpoint (opts: Common): Promise<NodeEndpoint> {
  return await endpointOf(dataDirOf(opts), opts.url)
}

/** 18-decimal wei as OPEN, without loading ethers into every CLI run. */
function formatUnits (wei: bigint, decimals: number): string {
  const unit = 10n ** BigInt(decimals)
  const frac = (wei % unit).toString().padStart(decimals, '0').replace(/0+$/, '')
  return `${wei / unit}${frac === '' ? '' : '.' + frac}`
}

const open = (wei: string | null): string => wei === null ? '-' : `${formatUnits(BigInt(wei), 18)} OPEN`
const ROLES = ['worker', 'verifier', 'aggregator']

function roleOf (value: string): string {
  if (!ROLES.includes(value)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`)
  return value
}

export function rewardsCommand (program: Command): void {
  const rewards = program.command('rewards').description('OPEN earned per epoch, settled by Merkle roots on chain')

  nodeClientOptions(rewards.command('show [address]'))
    .description('what an address (default: this peer) has earned, claimed and can claim now')
    .action(async (address: string | undefined, opts: Common) => {
      const r = await apiGet<any>(await endpoint(opts), address != null ? `/rewards/${encodeURIComponent(address)}` : '/rewards')
      if (opts.json === true) { printJson(r); return }
      const when = r.epoch === null ? 'no root holds it yet' : `epoch ${r.epoch}, ${r.final === true ? 'final' : `final at ${new Date(r.finalAt * 1000).toISOString()}`}`
      console.log(`address    ${r.address}\nearned     ${open(r.earned)} (${when})\nclaimed    ${open(r.claimed)}\nclaimable  ${open(r.claimable)}\nbalance    ${open(r.balance)}\nstake      ${ROLES.map(k => `${k} ${formatUnits(BigInt(r.stake[k]), 18)}`).join(', ')}`)
    })

  nodeClientOptions(rewards.command('claim'))
    .description('claim what the latest final root owes this peer, or with --for relay the claim for other addresses (this peer pays the gas, the OPEN goes to them); the proof comes from an aggregator and is checked against the chain first')
    .option('--for <address>', 'claim for this address instead, as a relayer (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .action(async (opts: Common & { for: string[] }) => {
      const ep = await endpoint(opts)
      if (opts.for.length === 0) {
        const r = await apiPost<any>(ep, '/rewards/claim', {})
        if (opts.json === true) printJson(r)
        else console.log(`claimed ${open(r.amount)} (cumulative ${open(r.cumulative)}, epoch ${r.epoch})\ntx ${r.tx}, ${r.gasUsed} gas`)
        return
      }
      // One transaction per address; one that has nothing to claim does not stop the others.
      const claims: any[] = []
      for (const account of opts.for) {
        try {
          claims.push(await apiPost<any>(ep, '/rewards/claim', { account }))
        } catch (err) {
          if (!(err instanceof ApiError)) throw err
          claims.push({ account, error: err.remoteName, message: err.message })
        }
      }
      if (opts.json === true) printJson({ claims })
      else for (const c of claims) console.log(c.error != null ? `${c.account}: ${c.message}` : `${c.account}: claimed ${open(c.amount)} (cumulative ${open(c.cumulative)}, epoch ${c.epoch}), tx ${c.tx}`)
      if (claims.some(c => c.error != null && c.error !== 'RewardsUnavailableError')) process.exitCode = 1
    })
}

export function stakeCommand (program: Command): void {
  const stake = program.command('stake').description('OPEN at stake to work, verify or aggregate: slashable on proven faults, withdrawn after an unbonding delay')
  for (const action of ['add', 'unbond', 'withdraw'] as const) {
    const cmd = nodeClientOptions(stake.command(action === 'withdraw' ? 'withdraw' : `${action} <amount>`))
      .description(action === 'add' ? 'stake AMOUNT OPEN for a role' : action === 'unbond' ? 'start unbonding AMOUNT OPEN of a role\'s stake' : 'withdraw what finished unbonding')
      .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`, roleOf)
    cmd.action(async (...args: unknown[]) => {
      const amount = action === 'withdraw' ? undefined : args[0] as string
      const opts = args[action === 'withdraw' ? 0 : 1] as Common & { role: string }
      const r = await apiPost<any>(await endpoint(opts), '/stake', { action: action === 'add' ? 'stake' : action, role: opts.role, amount })
      if (opts.json === true) printJson(r)
      else console.log(`${opts.role}: staked ${open(r.staked)}, unbonding ${open(r.unbonding.amount)}${r.unbonding.amount !== '0' ? ` until ${new Date(r.unbonding.unlockAt * 1000).toISOString()}` : ''}\ntx ${r.tx}`)
    })
  }
}

export function govCommand (program: Command): void {
  const gov = program.command('gov').description('gOPEN governance of the network\'s parameters (reward split, audit rate, slashing, epochs)')
  const print = (opts: Common, r: any): void => { if (opts.json === true) printJson(r); else console.log(Object.entries(r).map(([k, v]) => `${k.padEnd(10)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n')) }

  nodeClientOptions(gov.command('parameters'))
    .description('the parameter registry\'s values, and this peer\'s votes')
    .action(async (opts: Common) => { print(opts, await apiGet(await endpoint(opts), '/gov/parameters')) })

  nodeClientOptions(gov.command('lock <amount>'))
    .description('lock AMOUNT OPEN as gOPEN: voting power for proposals made after this')
    .action(async (amount: string, opts: Common) => { print(opts, await apiPost(await endpoint(opts), '/gov/lock', { amount })) })

  nodeClientOptions(gov.command('propose <parameter> <values...>'))
    .description('propose setting a registry parameter (e.g. challengeWindow 7200; rewardSplit 5000 2000 2500 500); pays the proposal fee in OPEN')
    .requiredOption('--description <text>', 'why: the proposal\'s text, part of its id')
    .action(async (parameter: string, values: string[], opts: Common & { description: string }) => {
      print(opts, await apiPost(await endpoint(opts), '/gov/propose', { parameter, values, description: opts.description }))
    })

  nodeClientOptions(gov.command('vote <id> <support>'))
    .description('vote for, against or abstain on a proposal')
    .action(async (id: string, support: string, opts: Common) => { print(opts, await apiPost(await endpoint(opts), '/gov/vote', { id, support })) })

  for (const step of ['queue', 'execute'] as const) {
    nodeClientOptions(gov.command(`${step} <id>`))
      .description(step === 'queue' ? 'queue a passed proposal in the timelock' : 'execute a queued proposal once the timelock delay is over')
      .action(async (id: string, opts: Common) => { print(opts, await apiPost(await endpoint(opts), `/gov/${step}`, { id })) })
  }

  nodeClientOptions(gov.command('show <id>'))
    .description('a proposal\'s state and votes')
    .action(async (id: string, opts: Common) => { print(opts, await apiGet(await endpoint(opts), `/gov/proposals/${encodeURIComponent(id)}`)) })
}
