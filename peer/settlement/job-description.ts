// What an aggregator attaches to a released job's receipt beyond the escrow's event:
// the job's kind, and the contributor weights its fee pays by (the shared policy,
// settlement/policy/job-credit.ts) read from the datanet's credit map as this peer's
// manifest holds it. The job's spec comes from the market's record of it: an aggregator
// that bid on or verified the job knows it; one that never saw its announce pays the
// contributors' part to the treasury, as for a datanet never attributed. An attribution
// job pays by what it measured: its own verified weights (the attribution the market
// recorded of it), else the credit map with the measured adapter's cycle.
import type { JobKind } from '../../settlement/epoch/index.ts'
import type { PoolWeight } from '../../settlement/policy/index.ts'
import { jobCredit, type CreditLine, type JobCredit } from '../../settlement/policy/index.ts'
import type { DatanetView } from '../../storage/datanet/view.ts'
import type { JobAnnounce, JobResult } from '../../protocols/messages/index.ts'

/** What a job receipt carries besides the escrow's event. */
export interface JobFacts { kind: JobKind, contributorWeights?: PoolWeight[] }

export interface JobCreditDeps {
  /** The market's record of the job, if this peer took part in it. */
  job: (jobId: string) => Promise<{ announce: JobAnnounce, result?: JobResult } | undefined>
  /** Every datanet this peer follows, as its manifest says now. */
  views: () => Promise<DatanetView[]>
  /** Follow the datanet of a version (`D@VERSION`) a job names, if not followed yet: its contributors are paid by this peer's copy of its credit map. */
  follow?: (ref: string) => Promise<void>
  /** An attribution job's own verified weights, one credit line per contribution (peer/market/kinds/attribute.ts). */
  attribution?: (jobId: string) => Promise<{ lines: CreditLine[], datanet: string } | undefined>
  log?: (msg: string, fields?: Record<string, unknown>) => void
}

/** The credit map of one datanet: a line per contribution and attributed cycle. */
export function creditLines (view: DatanetView): CreditLine[] {
  return view.contributions.flatMap(c => c.credits.map(x => ({ contributor: c.contributor, cycle: x.cycle, weight: x.weight })))
}

function byDatanetRef (views: DatanetView[], ref: string): DatanetView | undefined {
  const idOrName = ref.split('@')[0]
  const byId = views.find(v => v.id === idOrName)
  if (byId !== undefined) return byId
  const named = views.filter(v => v.name === idOrName)
  return named.length === 1 ? named[0] : undefined
}

/** The datanet and cycle that trained an adapter, if this peer's manifests record it. */
function cycleOfAdapter (views: DatanetView[], adapter: string): { view: DatanetView, cycle: string } | undefined {
  for (const view of views) {
    const c = view.cycles.find(x => x.adapter === adapter)
    if (c !== undefined) return { view, cycle: c.cid }
  }
  return undefined
}

export async function describeJob (jobId: string, deps: JobCreditDeps): Promise<(JobFacts & { credit?: JobCredit & { datanet: string } }) | undefined> {
  const state = await deps.job(jobId)
  if (state === undefined) return undefined
  const a = state.announce
  const kind: JobKind = a.kind === 'infer' ? 'infer' : a.kind === 'attribute' ? 'attribute' : 'train'
  // A peer follows only the datanets it chose; the jobs it settles name theirs.
  const named = a.kind === 'attribute' ? (a.spec.datanet !== undefined && a.spec.version !== undefined ? `${a.spec.datanet}@${a.spec.version}` : undefined)
    : a.kind === 'train' && typeof a.spec.params.datanet === 'string' ? a.spec.params.datanet : undefined
  if (named?.includes('@') === true) await deps.follow?.(named).catch((err: Error) => deps.log?.('could not follow the job\'s datanet', { job: jobId, datanet: named, error: err.name }))
  const views = await deps.views()
  if (a.kind === 'attribute') {
    const measured = await deps.attribution?.(jobId)
    if (measured !== undefined && measured.lines.some(l => l.weight > 0)) {
      const cycle = a.spec.adapter !== undefined ? cycleOfAdapter(views, a.spec.adapter)?.cycle : undefined
      const lines = cycle !== undefined ? measured.lines.map(l => ({ ...l, cycle })) : measured.lines
      const credit = jobCredit({ lines, cycle: lines[0].cycle })
      deps.log?.('job credit', { job: jobId, kind, datanet: measured.datanet, basis: credit.basis, cycles: credit.cycles, contributors: credit.weights.length, from: 'the job\'s own verified attribution' })
      return { kind, contributorWeights: credit.weights, credit: { ...credit, datanet: measured.datanet } }
    }
  }
  let found: { view: DatanetView, cycle?: string } | undefined
  if (a.kind === 'infer') {
    // An inference batch on a base alone used no datanet.
    found = a.spec.adapter !== undefined ? cycleOfAdapter(views, a.spec.adapter) : undefined
  } else {
    const ref = typeof a.spec.params.datanet === 'string' ? a.spec.params.datanet : a.spec.datanet
    const view = ref !== undefined ? byDatanetRef(views, ref) : undefined
    // The adapter a training job produced; the one an attribution job measured.
    const adapter = a.kind === 'attribute' ? a.spec.adapter : state.result?.result
    const own = adapter !== undefined ? cycleOfAdapter(views, adapter) : undefined
    found = view !== undefined ? { view, cycle: own?.view.id === view.id ? own.cycle : undefined } : undefined
  }
  if (found === undefined) return { kind }
  const credit = jobCredit({ lines: creditLines(found.view), cycle: found.cycle })
  deps.log?.('job credit', { job: jobId, kind, datanet: found.view.id, basis: credit.basis, cycles: credit.cycles, contributors: credit.weights.length })
  return { kind, contributorWeights: credit.weights, credit: { ...credit, datanet: found.view.id } }
}
