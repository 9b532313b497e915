// The local API's server, attacked from outside: a path that does not decode, a Host
// that is not loopback (a DNS-rebinding page), a handler that throws something odd.
// Each gets a 4xx (or a 500 with no details), and the server keeps answering.
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { startApiServer, type ApiServer } from '../peer/api/server.ts'

/** A raw HTTP request, so the test controls the Host header and the path's bytes. */
async function raw (url: string, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number, body: any }> {
  const { hostname, port } = new URL(url)
  return await new Promise((resolve, reject) => {
    const req = request({ hostname, port, method, path, headers, setHost: headers.host === undefined }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8').trim().split('\n')[0] ?? ''
        let body: unknown = text
        try { body = JSON.parse(text) } catch {}
        resolve({ status: res.statusCode ?? 0, body })
      })
    })
    req.on('error', reject)
    req.end()
  })
}

describe('local API server: hostile requests', () => {
  let api: ApiServer
  const logged: string[] = []

  before(async () => {
    api = await startApiServer(0, 'secret', [
      { method: 'GET', path: '/ok', handle: () => ({ ok: true }) },
      { method: 'GET', path: /^\/items\/([^/]+)$/, handle: ({ params }) => ({ item: params[0] }) },
      { method: 'POST', path: /^\/items\/([^/]+)\/poke$/, handle: ({ params }) => ({ poked: params[0] }) },
      { method: 'GET', path: '/throws-string', handle: () => { throw 'not an Error' as unknown as Error } }
    ], (msg) => logged.push(msg))
  })
  after(async () => { await api?.close() })

  it('answers a path that does not percent-decode with 400, and keeps serving', async () => {
    for (const path of ['/items/%', '/items/%E0%A4%A', '/items/%zz']) {
      const res = await raw(api.url, 'GET', path)
      assert.equal(res.status, 400, path)
      assert.equal(res.body.error.name, 'MalformedRequestError')
    }
    const bad = await raw(api.url, 'POST', '/items/%/poke', { authorization: 'Bearer secret' })
    assert.equal(bad.status, 400)
    assert.deepEqual((await raw(api.url, 'GET', '/items/a%20b')).body, { item: 'a b' })
  })

  it('refuses a Host that is not loopback with 403 (DNS rebinding), GET and POST alike', async () => {
    const port = new URL(api.url).port
    for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1.evil.example:${port}`, `localhost.evil:${port}`]) {
      const get = await raw(api.url, 'GET', '/ok', { host })
      assert.equal(get.status, 403, host)
      assert.equal(get.body.error.name, 'ForbiddenHostError')
      const post = await raw(api.url, 'POST', '/items/x/poke', { host, authorization: 'Bearer secret' })
      assert.equal(post.status, 403, host)
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`]) {
      assert.equal((await raw(api.url, 'GET', '/ok', { host })).status, 200, host)
    }
  })

  it('answers a handler that throws a non-Error with 500 and no details, and keeps serving', async () => {
    const res = await raw(api.url, 'GET', '/throws-string')
    assert.equal(res.status, 500)
    assert.equal(res.body.error.name, 'InternalError')
    assert.equal(res.body.error.details, undefined)
    assert.deepEqual((await raw(api.url, 'GET', '/ok')).body, { ok: true })
  })
})
