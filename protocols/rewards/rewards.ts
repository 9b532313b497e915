// /openledger/rewards/1.0.0 — "what have these accounts earned, and the proof". An
// aggregator answers from its epoch builder with the latest posted epoch's cumulative
// amounts and Merkle proof (one account) or multiproof (several, for a relayer). The
// answer needs no signature: the claimant checks the proof against the root the
// RewardDistributor holds for that epoch before it spends gas, so a lying aggregator
// can only waste a request.
// Request: msgpack { accounts: bytes20[], at?: 'final' | 'posted' } (1 to 1,000 accounts;
// 'final', the default, is what can be claimed now; 'posted' the newest root). Response: msgpack
// { epoch, root: bytes32, finalAt: uint | null, leaves: [{ account: bytes20, cumulative:
// decimal string }], proof: bytes32[], flags?: bool[] }; epoch 0 = nothing posted yet.
import type { PeerId } from '@libp2p/interface'
import { bytesToHex, hexToBytes } from '../bytes.ts'
import { decode, encode } from '../codec.ts'
import { MalformedMessageError } from '../errors.ts'
import { request, serveProtocol, type ProtocolLimits, type StreamHost } from '../reqresp.ts'

export const REWARDS_PROTOCOL = '/openledger/rewards/1.0.0'
export const MAX_REWARD_ACCOUNTS = 1_000
/** A 2^20-leaf tree is 20 deep; a multiproof never needs more hashes than accounts x depth. */
const MAX_PROOF_HASHES = MAX_REWARD_ACCOUNTS * 20

export const REWARDS_LIMITS: ProtocolLimits = {
  maxRequestBytes: MAX_REWARD_ACCOUNTS * 24 + 64,
  maxResponseBytes: MAX_PROOF_HASHES * 34 + MAX_REWARD_ACCOUNTS * 110 + 1_024,
  timeoutMs: 20_000,
  maxInboundStreams: 16,
  rateLimit: { burst: 20, refillMs: 500 }
}

export interface RewardsAnswer {
  epoch: number
  root: string
  finalAt: bigint | null
  /** Proven entries: in request order for one account; in multiproof order for several. */
  leaves: Array<{ account: string, cumulative: bigint }>
  proof: string[]
  /** Present for a multiproof (several accounts). */
  flags?: boolean[]
}

const hex = (b: Uint8Array): string => '0x' + bytesToHex(b)
const bytes = (h: string): Uint8Array => hexToBytes(h.slice(2))
const ADDRESS = /^0x[0-9a-fA-F]{40}$/

function fixedBytes (value: unknown, length: number, what: string): string {
  if (!(value instanceof Uint8Array) || value.byteLength !== length) throw new MalformedMessageError(`rewards: ${what} must be ${length} bytes`)
  return hex(value)
}

export type RewardsAt = 'final' | 'posted'

function parseRequest (body: Uint8Array): { accounts: string[], at: RewardsAt } {
  const value = decode(body, REWARDS_LIMITS.maxRequestBytes) as { accounts?: unknown, at?: unknown }
  const at = value?.at ?? 'final'
  if (at !== 'final' && at !== 'posted') throw new MalformedMessageError('rewards: at must be final or posted')
  const accounts = value?.accounts
  if (!Array.isArray(accounts) || accounts.length === 0 || accounts.length > MAX_REWARD_ACCOUNTS) throw new MalformedMessageError(`rewards: expected 1 to ${MAX_REWARD_ACCOUNTS} accounts`)
  const out = accounts.map(a => fixedBytes(a, 20, 'an account'))
  if (new Set(out).size !== out.length) throw new MalformedMessageError('rewards: an account is listed twice')
  return { accounts: out, at }
}

function encodeAnswer (a: RewardsAnswer): Uint8Array {
  return encode({
    epoch: a.epoch,
    root: bytes(a.root),
    finalAt: a.finalAt === null ? null : Number(a.finalAt),
    leaves: a.leaves.map(l => ({ account: bytes(l.account), cumulative: l.cumulative.toString() })),
    proof: a.proof.map(bytes),
    ...(a.flags !== undefined ? { flags: a.flags } : {})
  })
}

/** Shape-checks an answer; whether its proof holds is the caller's check, against the chain. */
export function parseRewardsAnswer (body: Uint8Array): RewardsAnswer {
  const v = decode(body, REWARDS_LIMITS.maxResponseBytes) as Record<string, unknown>
  if (v == null || typeof v !== 'object') throw new MalformedMessageError('rewards: answer must be a map')
  if (!Number.isSafeInteger(v.epoch) || (v.epoch as number) < 0) throw new MalformedMessageError('rewards: bad epoch')
  if (v.finalAt !== null && (!Number.isSafeInteger(v.finalAt) || (v.finalAt as number) < 0)) throw new MalformedMessageError('rewards: bad finalAt')
  if (!Array.isArray(v.leaves) || v.leaves.length > MAX_REWARD_ACCOUNTS) throw new MalformedMessageError('rewards: bad leaves')
  if (!Array.isArray(v.proof) || v.proof.length > MAX_PROOF_HASHES) throw new MalformedMessageError('rewards: bad proof')
  const leaves = (v.leaves as Array<{ account?: unknown, cumulative?: unknown }>).map(l => {
    if (typeof l?.cumulative !== 'string' || !/^(0|[1-9][0-9]{0,77})$/.test(l.cumulative)) throw new MalformedMessageError('rewards: bad cumulative amount')
    return { account: fixedBytes(l.account, 20, 'an account'), cumulative: BigInt(l.cumulative) }
  })
  let flags: boolean[] | undefined
  if (v.flags !== undefined) {
    if (!Array.isArray(v.flags) || v.flags.length > MAX_PROOF_HASHES + MAX_REWARD_ACCOUNTS || v.flags.some(f => typeof f !== 'boolean')) throw new MalformedMessageError('rewards: bad proof flags')
    flags = v.flags as boolean[]
  }
  return {
    epoch: v.epoch as number,
    root: fixedBytes(v.root, 32, 'the root'),
    finalAt: v.finalAt === null ? null : BigInt(v.finalAt as number),
    leaves,
    proof: v.proof.map(p => fixedBytes(p, 32, 'a proof hash')),
    ...(flags !== undefined ? { flags } : {})
  }
}

export async function serveRewards (host: StreamHost, lookup: (accounts: string[], at: RewardsAt) => Promise<RewardsAnswer>): Promise<void> {
  await serveProtocol(host, REWARDS_PROTOCOL, REWARDS_LIMITS, async (req) => {
    const { accounts, at } = parseRequest(req)
    return encodeAnswer(await lookup(accounts, at))
  })
}

/** Ask an aggregator for these accounts' latest cumulative earnings and proof. */
export async function askRewards (host: StreamHost, peer: PeerId, accounts: string[], at: RewardsAt = 'final'): Promise<RewardsAnswer> {
  if (accounts.length === 0 || accounts.length > MAX_REWARD_ACCOUNTS) throw new RangeError(`ask for 1 to ${MAX_REWARD_ACCOUNTS} accounts`)
  for (const a of accounts) if (!ADDRESS.test(a)) throw new RangeError(`not an address: ${a}`)
  return parseRewardsAnswer(await request(host, peer, REWARDS_PROTOCOL, REWARDS_LIMITS, encode({ accounts: accounts.map(bytes), at })))
}
