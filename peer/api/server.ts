// The peer's local API on 127.0.0.1: GET routes answer JSON (status, datanets) to
// anyone on this machine (or, for a Page, a document such as the dashboard); POST routes change things and need the bearer token the
// node writes into run.json (readable by its owner only). A POST answers with
// NDJSON: zero or more {"progress": ...} lines, then {"result": ...} or {"error": ...},
// so long work (a big contribution) shows progress and a CLI can read it as it comes.
// Who may call: anyone on this machine for GETs, the token holder for POSTs; a request
// whose Host is not a loopback name gets 403 (a DNS-rebound web page), a path that does
// not decode gets 400, and nothing a request does can crash the node.
import { timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export const MAX_BODY_BYTES = 1024 * 1024

export interface RouteContext {
  params: string[]
  body: unknown
  /** Report progress (POST routes only). */
  progress: (value: unknown) => void
  /** Aborted when the client goes away. */
  signal: AbortSignal
}

export interface Route {
  method: 'GET' | 'POST'
  /** Exact path, or a pattern whose groups become params. */
  path: string | RegExp
  handle: (ctx: RouteContext) => unknown
}

/** A GET route's answer that is a document, not JSON (the dashboard's HTML), sent as is with its headers. */
export class Page {
  readonly contentType: string
  readonly body: string | Uint8Array
  readonly headers: Record<string, string>

  constructor (contentType: string, body: string | Uint8Array, headers: Record<string, string> = {}) {
    this.contentType = contentType
    this.body = body
    this.headers = headers
  }
}

export interface ApiServer {
  url: string
  close (): Promise<void>
}

/** Status code for an error that reached the API: its own, a typed client error, or 500. */
function statusOf (err: Error & { httpStatus?: number }): number {
  if (err.httpStatus != null) return err.httpStatus
  if (/^Unknown|NotFound/.test(err.name)) return 404
  if (err.name !== 'Error' && err.name !== 'TypeError' && err.name !== 'RangeError') return 400
  return 500
}

function errorBody (err: Error & { details?: unknown }): unknown {
  const internal = statusOf(err) === 500
  return { error: { name: internal ? 'InternalError' : err.name, message: internal ? 'internal error (see the node log)' : err.message, details: internal ? undefined : err.details } }
}

/** JSON with bigints (wei amounts, revert arguments) as decimal strings: a stray one must not crash the node. */
function toJson (value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => typeof v === 'bigint' ? v.toString() : v)
}

async function readBody (req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength
    if (size > MAX_BODY_BYTES) throw Object.assign(new Error(`request body over ${MAX_BODY_BYTES} bytes`), { name: 'BodyTooLargeError', httpStatus: 413 })
    chunks.push(chunk as Buffer)
  }
  if (size === 0) return {}
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw Object.assign(new Error('request body is not JSON'), { name: 'MalformedRequestError', httpStatus: 400 })
  }
}

class ApiRequestError extends Error {
  readonly httpStatus: number
  constructor (name: string, message: string, httpStatus: number) {
    super(message)
    this.name = name
    this.httpStatus = httpStatus
  }
}

function decodeParam (x: string | undefined): string {
  if (x === undefined) return ''
  try {
    return decodeURIComponent(x)
  } catch {
    throw new ApiRequestError('MalformedRequestError', 'the path does not percent-decode', 400)
  }
}

function match (route: Route, method: string, path: string): string[] | undefined {
  if (route.method !== method) return undefined
  if (typeof route.path === 'string') return route.path === path ? [] : undefined
  const m = route.path.exec(path)
  return m == null ? undefined : m.slice(1).map(decodeParam)
}

/**
 * Only loopback names may reach the API: a web page whose own name was rebound to
 * 127.0.0.1 sends its own Host, and must not read the answers (or spend the token's
 * work) as if it were this machine's user.
 */
function loopbackHost (host: string | undefined, port: number): boolean {
  if (host === undefined) return false
  const h = host.toLowerCase()
  return ['127.0.0.1', 'localhost', '[::1]'].some(name => h === name || h === `${name}:${port}`)
}

/** An error as the API sees it: a thrown non-Error (a string, undefined) becomes a plain Error. */
function asError (err: unknown): Error & { httpStatus?: number, details?: unknown } {
  return err instanceof Error ? err : new Error(String(err))
}

export async function startApiServer (port: number, token: string, routes: Route[], log: (msg: string, f?: Record<string, unknown>) => void = () => {}): Promise<ApiServer> {
  const expected = Buffer.from(`Bearer ${token}`)
  let boundPort = 0
  // Nothing a request does may reach the process as an unhandled rejection.
  const server: Server = createServer((req, res) => {
    serve(req, res).catch((err: unknown) => {
      const e = asError(err)
      const status = statusOf(e)
      if (status === 500) log('api error', { path: req.url, error: e.stack })
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json' })
      res.end(toJson(errorBody(e)))
    })
  })

  async function serve (req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!loopbackHost(req.headers.host, boundPort)) {
      throw new ApiRequestError('ForbiddenHostError', 'this API answers only requests addressed to 127.0.0.1 or localhost', 403)
    }
    const path = (req.url ?? '/').split('?')[0]
    // HEAD is a GET whose body node:http leaves out.
    const method = req.method === 'HEAD' ? 'GET' : req.method ?? 'GET'
    let params: string[] | undefined
    const route = routes.find(r => (params = match(r, method, path)) != null)
    if (route == null) {
      const known = routes.some(r => match({ ...r, method: method as Route['method'] }, method, path) != null)
      res.writeHead(known ? 405 : 404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { name: known ? 'MethodNotAllowedError' : 'NotFoundError', message: `${method} ${path}` } }))
      return
    }
    const controller = new AbortController()
    res.on('close', () => { if (!res.writableFinished) controller.abort() })
    if (method === 'GET') {
      try {
        const value = await route.handle({ params: params!, body: {}, progress: () => {}, signal: controller.signal })
        if (value instanceof Page) {
          res.writeHead(200, { ...value.headers, 'content-type': value.contentType, 'cache-control': 'no-store' })
          res.end(value.body)
          return
        }
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        res.end(toJson(value))
      } catch (err) {
        const e = asError(err)
        res.writeHead(statusOf(e), { 'content-type': 'application/json' })
        res.end(toJson(errorBody(e)))
        if (statusOf(e) === 500) log('api error', { path, error: e.stack })
      }
      return
    }
    const auth = Buffer.from(req.headers.authorization ?? '')
    if (auth.byteLength !== expected.byteLength || !timingSafeEqual(auth, expected)) {
      res.writeHead(401, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { name: 'UnauthorizedError', message: 'missing or wrong API token (see run.json)' } }))
      return
    }
    let body: unknown
    try {
      body = await readBody(req)
    } catch (err) {
      const e = asError(err)
      res.writeHead(statusOf(e), { 'content-type': 'application/json' })
      res.end(toJson(errorBody(e)))
      return
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
    let lastProgress = 0
    const progress = (value: unknown): void => {
      const now = Date.now()
      if (now - lastProgress < 100) return // at most 10 lines a second
      lastProgress = now
      res.write(toJson({ progress: value }) + '\n')
    }
    try {
      const result = await route.handle({ params: params!, body, progress, signal: controller.signal })
      res.end(toJson({ result }) + '\n')
    } catch (err) {
      const e = asError(err)
      if (statusOf(e) === 500) log('api error', { path, error: e.stack })
      res.end(toJson(errorBody(e)) + '\n')
    }
  }

  server.keepAliveTimeout = 1_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  const { port: bound } = server.address() as AddressInfo
  boundPort = bound
  return {
    url: `http://127.0.0.1:${bound}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
