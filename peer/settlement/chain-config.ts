// Where a peer settles: the JSON-RPC endpoint, the chain id and the deployed contract
// addresses, read from one file (the devnet writes it; on a real L2 the operator does,
// or passes --rpc-url / --chain-id beside a deployment file). Checked on load, so a
// typo is a clear error at start-up rather than a revert later.
import { readFile } from 'node:fs/promises'
import { getAddress } from 'ethers'
import { z } from 'zod'
import type { Addresses } from '../../settlement/chain/client.ts'
import { UsageError } from '../errors.ts'

export interface ChainConfig {
  rpcUrl: string
  chainId: number
  addresses: Addresses
}

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/).transform(a => getAddress(a))
const AddressesSchema = z.object({
  chainId: z.number().int().positive(),
  open: address,
  gopen: address,
  governor: address,
  timelock: address,
  registry: address,
  staking: address,
  escrow: address,
  distributor: address,
  treasury: address,
  deployBlock: z.number().int().nonnegative()
})
const ChainFileSchema = z.object({
  rpcUrl: z.string().url().optional(),
  addresses: AddressesSchema
}).or(AddressesSchema.extend({ rpcUrl: z.string().url().optional() }))

/** The chain file: `{ rpcUrl?, addresses }` (what the devnet writes) or a bare deployment (what deploy writes). */
export async function loadChainConfig (path: string, overrides: { rpcUrl?: string, chainId?: number } = {}): Promise<ChainConfig> {
  let raw: unknown
  try {
    raw = JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    throw new UsageError(`cannot read the chain file ${path}: ${(err as Error).message}`, { path })
  }
  const parsed = ChainFileSchema.safeParse(raw)
  if (!parsed.success) throw new UsageError(`chain file ${path}: ${parsed.error.issues[0].path.join('.') || 'file'}: ${parsed.error.issues[0].message}`, { path })
  const file = parsed.data
  const addresses: Addresses = 'addresses' in file ? file.addresses : { ...file }
  delete (addresses as { rpcUrl?: string }).rpcUrl
  const rpcUrl = overrides.rpcUrl ?? file.rpcUrl
  if (rpcUrl === undefined) throw new UsageError(`chain file ${path} names no rpcUrl: pass --rpc-url`, { path })
  if (overrides.chainId !== undefined && overrides.chainId !== addresses.chainId) {
    throw new UsageError(`--chain-id ${overrides.chainId} does not match the deployment's chain ${addresses.chainId}`, { path })
  }
  return { rpcUrl, chainId: addresses.chainId, addresses }
}
