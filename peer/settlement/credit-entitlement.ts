// Which credit entries of a datanet may move money. The manifest accepts training-cycle
// and attribution entries from any signer (it is an open log); what pays is decided
// here, from the chain's own events:
// - a training cycle credits contributions only if its reporter is the worker the
//   escrow released a job to whose result is the cycle's adapter (resultHash is the
//   keccak of the result's CID);
// - an attribution record sets a cycle's credits only if the cycle it scores is itself
//   entitled and the record was made by that cycle's reporter (the released training
//   worker, measuring its own adapter: `openledger attribute`), or it names a released
//   attribution job whose result is the record's result and was made by that job's
//   requester or worker (the market's verified attribution).
// A stranger's entry, however new, credits nothing and replaces nothing.
import { id as keccakText } from 'ethers'
import type { StoredEntry } from '../../storage/manifest/entry.ts'
import type { CreditEntitlement } from '../../storage/datanet/view.ts'
import type { SettlementClient } from '../../settlement/chain/client.ts'

export interface ReleasedJob { job: string, worker: string, resultHash: string }

/** What the entitlement reads from the chain. */
export interface ReleaseLookup {
  /** Jobs the escrow released to `worker`. */
  releasedTo: (worker: string) => Promise<ReleasedJob[]>
  /** One job, if released, with its requester. */
  released: (job: string) => Promise<(ReleasedJob & { requester: string }) | undefined>
}

const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()

/** The entitled entries among a datanet's entries (in log order). */
export async function creditEntitlement (entries: readonly StoredEntry[], lookup: ReleaseLookup): Promise<CreditEntitlement> {
  const cycles = new Set<string>()
  const attributions = new Set<string>()
  /** The reporter of each entitled cycle: the worker the escrow paid for its adapter. */
  const reporters = new Map<string, string>()
  const byWorker = new Map<string, Promise<ReleasedJob[]>>()
  const releasedTo = async (worker: string): Promise<ReleasedJob[]> => {
    const key = worker.toLowerCase()
    if (!byWorker.has(key)) byWorker.set(key, lookup.releasedTo(worker))
    return await byWorker.get(key)!
  }
  for (const e of entries) {
    const p = e.entry.payload
    if (p.kind === 'training-cycle' && p.adapter !== undefined) {
      const adapterHash = keccakText(p.adapter.toString())
      if ((await releasedTo(e.author)).some(j => j.resultHash.toLowerCase() === adapterHash)) {
        cycles.add(e.cid.toString())
        reporters.set(e.cid.toString(), e.author)
      }
    } else if (p.kind === 'attribution' && cycles.has(p.cycle.toString())) {
      const cycle = reporters.get(p.cycle.toString())!
      if (same(e.author, cycle)) { attributions.add(e.cid.toString()); continue }
      if (p.job === undefined || p.result === undefined) continue
      const job = await lookup.released(p.job)
      if (job === undefined || job.resultHash.toLowerCase() !== keccakText(p.result.toString())) continue
      if (same(e.author, job.requester) || same(e.author, job.worker)) attributions.add(e.cid.toString())
    }
  }
  return { cycles, attributions }
}

/** The lookup on the escrow's JobReleased events (worker and job id are indexed) and, for one job, its requester. */
export function chainReleaseLookup (client: () => SettlementClient): ReleaseLookup {
  const releases = async (by: { job?: string, worker?: string }): Promise<ReleasedJob[]> =>
    (await client().releases(client().addresses.deployBlock, 'latest', by)).map(r => ({ job: r.jobId, worker: r.worker, resultHash: r.resultHash }))
  return {
    releasedTo: async (worker) => await releases({ worker }),
    released: async (job) => {
      const [r] = await releases({ job })
      return r === undefined ? undefined : { ...r, requester: (await client().jobOf(job)).requester }
    }
  }
}
