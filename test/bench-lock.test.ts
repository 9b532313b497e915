import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { withFileLock } from '../peer/adverts/bench-lock.ts'

describe('start-up benchmark lock', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'openledger-lock-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('lets one holder in at a time', async () => {
    let inside = 0
    let most = 0
    const work = async (): Promise<void> => {
      inside++
      most = Math.max(most, inside)
      await new Promise(resolve => setTimeout(resolve, 30))
      inside--
    }
    await Promise.all(Array.from({ length: 5 }, async () => await withFileLock(join(dir, 'bench.lock'), work)))
    assert.equal(most, 1)
  })

  it('takes over a lock whose owner died', async () => {
    // A pid that is not running: the largest pid Linux hands out is below 2^22.
    await writeFile(join(dir, 'bench.lock'), String(2 ** 22 + 7))
    assert.equal(await withFileLock(join(dir, 'bench.lock'), async () => 'ran', 5_000), 'ran')
  })
})
