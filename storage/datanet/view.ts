// What a datanet says, derived from its manifest alone, the same on every peer that
// holds the same entries: who contributed what, which files are duplicates, what
// each contribution has been credited with by training cycles (weights from a cycle's
// own credits, or from the latest attribution record that scores the cycle).
//
// Anti-farming: the first contribution of a file CID (in log order) is credited; the
// same bytes contributed again are flagged `duplicateOf` and credit nobody new. With
// MinHash sketches, text close to earlier text is flagged `nearDuplicateOf` with its
// estimated similarity (it still counts: near is not the same, and reviewers decide).
import { LshIndex, signatureFromBytes } from '../dedupe/minhash.ts'
import type { ManifestLog } from '../manifest/log.ts'
import type { StoredEntry } from '../manifest/entry.ts'
import type { Contribution, ContributionFile, Genesis, TrainingCycle } from './records.ts'

export interface FileView extends Omit<ContributionFile, 'cid'> {
  cid: string
  duplicateOf?: { contribution: string, contributor: string }
  nearDuplicateOf?: { cid: string, similarity: number }
}

export interface ContributionView {
  cid: string
  contributor: string
  ts: number
  clock: number
  license: string
  files: FileView[]
  bytes: number
  /** Credit from training cycles, one line per cycle that named this contribution. */
  credits: Array<{ cycle: string, model: string, version: string, weight: number, influence?: number, method?: string }>
}

export interface ContributorView {
  address: string
  contributions: number
  files: number
  bytes: number
  duplicateFiles: number
  nearDuplicateFiles: number
  creditWeight: number
}

export interface DatanetView {
  id: string
  name: string
  description: string
  license: string
  creator: string
  createdAt: number
  heads: string[]
  entries: number
  contributions: ContributionView[]
  contributors: ContributorView[]
  /** `entitled`: in a view built with an entitlement, whether this cycle may credit anyone. */
  cycles: Array<{ cid: string, reporter: string, model: string, version: string, adapter?: string, credits: number, attributedBy?: string, method?: string, entitled?: boolean }>
  totals: { files: number, uniqueFiles: number, bytes: number, uniqueBytes: number }
}

/** A contribution's MinHash signatures (bytes), one per file (null where none), and their format version. */
export interface Sketches { version: number, sigs: Array<Uint8Array | null> }

/**
 * Which credit entries may move money, by entry CID: a training cycle whose reporter
 * is the released worker of the job that produced its adapter; an attribution record
 * made for a released attribution job. Decided by a layer that reads the chain; in a
 * view built with it, any other cycle credits nothing and any other record replaces
 * nothing (a stranger's newer record cannot wipe out the entitled one).
 */
export interface CreditEntitlement {
  cycles: ReadonlySet<string>
  attributions: ReadonlySet<string>
}

export interface ViewOptions {
  /** Only these entries credit contributions; absent: every entry does (what the manifest says, for display). */
  entitled?: CreditEntitlement
  /** Sketches per contribution CID. */
  sketches?: Map<string, Sketches>
  /** Similarity at or above which text is flagged as a near duplicate. */
  nearThreshold?: number
}

export function deriveView (log: ManifestLog, opts: ViewOptions = {}): DatanetView {
  const entries = log.ordered()
  const genesis = log.genesis.entry.payload as Genesis
  const firstSeen = new Map<string, { contribution: string, contributor: string }>()
  const contributions: ContributionView[] = []
  const byCid = new Map<string, ContributionView>()
  const cycles: DatanetView['cycles'] = []
  const threshold = opts.nearThreshold ?? 0.8
  // One index per sketch version: signatures of different versions do not compare.
  const near = new Map<number, LshIndex>()

  for (const e of entries) {
    const p = e.entry.payload
    if (p.kind === 'contribution') {
      const view = contributionView(e, p, firstSeen, opts.sketches?.get(e.cid.toString()), near, threshold)
      contributions.push(view)
      byCid.set(view.cid, view)
    } else if (p.kind === 'training-cycle') {
      const entitled = opts.entitled === undefined || opts.entitled.cycles.has(e.cid.toString())
      cycles.push({ ...cycleView(e, p), ...(opts.entitled !== undefined ? { entitled } : {}) })
      if (!entitled) continue
      for (const c of p.credits) {
        byCid.get(c.contribution.toString())?.credits.push({ cycle: e.cid.toString(), model: p.model, version: p.version.toString(), weight: c.weight })
      }
    } else if (p.kind === 'attribution') {
      // Entries are in log order, so the cycle (if this peer has it) came first.
      const cycle = cycles.find(c => c.cid === p.cycle.toString())
      if (cycle == null) continue
      if (opts.entitled !== undefined && (cycle.entitled !== true || !opts.entitled.attributions.has(e.cid.toString()))) continue
      // A newer attribution of the same cycle replaces the older one's lines.
      for (const c of contributions) c.credits = c.credits.filter(x => x.cycle !== cycle.cid)
      cycle.credits = p.credits.length
      cycle.attributedBy = e.author
      cycle.method = p.method
      for (const c of p.credits) {
        byCid.get(c.contribution.toString())?.credits.push({ cycle: cycle.cid, model: cycle.model, version: cycle.version, weight: c.weight, influence: c.influence, method: p.method })
      }
    }
  }

  const contributors = new Map<string, ContributorView>()
  for (const c of contributions) {
    const v = contributors.get(c.contributor) ?? { address: c.contributor, contributions: 0, files: 0, bytes: 0, duplicateFiles: 0, nearDuplicateFiles: 0, creditWeight: 0 }
    v.contributions++
    v.files += c.files.length
    v.bytes += c.bytes
    v.duplicateFiles += c.files.filter(f => f.duplicateOf != null).length
    v.nearDuplicateFiles += c.files.filter(f => f.nearDuplicateOf != null).length
    v.creditWeight += c.credits.reduce((s, x) => s + x.weight, 0)
    contributors.set(c.contributor, v)
  }

  const all = contributions.flatMap(c => c.files)
  const unique = all.filter(f => f.duplicateOf == null)
  return {
    id: log.id,
    name: genesis.name,
    description: genesis.description,
    license: genesis.license,
    creator: genesis.creator,
    createdAt: log.genesis.entry.ts,
    heads: log.heads.map(String),
    entries: entries.length,
    contributions,
    contributors: [...contributors.values()].sort((a, b) => b.bytes - a.bytes),
    cycles,
    totals: {
      files: all.length,
      uniqueFiles: unique.length,
      bytes: all.reduce((s, f) => s + f.size, 0),
      uniqueBytes: unique.reduce((s, f) => s + f.size, 0)
    }
  }
}

function contributionView (e: StoredEntry, p: Contribution, firstSeen: Map<string, { contribution: string, contributor: string }>,
  sketches: Sketches | undefined, indexes: Map<number, LshIndex>, threshold: number): ContributionView {
  let near: LshIndex | undefined
  if (sketches != null) {
    near = indexes.get(sketches.version)
    if (near == null) indexes.set(sketches.version, near = new LshIndex())
  }
  const cid = e.cid.toString()
  const files: FileView[] = p.files.map((f, i) => {
    const fileCid = f.cid.toString()
    const view: FileView = { ...f, cid: fileCid }
    const first = firstSeen.get(fileCid)
    if (first != null) {
      view.duplicateOf = first
      return view
    }
    firstSeen.set(fileCid, { contribution: cid, contributor: e.author })
    const sketch = sketches?.sigs[i]
    if (sketch != null && near != null) {
      const signature = signatureFromBytes(sketch)
      const best = near.query(signature, threshold).find(m => m.id !== fileCid)
      if (best != null) view.nearDuplicateOf = { cid: best.id, similarity: best.similarity }
      near.add(fileCid, signature)
    }
    return view
  })
  return {
    cid,
    contributor: e.author,
    ts: e.entry.ts,
    clock: e.entry.clock,
    license: p.license,
    files,
    bytes: p.files.reduce((s, f) => s + f.size, 0),
    credits: []
  }
}

function cycleView (e: StoredEntry, p: TrainingCycle): DatanetView['cycles'][number] {
  return {
    cid: e.cid.toString(),
    reporter: e.author,
    model: p.model,
    version: p.version.toString(),
    adapter: p.adapter?.toString(),
    credits: p.credits.length
  }
}

