// The shards of a datanet: each file CID once, at its first contribution (later
// copies are duplicates and need no extra storage), with the path it was added under.
import type { CID } from 'multiformats/cid'
import type { ManifestLog } from '../manifest/log.ts'

export interface Shard { cid: CID, path: string, size: number }

export function uniqueShards (log: ManifestLog): Shard[] {
  return trainingFiles(log).map(f => ({ cid: f.cid, path: f.path, size: f.size }))
}

/** A file as a training job reads it: who contributed it first, in which entry, with which label. */
export interface TrainingFile extends Shard {
  contributor: string
  /** CID of the contribution entry that first added it. */
  contribution: CID
  mediaType: string
  label?: string
}

/** Every distinct file of the log (first contributor wins), with its provenance. */
export function trainingFiles (log: ManifestLog): TrainingFile[] {
  const seen = new Set<string>()
  const out: TrainingFile[] = []
  for (const e of log.ordered()) {
    const p = e.entry.payload
    if (p.kind !== 'contribution') continue
    for (const f of p.files) {
      const key = f.cid.toString()
      if (seen.has(key)) continue
      seen.add(key)
      out.push({ cid: f.cid, path: f.path, size: f.size, contributor: p.contributor, contribution: e.cid, mediaType: f.mediaType, ...(f.label !== undefined ? { label: f.label } : {}) })
    }
  }
  return out
}
