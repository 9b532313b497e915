// The epoch store's meta.json: its format and first epoch number, written once when the
// store is created and checked on every open (a store is never reopened as another).
import { join } from 'node:path'
import { readJsonIfExists, writeJsonAtomic } from '../../storage/atomic-file.ts'
import { EpochStoreError } from './errors.ts'
import { META_FORMAT, type Meta } from './epoch-records.ts'

/** Reads (or creates with `firstEpoch`) the store's meta; `given`: the caller named a first epoch, which must match. */
export async function openMeta (dir: string, firstEpoch: number, given: boolean): Promise<Meta> {
  const path = join(dir, 'meta.json')
  let meta = await readJsonIfExists<Meta>(path)
  if (meta === undefined) {
    meta = { format: META_FORMAT, firstEpoch }
    await writeJsonAtomic(path, meta)
  }
  if (meta.format !== META_FORMAT) throw new EpochStoreError('unknown epoch store format', { dir, format: meta.format })
  if (given && firstEpoch !== meta.firstEpoch) {
    throw new EpochStoreError('store was created with another first epoch', { dir, stored: meta.firstEpoch, given: firstEpoch })
  }
  return meta
}
