// Polling until a condition holds, with a deadline.
import { setTimeout as sleep } from 'node:timers/promises'

export { sleep }

/**
 * Calls `check` every `intervalMs` until it returns a non-null value, which is returned.
 * Throws after `timeoutMs`, with `describe()` (the last state) in the message.
 */
export async function waitFor<T> (check: () => Promise<T | null | undefined>, opts: {
  timeoutMs: number
  intervalMs?: number
  describe?: () => string
}): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs
  for (;;) {
    const v = await check()
    if (v != null) return v
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${opts.timeoutMs} ms${opts.describe != null ? `: ${opts.describe()}` : ''}`)
    }
    await sleep(opts.intervalMs ?? 500)
  }
}

/** Resolves or rejects like `p`, or rejects after `ms` ("<what> timed out"). */
export async function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}
