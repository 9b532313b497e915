// Files that must survive kill -9: written to a temporary name, fsynced, renamed over
// the old one, then the folder fsynced. A reader sees the old or the new file, never
// half of one.
import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'

export interface WriteOptions {
  mode?: number
  /** Fail with EEXIST instead of replacing an existing file, atomically. */
  exclusive?: boolean
}

export async function writeFileAtomic (path: string, data: string | Uint8Array, opts: WriteOptions = {}): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true })
  const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const fh = await open(tmp, 'w', opts.mode ?? 0o600)
    try {
      await fh.writeFile(data)
      await fh.sync()
    } finally {
      await fh.close()
    }
    // link() refuses an existing target in one step; rename() would replace it.
    if (opts.exclusive === true) await link(tmp, path)
    else await rename(tmp, path)
  } finally {
    await rm(tmp, { force: true })
  }
  const dh = await open(dir, 'r')
  try { await dh.sync() } finally { await dh.close() }
}

export async function writeJsonAtomic (path: string, value: unknown, opts: WriteOptions = {}): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', opts)
}

/** Parsed JSON, or undefined when the file does not exist. */
export async function readJsonIfExists<T> (path: string): Promise<T | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  return JSON.parse(text) as T
}
