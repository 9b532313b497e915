// The tests' one way to wait for something that happens elsewhere (another process,
// the network, a page): poll a check until it holds, or fail saying what was awaited
// and what the check last saw.

/** Records what the check saw on this try (a phase, a count, a status); the timeout message shows the last one. */
export type Saw = (seen: unknown) => void

/**
 * Calls `check` every `everyMs` until it returns something other than `undefined` or
 * `false`, and returns that. A check that throws is retried (its error is kept for the
 * message). After `timeoutMs` it throws "timed out after N s waiting for WHAT", with
 * the tries made, the last thing the check reported through `saw` (or else its last
 * result) and the last error it threw.
 */
export async function waitFor<T> (
  what: string,
  check: (saw: Saw) => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  everyMs = 100
): Promise<T> {
  const started = Date.now()
  const deadline = started + timeoutMs
  let tries = 0
  let seen: { value: unknown } | undefined
  let lastResult: unknown
  let lastError: unknown
  const saw: Saw = (value) => { seen = { value } }
  while (Date.now() < deadline) {
    tries++
    try {
      const v = await check(saw)
      if (v !== undefined && v !== false) return v
      lastResult = v
    } catch (err) {
      lastError = err
    }
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  const parts = [`${tries} ${tries === 1 ? 'try' : 'tries'}`, `last saw: ${seen !== undefined ? describe(seen.value) : describe(lastResult)}`]
  if (lastError !== undefined) parts.push(`last error: ${describe(lastError)}`)
  throw new WaitTimeoutError(`timed out after ${((Date.now() - started) / 1000).toFixed(1)} s waiting for ${what} (${parts.join('; ')})`)
}

export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError'
}

/** One line, at most 500 characters, of whatever a check saw or threw. */
function describe (v: unknown): string {
  let s: string
  if (v instanceof Error) s = `${v.name}: ${v.message}`
  else if (typeof v === 'string') s = v
  else {
    try {
      s = JSON.stringify(v, (_k, x) => typeof x === 'bigint' ? x.toString() : x) ?? String(v)
    } catch {
      s = String(v)
    }
  }
  s = s.replace(/\s+/g, ' ')
  return s.length > 500 ? `${s.slice(0, 500)}…` : s
}
