// Attacks on a peer's local API from a web page (finding 4): a path that does not
// percent-decode (it killed the node) and a DNS-rebound Host. Each must get a 4xx and
// the peer must keep answering.
import { request } from 'node:http'
import { attempts, type AttackOutcome } from './outcome.ts'

async function raw (url: string, path: string, host?: string): Promise<number> {
  const { hostname, port } = new URL(url)
  return await new Promise((resolve, reject) => {
    const req = request({ hostname, port, method: 'GET', path, headers: host !== undefined ? { host } : {}, setHost: host === undefined }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end()
  })
}

export async function apiAttacks (statusUrls: string[]): Promise<AttackOutcome> {
  const tries: Array<[string, () => Promise<string | null>]> = []
  for (const url of statusUrls) {
    for (const path of ['/datanets/%', '/datanets/%E0%A4%A/contributors/%zz', '/jobs/%']) {
      tries.push([`GET ${path} on ${url}`, async () => { const code = await raw(url, path); return code >= 400 && code < 500 ? String(code) : null }])
    }
    tries.push([`GET /status with Host: evil.example on ${url}`, async () => { const code = await raw(url, '/status', `evil.example:${new URL(url).port}`); return code === 403 ? '403' : null }])
  }
  const result = await attempts(tries)
  let crashes = 0
  for (const url of statusUrls) if (await raw(url, '/status').catch(() => 0) !== 200) crashes++
  return { attack: 'api: undecodable paths and a rebound Host from a web page', finding: '4', ...result, openTaken: 0n, honestSlashed: 0, crashes }
}
