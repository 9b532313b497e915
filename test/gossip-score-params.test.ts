// The gossip score parameters, run through gossipsub's own PeerScore: they validate,
// every topic is scored, rejected messages sink a peer below the graylist threshold
// within a few messages even with all the credit an honest peer can earn, and honest
// delivery never turns a score negative.
import assert from 'node:assert/strict'
import { PeerScore, validatePeerScoreParams, validatePeerScoreThresholds } from '@libp2p/gossipsub/score'
import { GOSSIP_SCORE_THRESHOLDS, gossipScoreParams } from '../protocols/gossip-score.ts'
import { TOPICS, topicName } from '../protocols/topics.ts'

const NETWORK = 'devnet'
const topics = TOPICS.map(t => topicName(NETWORK, t))
const silent = Object.assign(() => {}, { error: () => {}, trace: () => {}, newScope: () => silent, enabled: false })
const logger = { forComponent: () => silent }

function scorer (): PeerScore {
  // A cache validity of 0: every read recomputes.
  return new PeerScore(gossipScoreParams(NETWORK), null, logger as any, { scoreCacheValidityMs: 0 })
}

describe('gossip score parameters', () => {
  it('validate, and score every topic of the network', () => {
    const params = gossipScoreParams(NETWORK)
    validatePeerScoreParams(params)
    validatePeerScoreThresholds(GOSSIP_SCORE_THRESHOLDS)
    assert.deepEqual(Object.keys(params.topics).sort(), [...topics].sort())
    for (const t of topics) assert.ok(params.topics[t].invalidMessageDeliveriesWeight < 0, `${t} penalises invalid messages`)
  })

  it('graylist a peer with no credit after three rejected messages', () => {
    const s = scorer()
    s.addPeer('attacker')
    const seen: number[] = []
    for (let i = 0; i < 3; i++) {
      s.rejectInvalidMessage('attacker', topics[0])
      seen.push(s.score('attacker'))
    }
    assert.deepEqual(seen, [-10, -40, -90])
    assert.ok(seen[0] >= GOSSIP_SCORE_THRESHOLDS.gossipThreshold, 'one is tolerated by gossip')
    assert.ok(seen[1] < GOSSIP_SCORE_THRESHOLDS.gossipThreshold && seen[1] >= GOSSIP_SCORE_THRESHOLDS.publishThreshold)
    assert.ok(seen[2] < GOSSIP_SCORE_THRESHOLDS.graylistThreshold)
  })

  it('graylist a peer with all the credit there is after four rejected messages on one topic', () => {
    const s = scorer()
    s.addPeer('clever')
    for (const t of topics) {
      s.graft('clever', t)
      for (let i = 0; i < 50; i++) s.deliverMessage('clever', `${t}-${i}`, t)
    }
    // An hour in every mesh.
    const stats = s.peerStats.get('clever')!
    for (const t of topics) stats.topics[t].graftTime -= 3_600_000
    s.refreshScores()
    assert.equal(s.score('clever'), 10, 'credit is capped')
    for (let i = 0; i < 4; i++) s.rejectInvalidMessage('clever', topics[0])
    assert.ok(s.score('clever') < GOSSIP_SCORE_THRESHOLDS.graylistThreshold, `score ${s.score('clever')}`)
  })

  it('keep an honest peer at or above zero, in the mesh or not, delivering or silent', () => {
    const s = scorer()
    s.addPeer('honest')
    assert.equal(s.score('honest'), 0)
    s.graft('honest', topics[2])
    for (let i = 0; i < 600; i++) s.refreshScores() // ten silent minutes in the mesh: no delivery penalty
    assert.ok(s.score('honest') >= 0, `score ${s.score('honest')}`)
    s.deliverMessage('honest', 'm1', topics[0])
    assert.ok(s.score('honest') > 0)
  })
})
