import assert from 'node:assert/strict'
import { isHeldOut } from '../compute/jobs/held-out.ts'
import { encodeModel } from '../compute/models/artifacts.ts'
import { buildBase, sotuSplit, spamSplit } from '../peer/models/recipes.ts'
import { importFile } from '../storage/unixfs/index.ts'

describe('base-model recipes', function () {
  this.timeout(120_000)

  it('build the same bytes twice (same threads), so the model file\'s CID names the recipe', async () => {
    const a = encodeModel(await buildBase('sotu-lm', { tiny: true, steps: 5, threads: 2 }))
    const b = encodeModel(await buildBase('sotu-lm', { tiny: true, steps: 5, threads: 2 }))
    assert.deepEqual(a, b)
    const c = encodeModel(await buildBase('spam-base', { tiny: true, steps: 5, threads: 2 }))
    assert.deepEqual(encodeModel(await buildBase('spam-base', { tiny: true, steps: 5, threads: 2 })), c)
  })

  it('hold out by the CID that datanet import gives each file, about one file in ten', async () => {
    const sotu = await sotuSplit()
    assert.equal(sotu.kept.length + sotu.heldOut.length, 233)
    assert.ok(sotu.heldOut.length > 10 && sotu.heldOut.length < 45, `${sotu.heldOut.length} held out`)
    const one = sotu.heldOut[0]
    const { cid } = await importFile({ put: async (c: any) => c }, new TextEncoder().encode(one.text))
    assert.ok(isHeldOut(cid.toString()))
    const spam = await spamSplit()
    assert.equal(spam.kept.length + spam.heldOut.length, 6046)
    assert.ok(spam.heldOut.some(m => m.label === 'spam') && spam.heldOut.some(m => m.label === 'ham'))
    const model = await buildBase('sotu-lm', { tiny: true, steps: 1, threads: 1 })
    assert.equal((model.meta.provenance as any).source.sotuHeldOut, sotu.heldOut.length)
  })
})
