// What the settlement bench reads off each transaction: gas used (from the receipt,
// 21k base and calldata included) and the input data as sent (from the node), its
// length and its L1-style calldata gas (4 per zero byte, 16 per nonzero byte, EIP-2028).
// Plus the anvil clock and snapshots, and deterministic recipients and amounts.
import type { JsonRpcProvider, TransactionReceipt } from 'ethers'

export interface TxCost {
  gas: number
  /** Input data length in bytes. */
  bytes: number
  zeroBytes: number
  /** 4 per zero byte + 16 per nonzero byte of the input data. */
  l1Gas: number
}

export function calldataStats (data: string): { bytes: number, zeroBytes: number, l1Gas: number } {
  const hex = data.startsWith('0x') ? data.slice(2) : data
  const bytes = hex.length / 2
  let zeroBytes = 0
  for (let i = 0; i < hex.length; i += 2) if (hex[i] === '0' && hex[i + 1] === '0') zeroBytes++
  return { bytes, zeroBytes, l1Gas: 4 * zeroBytes + 16 * (bytes - zeroBytes) }
}

/** The cost of a mined transaction, its input fetched back from the node (what really went on chain). */
export async function costOf (provider: JsonRpcProvider, receipt: TransactionReceipt): Promise<TxCost> {
  const tx = await provider.getTransaction(receipt.hash)
  if (tx === null) throw new Error(`transaction ${receipt.hash} not found`)
  if (receipt.status !== 1) throw new Error(`transaction ${receipt.hash} reverted`)
  return { gas: Number(receipt.gasUsed), ...calldataStats(tx.data) }
}

export async function warp (provider: JsonRpcProvider, seconds: number): Promise<void> {
  await provider.send('evm_increaseTime', [seconds])
  await provider.send('evm_mine', [])
}

/** mulberry32: small, seeded, the same recipients and amounts every run. */
export function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** n distinct random addresses (lowercase hex): fresh accounts that hold nothing yet. */
export function randomAddresses (n: number, next: () => number): string[] {
  const out = new Set<string>()
  while (out.size < n) {
    let hex = '0x'
    for (let i = 0; i < 5; i++) hex += Math.floor(next() * 4294967296).toString(16).padStart(8, '0')
    out.add(hex)
  }
  return [...out]
}

/** One epoch's reward: 0.001 to ~1 OPEN in wei, so amounts carry as many nonzero bytes as real dust does. */
export function rewardWei (next: () => number): bigint {
  const hi = BigInt(Math.floor(next() * 2 ** 30))
  const lo = BigInt(Math.floor(next() * 2 ** 30))
  return 10n ** 15n + ((hi << 30n) | lo) % 10n ** 18n
}
