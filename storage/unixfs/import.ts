// Import bytes as a UnixFS file with exactly the layout of Kubo's `ipfs add` defaults
// (the IPIP-499 profile "unixfs-v0-2015"): CIDv0, sha2-256, dag-pb leaves wrapping
// UnixFS `file` nodes (no raw leaves), a fixed 262144-byte chunker, a balanced DAG of
// at most 174 links per node, and a single-chunk file stored as one node. The same
// bytes give the same root CID as `ipfs add`, which is what makes a datanet's files
// addressable from any IPFS node.
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import * as raw from 'multiformats/codecs/raw'
import { NotAFileError } from './errors.ts'
import type { Blockstore } from 'interface-blockstore'
import type { ImporterOptions } from 'ipfs-unixfs-importer'
import type { CID } from 'multiformats/cid'

/** Kubo's default chunk size (`--chunker=size-262144`). */
export const KUBO_CHUNK_SIZE = 262_144
/** Kubo's default maximum number of links per file node (`Import.UnixFSFileMaxLinks`). */
export const KUBO_MAX_LINKS = 174

/** What importFile writes to: only `put` is used. */
export type WritableBlockstore = Pick<Blockstore, 'put'>

export type ImportSource = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>

export interface ImportOptions {
  /** Called with the number of file bytes stored so far; the last call is the file size. */
  onProgress?: (bytesDone: number) => void
  signal?: AbortSignal
}

export interface ImportResult {
  /** Root CID, equal to what `ipfs add` prints for the same bytes. */
  cid: CID
  /** File size in bytes (content only, not counting dag-pb/UnixFS framing). */
  size: number
  /** Every distinct block of the DAG, root first, then depth-first in link order. */
  blocks: CID[]
}

/** The importer settings equal to `ipfs add` with Kubo's defaults. Spelled out rather
 *  than taken from the importer's `profile` so a change of its defaults cannot move CIDs. */
const KUBO_IMPORTER_OPTIONS: ImporterOptions = {
  cidVersion: 0,
  rawLeaves: false,
  leafType: 'file',
  reduceSingleLeafToSelf: true,
  wrapWithDirectory: false,
  fieldOrder: 'links-first',
  chunker: fixedSize({ chunkSize: KUBO_CHUNK_SIZE }),
  layout: balanced({ maxChildrenPerNode: KUBO_MAX_LINKS })
}

async function * checked (source: ImportSource, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  signal?.throwIfAborted()
  if (source instanceof Uint8Array) {
    yield source
    return
  }
  for await (const chunk of source) {
    signal?.throwIfAborted()
    yield chunk
  }
}

async function concat (val: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  if (val instanceof Uint8Array) return val
  const parts: Uint8Array[] = []
  let n = 0
  for await (const p of val) { parts.push(p); n += p.byteLength }
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.byteLength }
  return out
}

/**
 * Chunk, encode and store `source` as a UnixFS file, Kubo-compatible. Streams: at most a
 * few chunks are held in memory, so sources of any size can be imported.
 */
export async function importFile (blockstore: WritableBlockstore, source: ImportSource, opts: ImportOptions = {}): Promise<ImportResult> {
  const links = new Map<string, { cid: CID, children: CID[] }>()
  const writes = new Map<string, Promise<CID>>()
  let bytesDone = 0
  let reported = -1
  const report = (): void => {
    if (opts.onProgress != null && bytesDone !== reported) {
      reported = bytesDone
      opts.onProgress(bytesDone)
    }
  }

  // Watch every block going in: remember its links (to list the DAG without reading it
  // back) and count leaf bytes once they are stored (for progress).
  const recorder: WritableBlockstore = {
    async put (cid, val, options) {
      const bytes = await concat(val)
      let children: CID[] = []
      let fileBytes = 0
      if (cid.code === dagPb.code) {
        const node = dagPb.decode(bytes)
        children = node.Links.map(l => l.Hash)
        if (children.length === 0 && node.Data != null) fileBytes = UnixFS.unmarshal(node.Data).data?.byteLength ?? 0
      } else if (cid.code === raw.code) {
        fileBytes = bytes.byteLength
      }
      // A chunk repeated in the file is one block: store it once. (Writing the same
      // block concurrently also costs blockstore-fs about a second of rename retries.)
      const key = cid.toString()
      let pending = writes.get(key)
      if (pending == null) {
        pending = Promise.resolve(blockstore.put(cid, bytes, { ...options, signal: opts.signal }))
        writes.set(key, pending)
      }
      const stored = await pending
      links.set(key, { cid, children })
      bytesDone += fileBytes
      report()
      return stored
    }
  }

  let root: { cid: CID, size: number } | undefined
  const entries = importer([{ content: checked(source, opts.signal) }], recorder, { ...KUBO_IMPORTER_OPTIONS })
  for await (const entry of entries) {
    root = { cid: entry.cid, size: Number(entry.unixfs?.fileSize() ?? 0n) }
  }
  if (root == null) throw new Error('importer produced no entry')

  // The blocks reachable from the root, root first, each once.
  const blocks: CID[] = []
  const seen = new Set<string>()
  const stack: CID[] = [root.cid]
  while (stack.length > 0) {
    const cid = stack.pop() as CID
    const key = cid.toString()
    if (seen.has(key)) continue
    seen.add(key)
    blocks.push(cid)
    const rec = links.get(key)
    if (rec == null) throw new Error(`importer linked to block ${key} it never stored`)
    for (let i = rec.children.length - 1; i >= 0; i--) stack.push(rec.children[i])
  }

  bytesDone = root.size
  report()
  return { cid: root.cid, size: root.size, blocks }
}

/** Import a file from disk, streamed (never read whole into memory). */
export async function importPath (blockstore: WritableBlockstore, path: string, opts: ImportOptions = {}): Promise<ImportResult> {
  const st = await stat(path)
  if (!st.isFile()) throw new NotAFileError(`not a regular file: ${path}`, { path })
  const stream = createReadStream(path, { highWaterMark: KUBO_CHUNK_SIZE, signal: opts.signal })
  try {
    return await importFile(blockstore, stream as AsyncIterable<Uint8Array>, opts)
  } finally {
    stream.destroy()
  }
}
