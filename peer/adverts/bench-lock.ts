// Peers started together on one machine (the devnet) take turns at the start-up
// MatMul benchmark, so each advert carries the machine's rate rather than a share of
// it. The lock is a file created exclusively, holding the owner's pid; a lock whose
// owner is gone (kill -9) is taken over.
import { open, readFile, rm } from 'node:fs/promises'

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

export async function withFileLock<T> (path: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const fh = await open(path, 'wx')
      await fh.writeFile(String(process.pid))
      await fh.close()
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const owner = Number(await readFile(path, 'utf8').catch(() => ''))
      if (Number.isInteger(owner) && owner > 0 && !alive(owner)) { await rm(path, { force: true }); continue }
      // Past the deadline, measure anyway: a wrong lock must not stop the peer.
      if (Date.now() > deadline) return await fn()
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }
  try {
    return await fn()
  } finally {
    await rm(path, { force: true })
  }
}
