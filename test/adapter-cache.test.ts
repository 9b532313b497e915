import assert from 'node:assert/strict'
import { AdapterCache } from '../compute/serve/adapter-cache.ts'

describe('adapter LRU cache', () => {
  it('loads once, shares concurrent loads, evicts least recently used within the byte budget', async () => {
    const loads: string[] = []
    const cache = new AdapterCache<string>({
      maxBytes: 30,
      load: async key => {
        loads.push(key)
        await new Promise(resolve => setTimeout(resolve, 5))
        return { value: `adapter ${key}`, bytes: 10 }
      }
    })
    const [a1, a2] = await Promise.all([cache.get('a'), cache.get('a')])
    assert.equal(a1, 'adapter a')
    assert.equal(a2, 'adapter a')
    assert.deepEqual(loads, ['a'])
    await cache.get('b')
    await cache.get('c')
    await cache.get('a') // a is now most recent; b is the oldest
    await cache.get('d') // over budget: evicts b
    assert.ok(!cache.has('b') && cache.has('a') && cache.has('c') && cache.has('d'))
    const s = cache.stats()
    assert.deepEqual([s.hits, s.misses, s.evictions, s.entries, s.bytes], [2, 4, 1, 3, 30])
    assert.equal(s.loadMs.length, 4)
  })

  it('does not cache a failed load', async () => {
    let fail = true
    const cache = new AdapterCache<number>({ maxBytes: 100, load: async () => { if (fail) throw new Error('fetch failed'); return { value: 1, bytes: 1 } } })
    await assert.rejects(cache.get('x'), /fetch failed/)
    fail = false
    assert.equal(await cache.get('x'), 1)
  })
})
