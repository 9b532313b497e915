// The local API's settlement routes: rewards (show, claim), the reward roots this peer
// audited, stake, and governance of the parameter registry, all as this peer's own account.
import { getAddress, isAddress, parseUnits } from 'ethers'
import { z } from 'zod'
import { ROLE, type Role } from '../../settlement/chain/client.ts'
import { UsageError } from '../errors.ts'
import type { Route } from './server.ts'
import type { SettlementService } from '../settlement/settlement-service.ts'
import type { Governance } from '../settlement/governance.ts'

const role = z.enum(Object.keys(ROLE) as [keyof typeof ROLE, ...Array<keyof typeof ROLE>]).transform(r => ROLE[r] as Role)
/** OPEN as a decimal string ("12.5"), turned into wei. */
const amount = z.string().regex(/^[0-9]{1,30}(\.[0-9]{1,18})?$/, 'an amount of OPEN like 100 or 2.5').transform(a => parseUnits(a, 18)).refine(a => a > 0n, 'must be more than 0')

/** A claim for this peer, or relayed for another address (the OPEN goes to that address). */
const ClaimSchema = z.strictObject({ account: z.string().refine(a => isAddress(a), 'not an address').optional() })
const StakeSchema = z.strictObject({ action: z.enum(['stake', 'unbond', 'withdraw']), role, amount: amount.optional() })
const ProposeSchema = z.strictObject({ parameter: z.string().min(1).max(64), values: z.array(z.string().regex(/^[0-9]{1,78}$/)).min(1).max(4), description: z.string().min(1).max(2000) })
const ProposalRef = z.strictObject({ id: z.string().regex(/^[0-9]{1,80}$/) })
const VoteSchema = ProposalRef.extend({ support: z.enum(['against', 'for', 'abstain']) })

function parse<T> (schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body)
  if (!r.success) throw new UsageError(`${r.error.issues[0].path.join('.') || 'body'}: ${r.error.issues[0].message}`)
  return r.data
}

export function settlementRoutes (service: SettlementService, gov: Governance): Route[] {
  return [{
    method: 'GET',
    path: /^\/rewards(?:\/(0x[0-9a-fA-F]{40}))?$/,
    handle: async ({ params }) => {
      const who = params[0]
      if (who !== '' && !isAddress(who)) throw new UsageError('not an address', { address: who })
      return await service.rewards(who !== '' ? getAddress(who) : undefined)
    }
  }, {
    // What this peer concluded about each posted reward root it audited (co-signers and watchers).
    method: 'GET',
    path: '/roots',
    handle: async () => {
      const w = service.rootWatch
      return { cosign: w?.opts.cosign === true, watch: w?.opts.watch === true, watched: w?.watched ?? [] }
    }
  }, {
    method: 'POST',
    path: '/rewards/claim',
    handle: async ({ body }) => {
      const req = parse(ClaimSchema, body ?? {})
      return await service.claim(req.account !== undefined ? getAddress(req.account) : undefined)
    }
  }, {
    method: 'POST',
    path: '/stake',
    handle: async ({ body }) => {
      const req = parse(StakeSchema, body)
      const c = service.chain
      if (req.action !== 'withdraw' && req.amount === undefined) throw new UsageError(`${req.action} needs an amount`)
      const tx = req.action === 'stake'
        ? await c.stake(req.role, req.amount as bigint)
        : req.action === 'unbond' ? await c.requestUnbond(req.role, req.amount as bigint) : await c.withdraw(req.role)
      const [staked, unbonding] = await Promise.all([c.stakeOf(service.address, req.role), c.unbondingOf(service.address, req.role)])
      return { action: req.action, tx: tx.receipt.hash, staked: staked.toString(), unbonding: { amount: unbonding.amount.toString(), unlockAt: Number(unbonding.unlockAt) } }
    }
  }, {
    method: 'GET',
    path: '/gov/parameters',
    handle: async () => await gov.parameters()
  }, {
    method: 'POST',
    path: '/gov/lock',
    handle: async ({ body }) => await gov.lock(parse(z.strictObject({ amount }), body).amount)
  }, {
    method: 'POST',
    path: '/gov/propose',
    handle: async ({ body }) => await gov.propose(parse(ProposeSchema, body))
  }, {
    method: 'POST',
    path: '/gov/vote',
    handle: async ({ body }) => { const r = parse(VoteSchema, body); return await gov.vote(BigInt(r.id), r.support) }
  }, {
    method: 'POST',
    path: '/gov/queue',
    handle: async ({ body }) => await gov.queue(BigInt(parse(ProposalRef, body).id))
  }, {
    method: 'POST',
    path: '/gov/execute',
    handle: async ({ body }) => await gov.execute(BigInt(parse(ProposalRef, body).id))
  }, {
    method: 'GET',
    path: /^\/gov\/proposals\/([0-9]{1,80})$/,
    handle: async ({ params }) => await gov.status(BigInt(params[0]))
  }]
}
