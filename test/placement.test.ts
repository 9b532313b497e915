import assert from 'node:assert/strict'
import { holdersFor, MIN_FREE_BYTES } from '../storage/datanet/placement.ts'

const GiB = 2 ** 30
const peers = Array.from({ length: 10 }, (_, i) => ({ peerId: `peer-${i}`, freeBytes: 100 * GiB }))
const shards = Array.from({ length: 2_000 }, (_, i) => `Qm-shard-${i}`)

describe('shard placement (weighted rendezvous hashing)', () => {
  it('gives R distinct holders, the same whatever the order of the adverts', () => {
    for (const s of shards.slice(0, 50)) {
      const h = holdersFor(s, peers, 3)
      assert.equal(new Set(h).size, 3)
      assert.deepEqual(holdersFor(s, [...peers].reverse(), 3), h)
    }
  })

  it('spreads shards evenly over equal peers', () => {
    const load = new Map<string, number>()
    for (const s of shards) for (const p of holdersFor(s, peers, 3)) load.set(p, (load.get(p) ?? 0) + 1)
    const expected = shards.length * 3 / peers.length
    for (const n of load.values()) assert.ok(Math.abs(n - expected) < expected * 0.15, `${n} vs ${expected}`)
  })

  it('moves only the shards of a peer that leaves', () => {
    const without = peers.filter(p => p.peerId !== 'peer-3')
    let moved = 0
    for (const s of shards) {
      const before = holdersFor(s, peers, 3)
      const after = holdersFor(s, without, 3)
      if (!before.includes('peer-3')) assert.deepEqual(after, before)
      else {
        moved++
        // The other two holders stay; one new peer joins.
        assert.deepEqual(after.filter(p => before.includes(p)).sort(), before.filter(p => p !== 'peer-3').sort())
      }
    }
    assert.ok(moved > 0)
  })

  it('gives more shards to peers with more free disk, up to the median claim, and none to full ones', () => {
    const small = Array.from({ length: 4 }, (_, i) => ({ peerId: `small-${i}`, freeBytes: 25 * GiB }))
    const mid = Array.from({ length: 5 }, (_, i) => ({ peerId: `mid-${i}`, freeBytes: 200 * GiB }))
    const mixed = [...small, ...mid, { peerId: 'big', freeBytes: 1000 * GiB }, { peerId: 'full', freeBytes: MIN_FREE_BYTES - 1 }]
    const count = (id: string) => shards.filter(s => holdersFor(s, mixed, 1)[0] === id).length
    assert.ok(count('mid-0') > 3 * count('small-0'))
    // A claim above the median (200 GiB) counts as the median: unchecked, it could be anyone's.
    const midMean = mid.reduce((n, p) => n + count(p.peerId), 0) / mid.length
    assert.ok(Math.abs(count('big') - midMean) < midMean * 0.3, `${count('big')} vs ${midMean}`)
    assert.equal(count('full'), 0)
  })
})

// Issue 19, finding 10: capacity adverts are signed by keys that cost nothing, and the
// free disk they claim is not checked. Three throwaway keys claiming 2^53 bytes must not
// take the new shards from honest peers.
describe('shard placement against throwaway keys claiming huge disks', () => {
  // Honest peers claim what disks hold (100 to 500 GiB); the sybils claim 2^53 bytes.
  const honest = Array.from({ length: 9 }, (_, i) => ({ peerId: `honest-${i}`, freeBytes: (100 + 50 * i) * GiB }))
  const sybils = Array.from({ length: 3 }, (_, i) => ({ peerId: `sybil-${i}`, freeBytes: 2 ** 53 }))
  const isSybil = (p: string): boolean => p.startsWith('sybil-')

  function tally (candidates: Array<{ peerId: string, freeBytes: number, staked?: boolean }>) {
    let sybilSlots = 0
    let noHonestHolder = 0
    for (const s of shards) {
      const h = holdersFor(s, candidates, 3)
      const n = h.filter(isSybil).length
      sybilSlots += n
      if (n === h.length) noHonestHolder++
    }
    return { share: sybilSlots / (shards.length * 3), noHonestHolder: noHonestHolder / shards.length }
  }

  it('a claim weighs at most the median claim: three sybils take about their share by number (3 of 12), and almost never a whole shard', () => {
    const { share, noHonestHolder } = tally([...honest, ...sybils])
    assert.ok(share <= 0.32, `sybils hold ${(share * 100).toFixed(1)}% of the holder slots`)
    assert.ok(noHonestHolder <= 0.03, `${(noHonestHolder * 100).toFixed(1)}% of shards have no honest holder`)
  })

  it('peers with stake on chain rank first: unstaked sybils take no shard while three staked peers can hold it', () => {
    const staked = honest.map((h, i) => ({ ...h, staked: i < 3 }))
    assert.equal(tally([...staked, ...sybils]).share, 0)
    // With fewer staked peers than R, the rest of the slots go by the capped claims, as above.
    const one = honest.map((h, i) => ({ ...h, staked: i === 0 }))
    for (const s of shards.slice(0, 100)) assert.equal(holdersFor(s, [...one, ...sybils], 3)[0], 'honest-0')
  })
})
