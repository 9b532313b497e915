// Atomic JSON writes for the compile cache and the deployed addresses file: temp file,
// fsync, rename. Its own copy because settlement/ is an engine that doesn't import
// storage/ (see settlement/README.md).
import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'

export async function writeJsonAtomic (path: string, value: unknown): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true })
  const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const fh = await open(tmp, 'w', 0o644)
    try {
      await fh.writeFile(JSON.stringify(value, null, 2) + '\n')
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } finally {
    await rm(tmp, { force: true })
  }
}
