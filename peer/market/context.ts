// What every market role shares: who this peer is (address, peer id, signing wallet),
// its job records and receipt files, the wire and the chain, the job kinds, the behaviour
// it plays (honest, or an injected adversary) and the reputation it learned. Roles are
// built on one context by ./market-service.ts and call each other through it.
import { Wallet } from 'ethers'
import { sealEnvelope } from '../../protocols/envelope.ts'
import type { MessageRegistry } from '../../protocols/registry.ts'
import type { Signer } from '../../protocols/signer.ts'
import type { MarketBehaviour } from './adversaries/behaviour.ts'
import type { MarketChain } from './chain.ts'
import type { JobStore } from './job-store.ts'
import type { Kinds } from './kinds/kind.ts'
import type { ReceiptFiles } from './receipts.ts'
import type { ReputationBook } from './reputation-book.ts'
import type { MarketTiming } from './timing.ts'
import type { MarketTopic, MarketWire } from './wire.ts'
import type { Device } from '../../compute/onnx/device-names.ts'

export type Log = (msg: string, fields?: Record<string, unknown>) => void

export interface MarketContext {
  me: { address: string, peerId: string }
  /** This peer's key as an Ethereum wallet: Completion and Slash signatures, beacons, forced-error secrets. */
  wallet: Wallet
  store: JobStore
  receipts: ReceiptFiles
  wire: MarketWire
  chain: MarketChain
  kinds: Kinds
  behaviour: MarketBehaviour
  book: ReputationBook
  /** market/: records, receipts, held and kept checkpoints. */
  dir: string
  /** Demonstrations and tests only: this forced-error rate instead of the policy's. */
  forcedErrorRate?: number
  /** Where this peer's graphs run (node start --device). */
  device: Device
  /** Its MatMul rate there (GFLOP/s), measured at start-up; absent when not measured. */
  deviceGflops?: number
  /** How many times slower than the CPU that device ran the start-up probe (>= 1). */
  deviceSlowdown: number
  timing: MarketTiming
  seal: (type: string, body: unknown) => Uint8Array
  /** Seals and publishes; a failure is logged, not thrown (gossip is best effort, and retried where it matters). */
  publish: (topic: MarketTopic, type: string, body: unknown) => Promise<void>
  log: Log
}

export function sealer (opts: { network: string, signer: Signer, registry: MessageRegistry }): (type: string, body: unknown) => Uint8Array {
  return (type, body) => sealEnvelope({ network: opts.network, type, body, signer: opts.signer, registry: opts.registry })
}

export function walletOf (rawKey: Uint8Array): Wallet {
  return new Wallet('0x' + Buffer.from(rawKey).toString('hex'))
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** Runs `fn` after `ms` without keeping the process alive for it; a failure is logged. */
export function later (ms: number, fn: () => Promise<void>, log: Log, what: string, fields: Record<string, unknown> = {}): void {
  setTimeout(() => { void fn().catch((err: Error) => log(what, { ...fields, error: err.name, message: err.message })) }, Math.max(0, ms)).unref()
}
