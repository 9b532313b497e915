// The soak's fault hook (peer/net/chaos.ts): off unless OPENLEDGER_CHAOS is set, a bad
// value refused, and when on, a dropped gossip message is Ignored (never Rejected) and
// a dropped stream aborted before the handler, for the project's own protocols only.
import assert from 'node:assert/strict'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { CHAOS_ENV, ChaosConfigError, installChaos, parseChaos } from '../peer/net/chaos.ts'
import type { PeerLibp2p } from '../peer/net/libp2p.ts'

function fakeNode (): { node: PeerLibp2p, handlers: Map<string, (stream: any, connection: any) => unknown> } {
  const handlers = new Map<string, (stream: any, connection: any) => unknown>()
  const node = {
    services: { pubsub: { topicValidators: new Map() } },
    handle: async (protocol: string, handler: (stream: any, connection: any) => unknown) => { handlers.set(protocol, handler) }
  }
  return { node: node as unknown as PeerLibp2p, handlers }
}

describe('chaos hook', () => {
  it('parses gossip=Q,streams=Q and refuses anything else', () => {
    assert.equal(parseChaos(undefined), undefined)
    assert.equal(parseChaos(' '), undefined)
    assert.deepEqual(parseChaos('gossip=0.1,streams=0.25'), { gossip: 0.1, streams: 0.25 })
    assert.deepEqual(parseChaos('streams=1'), { gossip: 0, streams: 1 })
    for (const bad of ['gossip=2', 'gossip=-0.1', 'gossip', 'drop=0.1', 'gossip=x']) assert.throws(() => parseChaos(bad), ChaosConfigError, bad)
  })

  it('wraps nothing when unset', () => {
    const { node } = fakeNode()
    const { set } = node.services.pubsub.topicValidators
    const { handle } = node
    assert.equal(installChaos(node, {}, () => {}), undefined)
    assert.equal(node.services.pubsub.topicValidators.set, set)
    assert.equal(node.handle, handle)
  })

  it('drops gossip as Ignore and aborts streams of /openledger/ protocols only', async () => {
    const { node, handlers } = fakeNode()
    const draws = [0.01, 0.99, 0.01, 0.99]
    const logged: string[] = []
    installChaos(node, { [CHAOS_ENV]: 'gossip=0.5,streams=0.5' }, (m) => logged.push(m), () => draws.shift() ?? 0.99)
    node.services.pubsub.topicValidators.set('t', () => TopicValidatorResult.Reject)
    const validator = node.services.pubsub.topicValidators.get('t')!
    const peer = { toString: () => 'p' } as any
    assert.equal(validator(peer, {} as any), TopicValidatorResult.Ignore)
    assert.equal(validator(peer, {} as any), TopicValidatorResult.Reject)

    let served = 0
    await node.handle('/openledger/task/1.0.0', () => { served++ })
    await node.handle('/ipfs/bitswap/1.2.0', () => { served++ })
    let aborted = 0
    const stream = { abort: () => { aborted++ } }
    const connection = { remotePeer: peer }
    handlers.get('/openledger/task/1.0.0')!(stream, connection)
    handlers.get('/openledger/task/1.0.0')!(stream, connection)
    for (let i = 0; i < 5; i++) handlers.get('/ipfs/bitswap/1.2.0')!(stream, connection)
    assert.equal(aborted, 1)
    assert.equal(served, 6)
    assert.equal(logged.filter(m => m === 'chaos: dropped').length, 2)
  })
})
