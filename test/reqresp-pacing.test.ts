// A responder's rate limit is not a refusal: on a real libp2p connection over loopback,
// an asker that outruns the limit is answered RateLimitedError, and requestPaced waits
// it out so that every request is served; a verifier never reads it as proof against a
// worker (isTransient), so it is never slashed for it.
import assert from 'node:assert/strict'
import { peerIdFromString } from '@libp2p/peer-id'
import { findingsOf, isTransient } from '../peer/market/check-run.ts'
import { classifyFault } from '../settlement/policy/index.ts'
import { isRateLimited, request, requestPaced, serveProtocol, type ProtocolLimits } from '../protocols/reqresp.ts'
import { createPlainNode, type PlainNode } from '../bench/lib/plain-node.ts'

const PROTOCOL = '/openledger-test/paced/1.0.0'
const LIMITS: ProtocolLimits = { maxRequestBytes: 64, maxResponseBytes: 64, timeoutMs: 10_000, maxInboundStreams: 8, rateLimit: { burst: 4, refillMs: 40 } }

describe('request pacing against a rate-limited responder (real libp2p on loopback)', function () {
  this.timeout(60_000)
  let server: PlainNode
  let client: PlainNode
  let served = 0

  before(async () => {
    ;[server, client] = await Promise.all([createPlainNode(), createPlainNode()])
    await serveProtocol(server, PROTOCOL, LIMITS, async (req) => { served++; return req })
    await client.dial(server.getMultiaddrs()[0])
  })
  after(async () => { await Promise.all([server?.stop(), client?.stop()]) })

  it('plain requests past the burst are refused with RateLimitedError', async () => {
    const peer = peerIdFromString(server.peerId.toString())
    const errors: unknown[] = []
    for (let i = 0; i < 12; i++) await request(client, peer, PROTOCOL, LIMITS, Uint8Array.of(i)).catch((err: unknown) => errors.push(err))
    assert.ok(errors.length > 0, 'the limit never bit: the test proves nothing')
    assert.ok(errors.every(isRateLimited), String(errors[0]))
    // What the verifier makes of it: transient, a finding that proves nothing.
    const e = errors[0] as Error
    assert.ok(isTransient(e))
    // The evidence the verifier writes for it (verifier.ts) proves no fault.
    assert.equal(classifyFault(findingsOf({ error: e.name, ...(isTransient(e) ? { unproven: true } : {}) })), null)
    await new Promise(resolve => setTimeout(resolve, LIMITS.rateLimit.refillMs * LIMITS.rateLimit.burst + 50))
  })

  it('paced requests are all served, in order, whatever the pace (10x the burst)', async () => {
    const peer = peerIdFromString(server.peerId.toString())
    const before = served
    const answers: number[] = []
    for (let i = 0; i < 40; i++) answers.push((await requestPaced(client, peer, PROTOCOL, LIMITS, Uint8Array.of(i)))[0])
    assert.deepEqual(answers, Array.from({ length: 40 }, (_, i) => i))
    assert.equal(served - before, 40)
  })

  it('gives up after its attempts with the RemoteError, not a hang', async () => {
    const peer = peerIdFromString(server.peerId.toString())
    const slow: ProtocolLimits = { ...LIMITS, rateLimit: { burst: 1, refillMs: 1 } } // the asker's idea of the pace is wrong
    let refused = 0
    for (let i = 0; i < 8 && refused === 0; i++) {
      await Promise.all(Array.from({ length: 8 }, async () => await requestPaced(client, peer, PROTOCOL, slow, Uint8Array.of(1), { attempts: 2 }).catch((err: unknown) => { if (isRateLimited(err)) refused++ })))
    }
    assert.ok(refused > 0)
  })
})
