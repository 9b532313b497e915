// A read-only JSON status API on 127.0.0.1, for `openledger status`, the devnet
// view and tests. Loopback only: it tells whoever asks what this node knows.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface StatusServer {
  url: string
  close (): Promise<void>
}

export async function startStatusServer (port: number, routes: Record<string, () => unknown>): Promise<StatusServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    const route = routes[path]
    if (req.method !== 'GET' || route == null) {
      res.writeHead(req.method !== 'GET' ? 405 : 404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: req.method !== 'GET' ? 'method not allowed' : 'not found', routes: Object.keys(routes) }))
      return
    }
    try {
      const body = JSON.stringify(route())
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      res.end(body)
    } catch (err) {
      res.writeHead(500, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: (err as Error).message }))
    }
  })
  server.keepAliveTimeout = 1_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  const { port: bound } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${bound}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
