// The language-model version of the attribution harness: contributors are State of the
// Union addresses (one speech each, N of them drawn by seed from those the held-out rule
// keeps), K of them bad; validation is a seeded sample of held-out addresses. Bad kinds:
//  - random-text: word salad drawn from the speeches' own words;
//  - off-topic: Moby-Dick chapters in place of the speech;
//  - duplicate: a late, lightly perturbed copy of another contributor's speech.
import { Rng } from '../../compute/random.ts'
import { mobyDickTexts } from '../../compute/tokenizer/index.ts'
import { sotuSplit } from '../../peer/models/recipes.ts'
import type { NoiseKind, Scenario, ScenarioContributor } from './scenario.ts'

export async function buildLmScenario (opts: { contributors: number, bad: number, noise: NoiseKind, seed: number, maxChars: number, validation: number }): Promise<Scenario> {
  if (opts.noise === 'label-flip') throw new RangeError('label-flip has no meaning for a language model; use random-text, off-topic or duplicate')
  const { kept, heldOut } = await sotuSplit()
  const rng = new Rng(opts.seed)
  const chosen = rng.shuffle([...kept]).slice(0, opts.contributors)
  const clip = (t: string) => t.slice(0, opts.maxChars)
  const badIdx = new Set(rng.shuffle(chosen.map((_, i) => i)).slice(0, opts.bad))
  const words = chosen.flatMap(a => a.text.split(/\s+/).slice(0, 300)).filter(w => w.length > 0)
  const moby = mobyDickTexts().map(t => t.text).filter(t => t.length > 2000)
  const good = chosen.map((_, i) => i).filter(i => !badIdx.has(i))
  const contributors: ScenarioContributor[] = chosen.map((a, i) => {
    const base = { id: a.name, bad: badIdx.has(i), order: i, texts: [clip(a.text)], labels: [0] }
    if (!base.bad) return base
    switch (opts.noise) {
      case 'random-text': return { ...base, texts: [Array.from({ length: Math.ceil(opts.maxChars / 6) }, () => words[rng.int(words.length)]).join(' ').slice(0, opts.maxChars)] }
      case 'off-topic': return { ...base, texts: [clip(moby[rng.int(moby.length)])] }
      default: {
        const victim = chosen[good[rng.int(good.length)]]
        return { ...base, order: chosen.length + i, texts: [clip(victim.text).split(' ').filter((_, j) => j % 37 !== 5).join(' ')], copyOf: victim.name }
      }
    }
  })
  contributors.sort((x, y) => x.order - y.order)
  // A seeded sample of the held-out speeches: the validation loss is what scores are
  // measured against, and its gradient is computed at every checkpoint.
  const validation = new Rng(opts.seed + 1).shuffle([...heldOut]).slice(0, opts.validation)
  return { contributors, validation: { texts: validation.map(a => clip(a.text)), labels: validation.map(() => 0) } }
}
