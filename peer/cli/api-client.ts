// Talks to the running peer's local API: GET for reading, POST (with the token from
// run.json) for changes, reading the NDJSON progress lines as they come.
import { join } from 'node:path'
import { readJsonIfExists } from '../../storage/atomic-file.ts'
import { EXIT, NodeNotRunningError, PeerError } from '../errors.ts'

/** The node refused the request; carries the node's error name. */
export class ApiError extends PeerError {
  readonly remoteName: string
  constructor (name: string, message: string, details?: Record<string, unknown>) {
    super(message, /NotFound|Unknown/.test(name) ? EXIT.notFound : /Usage|Unsupported|TooLarge|Empty|Ambiguous|AlreadyImported|Malformed|Invalid|GraphBuild|ShapeMismatch|BadTrainingData|Refused/.test(name) ? EXIT.usage : EXIT.failure, details)
    this.remoteName = name
  }
}

export interface NodeEndpoint { url: string, token?: string }

export async function endpointOf (dataDir: string, url?: string): Promise<NodeEndpoint> {
  const run = await readJsonIfExists<{ statusUrl: string, token?: string }>(join(dataDir, 'run.json'))
  if (url != null) return { url, token: run?.statusUrl === url ? run.token : undefined }
  if (run == null) throw new NodeNotRunningError(dataDir, 'no run.json (start it with: openledger node start)')
  return { url: run.statusUrl, token: run.token }
}

async function call (ep: NodeEndpoint, method: string, path: string, body?: unknown, timeoutMs?: number): Promise<Response> {
  try {
    return await fetch(new URL(path, ep.url), {
      method,
      signal: timeoutMs != null ? AbortSignal.timeout(timeoutMs) : undefined,
      headers: { 'content-type': 'application/json', ...(ep.token != null ? { authorization: `Bearer ${ep.token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause
    throw new NodeNotRunningError(ep.url, cause?.code ?? (err as Error).message)
  }
}

function fail (value: unknown, status: number): never {
  const e = (value as { error?: { name?: string, message?: string, details?: Record<string, unknown> } })?.error
  throw new ApiError(e?.name ?? 'Error', e?.message ?? `HTTP ${status}`, e?.details)
}

/** GET a route; with timeoutMs, a node that does not answer in time counts as not running. */
export async function apiGet<T> (ep: NodeEndpoint, path: string, timeoutMs?: number): Promise<T> {
  const res = await call(ep, 'GET', path, undefined, timeoutMs)
  const value = await res.json().catch(() => ({}))
  if (!res.ok) fail(value, res.status)
  return value as T
}

export async function apiPost<T> (ep: NodeEndpoint, path: string, body: unknown, onProgress?: (p: any) => void): Promise<T> {
  const res = await call(ep, 'POST', path, body)
  if (!res.ok || res.body == null) fail(await res.json().catch(() => ({})), res.status)
  let buffered = ''
  const decoder = new TextDecoder()
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true })
    let nl: number
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      if (line.trim() === '') continue
      const msg = JSON.parse(line) as { progress?: unknown, result?: T, error?: unknown }
      if (msg.progress !== undefined) onProgress?.(msg.progress)
      else if ('result' in msg) return msg.result as T
      else fail(msg, 200)
    }
  }
  throw new PeerError('the node closed the connection before answering', EXIT.failure)
}
