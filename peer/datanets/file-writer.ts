// Writing a datanet's files (or one file) out of the swarm into a folder: shards this
// peer lacks are pulled in bulk from whichever holders answer (bitswap for the rest),
// every block is checked against its CID as it is read, each file is written to a
// `.partial` and renamed when whole, and nothing is written outside the folder.
import { mkdir, rename, rm } from 'node:fs/promises'
import { createWriteStream } from 'node:fs'
import { dirname, resolve, sep } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import type { Blockstore } from 'interface-blockstore'
import type { Shard } from '../../storage/datanet/shards.ts'
import { readFile as readUnixfsFile } from '../../storage/unixfs/index.ts'
import { UsageError } from '../errors.ts'
import type { ShardFetcher } from './shard-fetcher.ts'

export interface FileWriterDeps {
  /** Helia's blockstore: blocks not held here come by bitswap. */
  blockstore: Blockstore
  fetcher: ShardFetcher
  log: (msg: string, fields?: Record<string, unknown>) => void
}

/** Fetches `files` and writes them under `root` (a resolved path); progress in bytes and files. */
export async function writeShardFiles (deps: FileWriterDeps, root: string, datanet: string | undefined, files: Shard[], progress: (p: unknown) => void, signal: AbortSignal): Promise<unknown> {
  const bytesTotal = files.reduce((s, f) => s + f.size, 0)
  let fetched = 0
  const report = await deps.fetcher.fetch(files.map(f => f.cid), {
    signal,
    onBytes: (b) => { fetched = Math.min(b, bytesTotal); progress({ bytesDone: fetched, bytesTotal, filesDone: 0, filesTotal: files.length }) }
  })
  if (report.missing.length > 0) deps.log('get: some shards only via bitswap', { missing: report.missing.length })
  let bytesDone = 0
  for (const [i, f] of files.entries()) {
    const dest = resolve(root, f.path)
    if (!dest.startsWith(root + sep)) throw new UsageError(`refusing to write outside ${root}: ${f.path}`)
    await mkdir(dirname(dest), { recursive: true })
    const tmp = `${dest}.partial`
    const source = readUnixfsFile(deps.blockstore, f.cid, { signal })
    const counted = (async function * () {
      for await (const chunk of source) {
        bytesDone += chunk.byteLength
        progress({ bytesDone: Math.max(bytesDone, fetched), bytesTotal, filesDone: i, filesTotal: files.length })
        yield chunk
      }
    })()
    try {
      await pipeline(Readable.from(counted), createWriteStream(tmp))
      await rename(tmp, dest)
    } catch (err) {
      await rm(tmp, { force: true })
      throw err
    }
  }
  return { datanet, out: root, files: files.length, bytes: bytesDone }
}
