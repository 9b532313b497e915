// What a peer learned of others from verdicts: one outcome per job and worker in
// market/reputation.json (the newest 1,000 per address, written atomically, one writer
// at a time), and bids scored by the shared reputation policy for the assignment rule.
import { reputation, type Bid, type Outcome } from '../../settlement/policy/index.ts'
import { readJsonIfExists, writeJsonAtomic } from '../../storage/atomic-file.ts'
import { deviceClassName } from '../../compute/onnx/device-names.ts'
import type { BidDevice } from '../../protocols/messages/index.ts'

export interface ScoredBidInput { peer: string, address: string, price: string, stake: string, etaMs: number, role: Bid['role'], device?: BidDevice }

export class ReputationBook {
  private readonly path: string
  private writes: Promise<void> = Promise.resolve()

  constructor (path: string) {
    this.path = path
  }

  /** Records the outcome of `job` for `worker`, replacing an earlier one of the same job. */
  async record (worker: string, kind: 'verified' | 'failed' | 'timeout', job: string): Promise<void> {
    // Verdicts of several jobs may arrive together.
    const write = this.writes.then(async () => {
      const book = await readJsonIfExists<Record<string, Array<Outcome & { job: string }>>>(this.path) ?? {}
      const key = worker.toLowerCase()
      const list = (book[key] ?? []).filter(o => o.job !== job)
      list.push({ kind, at: Date.now(), job })
      book[key] = list.slice(-1_000)
      await writeJsonAtomic(this.path, book)
    })
    this.writes = write.catch(() => {})
    await write
  }

  /** Bids as the assignment policy takes them, each with its bidder's score from this book (read once). */
  async scored (bids: readonly ScoredBidInput[]): Promise<Bid[]> {
    const book = await readJsonIfExists<Record<string, Outcome[]>>(this.path) ?? {}
    const now = Date.now()
    return bids.map(b => ({
      peer: b.peer,
      price: BigInt(b.price),
      stake: BigInt(b.stake),
      reputation: reputation((book[b.address.toLowerCase()] ?? []).map(o => ({ kind: o.kind, at: o.at })), now).score,
      etaMs: b.etaMs,
      role: b.role,
      ...(b.device !== undefined ? { device: { kind: b.device.device, class: deviceClassName(b.device), gflops: b.device.gflops } } : {})
    }))
  }
}
