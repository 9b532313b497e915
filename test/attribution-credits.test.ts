// Issue 20's robustness properties, on the live policy path: peer/attribution/inputs.ts
// attributionCredits (what `openledger attribute`, the market's attribution jobs and
// their verifiers run) over settlement/policy/attribution-credits.ts.
//  - sybilSplit: one contributor's files split over 2 or 4 identities earn at most 1.05x
//    what they earned unsplit (before: the zero floor and the fit gate per contribution
//    and a 25% per-address cap, so splitting off the harmful files, or splitting a large
//    contributor, paid)
//  - copyEarnsNothing: an exact or near copy (>= nearDuplicateAt) of another
//    contributor's file earns <= 0.001 of the pool, and the first keeps its credit
//  - the shared-credit band (similarity 0.8-0.9) runs: before, every flagged file was
//    dropped before the policy saw it
//  - reorder: the same contributions in another order pay the same to 1e-9, including
//    a real language-model adapter trained and attributed on both orders
import assert from 'node:assert/strict'
import { attributionCredits, type CreditInput } from '../peer/attribution/inputs.ts'
import { attributionCredits as policyCredits, attributionRewards, DEFAULT_ATTRIBUTION_POLICY } from '../settlement/policy/index.ts'
import { Rng } from '../compute/random.ts'
import { documentWindows, windowDocuments, windowTargets, windowTokens } from '../compute/models/lm/data.ts'
import { trainLmAdapter } from '../compute/jobs/train-lm-adapter.ts'
import { attributeLm, attributionCheckpoints } from '../compute/jobs/attribute.ts'
import { lmParamSpecs } from '../compute/models/lm/params.ts'
import type { LmConfig } from '../compute/models/lm/config.ts'
import { loraSpecs } from '../compute/models/lora.ts'
import { initParams } from '../compute/models/param-spec.ts'
import { MemoryCheckpointStore } from '../compute/train/checkpoint-store.ts'
import type { Model } from '../compute/models/artifacts.ts'
import { readSotuAddresses } from '../storage/corpora/sotu.ts'

const addr = (i: number): string => '0x' + i.toString(16).padStart(40, '0')

interface World {
  examples: Array<{ file: string, contribution: string, tracin: number, datainf: number, loss: number }>
  contributorOf: Map<string, string>
  order: Map<string, number>
  near: Map<string, { file: string, similarity: number }>
  /** Each contribution's files. */
  files: Map<string, string[]>
}

/**
 * A datanet of `n` contributions (one address each), 1-12 files each, 1-5 examples per
 * file with mixed-sign scores, some files the adapter cannot fit, a few near-copies.
 * Contribution 0 is large (a quarter of the examples or more), so a per-address cap binds.
 */
function world (seed: number, n = 30): World {
  const rng = new Rng(seed)
  const w: World = { examples: [], contributorOf: new Map(), order: new Map(), near: new Map(), files: new Map() }
  let order = 0
  const all: string[] = []
  for (let c = 0; c < n; c++) {
    const contribution = `c${c}`
    w.contributorOf.set(contribution, addr(c + 1))
    const files: string[] = []
    const count = c === 0 ? 40 : 1 + rng.int(12)
    for (let f = 0; f < count; f++) {
      const file = `${contribution}/f${f}`
      files.push(file)
      w.order.set(file, order++)
      if (all.length > 0 && rng.uniform() < 0.05) w.near.set(file, { file: all[rng.int(all.length)], similarity: 0.8 + 0.2 * rng.uniform() })
      all.push(file)
      const junk = rng.uniform() < 0.1
      for (let e = 0; e < 1 + rng.int(5); e++) {
        w.examples.push({ file, contribution, tracin: (c === 0 ? 0.01 : 0) + rng.normal() * 0.01, datainf: 0, loss: junk ? 1 + rng.uniform() : 0.3 * rng.uniform() })
      }
    }
    w.files.set(contribution, files)
  }
  return w
}

const credits = (w: World, contributorOf = w.contributorOf, examples = w.examples): ReturnType<typeof attributionCredits> =>
  attributionCredits({ examples, validationLoss: 0.5, kind: 'classifier', contributorOf, order: w.order, near: w.near })

/** Contribution `c`'s files moved to `k` new contributions of new addresses (file ids and order kept). */
function split (w: World, c: string, k: number, rng: Rng): { examples: World['examples'], contributorOf: Map<string, string>, identities: string[] } {
  const contributorOf = new Map(w.contributorOf)
  const identities = Array.from({ length: k }, (_, i) => addr(10_000 + i))
  const part = new Map<string, number>()
  for (const file of w.files.get(c) ?? []) part.set(file, rng.int(k))
  for (let i = 0; i < k; i++) contributorOf.set(`${c}#${i}`, identities[i])
  const examples = w.examples.map(e => e.contribution === c ? { ...e, contribution: `${c}#${part.get(e.file) as number}` } : e)
  return { examples, contributorOf, identities }
}

const weightOf = (s: ReturnType<typeof attributionCredits>, addresses: readonly string[]): number =>
  s.contributors.filter(c => addresses.includes(c.address)).reduce((sum, c) => sum + c.weight, 0)

describe('attribution credits: sybilSplit', function () {
  it('splitting a contributor\'s files over 2 or 4 identities earns at most 1.05x the unsplit payout (40 worlds, every kind of contributor)', () => {
    let tried = 0
    for (let seed = 1; seed <= 40; seed++) {
      const w = world(seed)
      const whole = credits(w)
      const rng = new Rng(1000 + seed)
      for (const c of ['c0', `c${1 + rng.int(29)}`]) {
        for (const k of [2, 4]) {
          const s = split(w, c, k, rng)
          const before = weightOf(whole, [w.contributorOf.get(c) as string])
          const after = weightOf(credits(w, s.contributorOf, s.examples), s.identities)
          assert.ok(after <= 1.05 * before + 1e-12, `seed ${seed}, ${c} over ${k}: ${after} vs ${before} unsplit`)
          tried++
        }
      }
    }
    assert.equal(tried, 160)
  })

  it('the attack it stops: under a per-address cap, or a floor and gate per contribution, the same split paid more', () => {
    // A large contributor (40% of the value) under a 25% cap: split in two, 40%.
    const units = [{ id: 'a', contributor: addr(1), influence: 4, order: 0 }, ...Array.from({ length: 6 }, (_, i) => ({ id: `o${i}`, contributor: addr(2 + i), influence: 1, order: 1 + i }))]
    const capped = attributionRewards(units, { maxShare: 0.25 }).contributors.find(c => c.contributor === addr(1))!.weight
    const halves = attributionRewards([{ ...units[0], influence: 2 }, { id: 'a2', contributor: addr(99), influence: 2, order: 0.5 }, ...units.slice(1)], { maxShare: 0.25 })
    const splitWeight = halves.contributors.filter(c => c.contributor === addr(1) || c.contributor === addr(99)).reduce((s, c) => s + c.weight, 0)
    assert.ok(splitWeight > 1.3 * capped, `the cap did not bind: ${splitWeight} vs ${capped}`)
    assert.equal(DEFAULT_ATTRIBUTION_POLICY.maxShare, 1, 'the default policy has no per-address cap')
    // A contribution of one helpful and one harmful file: per file, the harmful one is
    // floored on its own whether or not it is split off.
    const w: World = { examples: [], contributorOf: new Map([['a', addr(1)], ['b', addr(2)]]), order: new Map([['a/good', 0], ['a/bad', 1], ['b/x', 2]]), near: new Map(), files: new Map() }
    w.examples.push({ file: 'a/good', contribution: 'a', tracin: 3, datainf: 0, loss: 0.1 }, { file: 'a/bad', contribution: 'a', tracin: -2, datainf: 0, loss: 0.1 }, { file: 'b/x', contribution: 'b', tracin: 1, datainf: 0, loss: 0.1 })
    const whole = credits(w)
    assert.equal(whole.contributions.find(c => c.contribution === 'a')!.paidInfluence, 3, 'per file: the helpful file is paid, the harmful one floored')
    const s = credits(w, new Map([...w.contributorOf, ['a2', addr(3)]]), w.examples.map(e => e.file === 'a/bad' ? { ...e, contribution: 'a2' } : e))
    assert.equal(weightOf(s, [addr(1), addr(3)]), weightOf(whole, [addr(1)]))
  })
})

describe('attribution credits: copies', function () {
  it('copyEarnsNothing: an exact or near copy of another contributor\'s file earns <= 0.001 of the pool; the first keeps its credit', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const w = world(seed)
      const without = credits(w)
      // Copy the best-paid file of someone else, from a new address, late.
      const best = [...without.contributions].sort((a, b) => b.paidInfluence - a.paidInfluence)[0]
      const original = (w.files.get(best.contribution) as string[]).find(f => !w.near.has(f)) as string
      for (const similarity of [1, 0.95, DEFAULT_ATTRIBUTION_POLICY.nearDuplicateAt]) {
        const copy = { ...w, contributorOf: new Map([...w.contributorOf, ['thief', addr(777)]]), order: new Map([...w.order, ['thief/copy', 1e6]]), near: new Map([...w.near, ['thief/copy', { file: original, similarity }]]) }
        const examples = [...w.examples, ...w.examples.filter(e => e.file === original).map(e => ({ ...e, file: 'thief/copy', contribution: 'thief' }))]
        const s = credits(copy, copy.contributorOf, examples)
        assert.ok(weightOf(s, [addr(777)]) <= 0.001, `seed ${seed}, similarity ${similarity}: the copy earned ${weightOf(s, [addr(777)])}`)
        const mine = (r: typeof s) => r.contributions.find(c => c.contribution === best.contribution)!.paidInfluence
        assert.equal(mine(s), mine(without), 'the original keeps its credit')
      }
    }
  })

  it('the shared-credit band runs: a later file at similarity 0.85 shares half of what the original provides', () => {
    const w: World = { examples: [], contributorOf: new Map([['a', addr(1)], ['b', addr(2)]]), order: new Map([['a/x', 0], ['b/y', 1]]), near: new Map([['b/y', { file: 'a/x', similarity: 0.85 }]]), files: new Map() }
    w.examples.push({ file: 'a/x', contribution: 'a', tracin: 2, datainf: 0, loss: 0.1 }, { file: 'b/y', contribution: 'b', tracin: 3, datainf: 0, loss: 0.1 })
    const s = credits(w)
    // o = (0.85 - 0.8) / (0.9 - 0.8) = 0.5; credited 3 - 0.5 x min(3, 2) = 2.
    assert.ok(Math.abs(s.contributions.find(c => c.contribution === 'b')!.paidInfluence - 2) < 1e-12)
    assert.equal(s.contributions.find(c => c.contribution === 'b')!.flagged['near-duplicate-shared'], 1)
    assert.equal(s.contributions.find(c => c.contribution === 'a')!.paidInfluence, 2)
    assert.ok(Math.abs(s.contributors.find(c => c.address === addr(2))!.weight - 0.5) < 1e-12)
  })

  it('gatePadding at the policy: junk files fail the gate each, whatever easy copies pad them', () => {
    for (const copies of [0, 10, 100, 1000]) {
      const examples = [{ file: 'good', tracin: 0.02, loss: 0.1 }, { file: 'junk', tracin: 0.05, loss: 3 }]
      const files = [{ file: 'good', contribution: 'g', contributor: 'G', order: 0 }, { file: 'junk', contribution: 'j', contributor: 'J', order: 1 }]
      for (let i = 0; i < copies; i++) {
        examples.push({ file: `copy${i}`, tracin: 0.02, loss: 0.01 })
        files.push({ file: `copy${i}`, contribution: 'j', contributor: 'J', order: 2 + i, nearDuplicateOf: { file: 'good', similarity: 0.97 } } as typeof files[number])
      }
      const r = policyCredits({ examples, files, validationLoss: 0.5, kind: 'classifier' })
      const junk = r.contributors.find(c => c.contributor === 'J')?.weight ?? 0
      assert.ok(junk <= 0.001, `${copies} copies: the junk earned ${junk}`)
    }
  })

  it('the LM gate reads loss per token: a short junk file is not easier to pass than a long one', () => {
    // Window losses are summed over their targets: 5 junk tokens sum to less than a full
    // window of good text, but per token they are far worse.
    const examples = [{ file: 'good', tracin: 1, loss: 64 * 3, tokens: 64 }, { file: 'junk', tracin: 1, loss: 5 * 8, tokens: 5 }]
    const files = [{ file: 'good', contribution: 'g', contributor: 'G', order: 0 }, { file: 'junk', contribution: 'j', contributor: 'J', order: 1 }]
    const r = policyCredits({ examples, files, validationLoss: 3.2, kind: 'lm' })
    assert.deepEqual(r.unfit, ['junk'])
  })

  it('refuses malformed input with a typed error', () => {
    const files = [{ file: 'a', contribution: 'c', contributor: 'A', order: 0 }]
    for (const bad of [
      { examples: [{ file: 'nope', tracin: 1, loss: 0 }], files },
      { examples: [{ file: 'a', tracin: NaN, loss: 0 }], files },
      { examples: [{ file: 'a', tracin: 1, loss: -1 }], files },
      { examples: [{ file: 'a', tracin: 1, loss: 1, tokens: 0 }], files },
      { examples: [], files: [...files, ...files] }
    ]) {
      assert.throws(() => policyCredits({ ...bad, validationLoss: 0.5, kind: 'classifier' }), (e: Error) => e.name === 'InvalidPolicyInputError')
    }
  })
})

describe('attribution credits: reorder', function () {
  this.timeout(120_000)

  it('the same contributions in any order give the same weights (policy path, 10 worlds x 3 permutations)', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const w = world(seed)
      const base = credits(w)
      const rng = new Rng(seed)
      for (let p = 0; p < 3; p++) {
        const s = credits(w, w.contributorOf, rng.shuffle([...w.examples]))
        for (const c of base.contributors) {
          const other = s.contributors.find(x => x.address === c.address)!
          assert.ok(Math.abs(other.weight - c.weight) <= 1e-9, `seed ${seed}: ${c.address} ${c.weight} vs ${other.weight}`)
        }
      }
    }
  })

  it('language-model windows never cross documents, and the same documents in any order give the same windows', () => {
    const docs = [5, 1, 17, 16, 33, 0, 2].map((n, i) => Int32Array.from({ length: n }, (_, k) => (i * 7 + k) % 30))
    const w = documentWindows(docs, { seq: 8, eot: 38, pad: 39 })
    const docOf = windowDocuments(docs.map(d => d.length), w)
    for (let i = 0; i < w.count; i++) {
      const t = windowTokens(w, i)
      const d = docs[docOf[i]]
      // Inputs and targets lie inside the document and its end-of-text token.
      assert.ok(t.length <= 9 && t.length >= 2)
      assert.deepEqual([...t], [...Int32Array.from([...d, 38])].slice((w.starts![i] - w.starts![docOf.indexOf(docOf[i])]), (w.starts![i] - w.starts![docOf.indexOf(docOf[i])]) + t.length))
    }
    // Every token of every document is a target exactly once.
    let targets = 0
    for (let i = 0; i < w.count; i++) targets += windowTargets(w, i)
    assert.equal(targets, docs.reduce((s, d) => s + d.length, 0))
    const key = (ws: typeof w) => Array.from({ length: ws.count }, (_, i) => windowTokens(ws, i).join(',')).sort()
    assert.deepEqual(key(documentWindows([...docs].reverse(), { seq: 8, eot: 38, pad: 39 })), key(w))
  })

  it('a real language-model adapter trained and attributed on the documents in two orders pays the same to 1e-9', async () => {
    const cfg: LmConfig = { vocab: 130, dModel: 16, layers: 1, heads: 2, ffn: 32, context: 16 }
    const tokenizer = { vocabSize: 130, eot: 128, pad: 129, encode: (s: string) => Int32Array.from([...s], c => Math.min(c.charCodeAt(0), 127)), decode: (ids: ArrayLike<number>) => String.fromCharCode(...Array.from(ids, i => (i < 128 ? i : 63))), toJSON: () => ({ kind: 'ascii' }) }
    const base = { meta: { format: 'openledger/model/1', kind: 'lm', name: 'tiny', config: cfg, tokenizer: tokenizer.toJSON(), provenance: {} }, params: initParams(lmParamSpecs(cfg), 3) } as unknown as Model
    const lora = { rank: 2, alpha: 4, targets: ['l0.attn.wq', 'l0.attn.wv'] }
    const hyper = { steps: 30, batch: 8, seq: 16, lr: 5e-3, warmup: 3, weightDecay: 0, checkpointEvery: 15, seed: 1 }
    const speeches = readSotuAddresses({ limit: 7 })
    const docs = speeches.map((a, i) => ({ id: `doc${i}`, text: a.text.slice(0, 150 + 37 * i) }))
    const heldOut = [speeches[6].text.slice(2000, 2400)]
    const payout = async (order: typeof docs) => {
      const store = new MemoryCheckpointStore()
      await trainLmAdapter({ base, baseCid: 'tiny', tokenizer, train: order.map(d => d.text), heldOut, lora, hyper, threads: 1, store })
      const specs = loraSpecs(lmParamSpecs(cfg), lora)
      const tokens = order.map(d => tokenizer.encode(d.text))
      const train = documentWindows(tokens, { seq: hyper.seq, eot: 128, pad: 129 })
      const docOf = windowDocuments(tokens.map(t => t.length), train)
      const validation = documentWindows(heldOut.map(t => tokenizer.encode(t)), { seq: hyper.seq, eot: 128, pad: 129 })
      const scores = await attributeLm({ base, lora, initial: initParams(specs, hyper.seed), checkpoints: await attributionCheckpoints(store, specs, hyper), train, groups: Array.from(docOf, i => order[i].id), validation, threads: 1 })
      const examples = Array.from(docOf, (d, k) => ({ file: order[d].id, contribution: order[d].id, tracin: scores.tracin[k], datainf: scores.datainf[k], loss: scores.finalLoss[k] }))
      const input: CreditInput = {
        examples, validationLoss: scores.validationLoss, kind: 'lm',
        tokens: { examples: Array.from({ length: train.count }, (_, i) => windowTargets(train, i)), validationMean: Array.from({ length: validation.count }, (_, i) => windowTargets(validation, i)).reduce((a, b) => a + b, 0) / validation.count },
        contributorOf: new Map(docs.map((d, i) => [d.id, addr(i + 1)])), order: new Map(docs.map((d, i) => [d.id, i])), near: new Map()
      }
      return attributionCredits(input)
    }
    const a = await payout(docs)
    const b = await payout(new Rng(5).shuffle([...docs]))
    assert.ok(a.contributors.some(c => c.weight > 0), 'somebody is paid')
    for (const c of a.contributors) {
      const o = b.contributors.find(x => x.address === c.address)!
      assert.ok(Math.abs(o.weight - c.weight) <= 1e-9, `${c.address}: ${c.weight} vs ${o.weight}`)
      assert.ok(Math.abs(o.influence - c.influence) <= 1e-9 * Math.max(1, Math.abs(c.influence)))
    }
  })
})

describe('attribution bench: robustness properties on a case\'s scores', function () {
  it('sybilSplit, copyEarnsNothing, gatePadding and reorder pass on a synthetic case', async () => {
    const { robustness } = await import('../bench/attribution/robustness.ts')
    const rng = new Rng(3)
    const words = 'spam ham offer money meeting lunch report invoice friday monday urgent reply'.split(' ')
    const text = () => Array.from({ length: 40 }, () => words[rng.int(words.length)]).join(' ') + ' ' + rng.int(1e9)
    const people = Array.from({ length: 12 }, (_, i) => ({ id: `p${i}`, bad: i < 2, order: i, texts: Array.from({ length: 2 + rng.int(6) }, text), labels: [] as number[] }))
    for (const p of people) p.labels = p.texts.map(() => rng.int(2))
    const tracin: number[] = []
    const loss: number[] = []
    for (const p of people) for (let j = 0; j < p.texts.length; j++) { tracin.push((p.bad ? -0.5 : 0.5) + rng.normal()); loss.push(p.bad ? 2 : 0.2 * rng.uniform()) }
    // The largest contributor holds far more than a quarter of the value.
    for (let k = people[2].texts.length; k > 0; k--) tracin[people[0].texts.length + people[1].texts.length + k - 1] += 20
    const props = robustness({ people, scores: { tracin, loss }, validationLoss: 0.5, kind: 'classifier' }, 1)
    for (const name of ['sybilSplit', 'copyEarnsNothing', 'gatePadding', 'reorder']) assert.equal(props[name].pass, true, `${name}: ${JSON.stringify(props[name])}`)
  })
})
