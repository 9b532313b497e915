// Which advertised peers have stake on chain (peer/adverts/stake-book.ts): what shard
// placement ranks first. Reads are bounded and cached; a failed read counts as no stake.
import assert from 'node:assert/strict'
import { StakeBook } from '../peer/adverts/stake-book.ts'
import { holdersFor, type StorageCandidate } from '../storage/datanet/placement.ts'

const GiB = 2 ** 30

describe('stake book', () => {
  it('reads each address once per minute, a bounded number per refresh, forgets unlisted ones, and counts a failed read as unstaked', async () => {
    const reads: string[] = []
    const book = new StakeBook({
      isStaked: async (a) => { reads.push(a); if (a === '0xbad') throw new Error('rpc down'); return a.startsWith('0xs') },
      maxReads: 2
    })
    await book.refresh(['0xS1', '0xh1', '0xbad'], 0)
    assert.equal(reads.length, 2)
    await book.refresh(['0xS1', '0xh1', '0xbad'], 1_000)
    assert.equal(reads.length, 3, 'the one left over is read next, the others are fresh')
    assert.equal(book.isStaked('0xs1'), true)
    assert.equal(book.isStaked('0xh1'), false)
    assert.equal(book.isStaked('0xbad'), false)
    await book.refresh(['0xS1'], 61_000)
    assert.equal(reads.length, 4, 'stale: read again')
    assert.equal(book.isStaked('0xh1'), false, 'no longer advertised: forgotten')
  })

  it('three sybils claiming 2^53 bytes take no shard of a datanet that three staked peers follow', async () => {
    const book = new StakeBook({ isStaked: async (a) => a.startsWith('0xstaked') })
    const peers = [
      ...Array.from({ length: 3 }, (_, i) => ({ peerId: `staked-${i}`, address: `0xstaked${i}`, freeBytes: 100 * GiB })),
      ...Array.from({ length: 3 }, (_, i) => ({ peerId: `sybil-${i}`, address: `0xsybil${i}`, freeBytes: 2 ** 53 }))
    ]
    await book.refresh(peers.map(p => p.address))
    const candidates: StorageCandidate[] = peers.map(p => ({ peerId: p.peerId, freeBytes: p.freeBytes, staked: book.isStaked(p.address) }))
    for (let i = 0; i < 500; i++) assert.ok(holdersFor(`Qm-new-shard-${i}`, candidates, 3).every(h => h.startsWith('staked-')))
  })
})
