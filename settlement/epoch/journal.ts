// Append-only journal of JSON records, one per line, each prefixed with its CRC-32, for
// the receipts the builder has acknowledged. append() returns only after fdatasync, so
// an acknowledged record survives kill -9 and power loss. After a crash the last line may
// be torn (cut short, or garbage from a write the disk never finished): a damaged tail
// is dropped and the file truncated back to its last good line. A damaged line *followed
// by a good one* is not a torn write but lost acknowledged data, and opening refuses.
import { crc32 } from 'node:zlib'
import { mkdir, open, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { JournalCorruptError } from './errors.ts'

const NL = 0x0a

export interface JournalOpen<T> {
  journal: Journal
  records: T[]
  /** Bytes of torn tail that were dropped (0 after a clean shutdown). */
  droppedBytes: number
}

function frame (record: unknown): string {
  const json = JSON.stringify(record)
  return crc32(json).toString(16).padStart(8, '0') + ' ' + json + '\n'
}

function unframe (line: Buffer): unknown {
  const text = line.toString('utf8')
  if (text.length < 10 || text[8] !== ' ') return undefined
  const json = text.slice(9)
  if (!/^[0-9a-f]{8}$/.test(text.slice(0, 8)) || crc32(json) !== parseInt(text.slice(0, 8), 16)) return undefined
  try {
    return JSON.parse(json)
  } catch {
    return undefined
  }
}

export class Journal {
  readonly path: string
  #fh: FileHandle
  #size: number

  private constructor (path: string, fh: FileHandle, size: number) {
    this.path = path
    this.#fh = fh
    this.#size = size
  }

  /** Opens (creating if missing) the journal, repairs a torn tail, returns every good record in order. */
  static async open<T> (path: string): Promise<JournalOpen<T>> {
    await mkdir(dirname(path), { recursive: true })
    const fh = await open(path, 'a+')
    try {
      const data = await fh.readFile()
      const records: T[] = []
      let good = 0
      let firstBad = -1
      let pos = 0
      while (pos < data.length) {
        const nl = data.indexOf(NL, pos)
        const end = nl === -1 ? data.length : nl
        const record = nl === -1 ? undefined : unframe(data.subarray(pos, end))
        if (record === undefined) {
          if (firstBad === -1) firstBad = pos
        } else {
          if (firstBad !== -1) {
            throw new JournalCorruptError('journal has a damaged line before good ones', { path, offset: firstBad })
          }
          records.push(record as T)
          good = end + 1
        }
        pos = end + 1
      }
      const droppedBytes = data.length - good
      if (droppedBytes > 0) {
        await fh.truncate(good)
        await fh.sync()
      }
      if (data.length === 0) await syncDir(dirname(path))
      return { journal: new Journal(path, fh, good), records, droppedBytes }
    } catch (err) {
      await fh.close()
      throw err
    }
  }

  /** Appends the records as one write and fdatasyncs; on failure the file is cut back so no partial line stays. */
  async append (records: readonly unknown[]): Promise<void> {
    if (records.length === 0) return
    const buf = Buffer.from(records.map(frame).join(''), 'utf8')
    try {
      let off = 0
      while (off < buf.length) {
        const { bytesWritten } = await this.#fh.write(buf, off, buf.length - off, null)
        off += bytesWritten
      }
      await this.#fh.datasync()
      this.#size += buf.length
    } catch (err) {
      await this.#fh.truncate(this.#size).catch(() => {})
      throw err
    }
  }

  async close (): Promise<void> {
    await this.#fh.close()
  }
}

async function syncDir (dir: string): Promise<void> {
  const dh = await open(dir, 'r')
  try { await dh.sync() } finally { await dh.close() }
}
