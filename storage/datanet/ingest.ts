// Files and folders into shards: every path is checked first (type, size, count), so
// bad input is refused before anything is stored; then each file is imported as a
// Kubo-compatible UnixFS DAG and, for text, sketched with MinHash for near-duplicate
// checks. Progress is reported in bytes over the whole input.
import { createReadStream } from 'node:fs'
import { lstat, readdir } from 'node:fs/promises'
import { basename, extname, join, relative, resolve, sep } from 'node:path'
import { StorageError } from '../errors.ts'
import { signatureToBytes, sketchSignature } from '../dedupe/minhash.ts'
import { importPath, type WritableBlockstore } from '../unixfs/index.ts'
import { MAX_FILES_PER_CONTRIBUTION, type ContributionFile } from './records.ts'

/** A path that is not a regular file or folder, or an unsupported file type. */
export class UnsupportedFileError extends StorageError {}
/** A file (or the whole input) over the size limit. */
export class InputTooLargeError extends StorageError {}
/** Nothing to contribute. */
export class EmptyInputError extends StorageError {}

const TYPES: Record<string, ContributionFile['mediaType']> = {
  '.txt': 'text/plain',
  '.text': 'text/plain',
  '.md': 'text/markdown',
  '.markdown': 'text/markdown',
  '.jsonl': 'application/jsonl',
  '.ndjson': 'application/jsonl',
  '.csv': 'text/csv',
  '.json': 'application/json',
  '.eml': 'message/rfc822'
}

export interface IngestLimits {
  maxFileBytes: number
  maxTotalBytes: number
  maxFiles: number
}

export const DEFAULT_LIMITS: IngestLimits = {
  maxFileBytes: 1024 * 1024 * 1024,
  maxTotalBytes: 16 * 1024 * 1024 * 1024,
  maxFiles: 100_000
}

/** Text beyond this is not read for the sketch: near-duplicates show in the start. */
const SKETCH_BYTES = 4 * 1024 * 1024

export interface PlannedFile { absolute: string, path: string, size: number, mediaType: ContributionFile['mediaType'] }

export interface IngestProgress { bytesDone: number, bytesTotal: number, filesDone: number, filesTotal: number }

export interface IngestedFile { file: ContributionFile, sketch: Uint8Array | null }

export function mediaTypeOf (path: string): ContributionFile['mediaType'] | undefined {
  return TYPES[extname(path).toLowerCase()]
}

/** Walk the inputs and check everything; nothing is read or stored yet. */
export async function planIngest (inputs: string[], limits: IngestLimits = DEFAULT_LIMITS): Promise<PlannedFile[]> {
  if (inputs.length === 0) throw new EmptyInputError('no paths given')
  const planned: PlannedFile[] = []
  let total = 0
  const visit = async (absolute: string, root: string): Promise<void> => {
    const st = await lstat(absolute).catch((err: NodeJS.ErrnoException) => {
      throw new UnsupportedFileError(`cannot read ${absolute}: ${err.code ?? err.message}`, { path: absolute })
    })
    if (st.isDirectory()) {
      for (const name of (await readdir(absolute)).sort()) {
        if (name.startsWith('.')) continue // dotfiles (.git, .DS_Store) are not data
        await visit(join(absolute, name), root)
      }
      return
    }
    if (!st.isFile()) throw new UnsupportedFileError(`${absolute} is not a regular file (links and devices are refused)`, { path: absolute })
    const mediaType = mediaTypeOf(absolute)
    if (mediaType == null) {
      throw new UnsupportedFileError(`${absolute}: unsupported file type "${extname(absolute) || '(none)'}"; supported: ${Object.keys(TYPES).join(' ')}`, { path: absolute })
    }
    if (st.size > limits.maxFileBytes) throw new InputTooLargeError(`${absolute} is ${st.size} bytes; the limit is ${limits.maxFileBytes}`, { path: absolute })
    total += st.size
    if (total > limits.maxTotalBytes) throw new InputTooLargeError(`input is over ${limits.maxTotalBytes} bytes`, { total })
    if (planned.length >= limits.maxFiles) throw new InputTooLargeError(`input has over ${limits.maxFiles} files`)
    const rel = absolute === root ? basename(absolute) : relative(root, absolute)
    planned.push({ absolute, path: rel.split(sep).join('/'), size: st.size, mediaType })
  }
  for (const input of inputs) {
    const absolute = resolve(input)
    await visit(absolute, (await lstat(absolute).catch(() => null))?.isDirectory() === true ? resolve(absolute, '..') : absolute)
  }
  if (planned.length === 0) throw new EmptyInputError('no files found in the given paths')
  return planned
}

async function sketchOf (path: string): Promise<Uint8Array | null> {
  const chunks: Buffer[] = []
  for await (const chunk of createReadStream(path, { end: SKETCH_BYTES - 1 })) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString('utf8')
  return text.trim().length === 0 ? null : signatureToBytes(sketchSignature(text))
}

/** Import planned files into the blockstore; returns them in batches that fit one record each. */
export async function ingest (blockstore: WritableBlockstore, planned: PlannedFile[],
  opts: { onProgress?: (p: IngestProgress) => void, signal?: AbortSignal } = {}): Promise<IngestedFile[][]> {
  const bytesTotal = planned.reduce((s, f) => s + f.size, 0)
  let bytesBefore = 0
  const out: IngestedFile[] = []
  for (const [i, f] of planned.entries()) {
    opts.signal?.throwIfAborted()
    const result = await importPath(blockstore, f.absolute, {
      signal: opts.signal,
      onProgress: (done) => opts.onProgress?.({ bytesDone: bytesBefore + done, bytesTotal, filesDone: i, filesTotal: planned.length })
    })
    bytesBefore += f.size
    out.push({ file: { path: f.path, cid: result.cid, size: result.size, mediaType: f.mediaType }, sketch: await sketchOf(f.absolute) })
    opts.onProgress?.({ bytesDone: bytesBefore, bytesTotal, filesDone: i + 1, filesTotal: planned.length })
  }
  const batches: IngestedFile[][] = []
  for (let i = 0; i < out.length; i += MAX_FILES_PER_CONTRIBUTION) batches.push(out.slice(i, i + MAX_FILES_PER_CONTRIBUTION))
  return batches
}
