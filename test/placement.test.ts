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

  it('gives more shards to peers with more free disk and none to full ones', () => {
    const mixed = [...peers.slice(0, 9), { peerId: 'big', freeBytes: 1000 * GiB }, { peerId: 'full', freeBytes: MIN_FREE_BYTES - 1 }]
    const count = (id: string) => shards.filter(s => holdersFor(s, mixed, 1)[0] === id).length
    assert.ok(count('big') > 3 * count('peer-0'))
    assert.equal(count('full'), 0)
  })
})
