// The language-model version of the attribution harness: contributors are State of the
// Union addresses (one speech each, N of them drawn by seed from those the held-out rule
// keeps), K of them bad; validation is every held-out address (the same for every
// scenario seed). Bad kinds:
//  - random-text: word salad drawn from the speeches' own words;
//  - off-topic: Moby-Dick chapters in place of the speech (the bench's base was
//    pretrained on Moby-Dick: text the base has seen);
//  - lm-off-topic: text the base never saw and that is not a speech: SpamAssassin ham
//    mail bodies, joined up to the speech's length;
//  - duplicate: a late, lightly perturbed copy of another contributor's speech;
//  - paraphrase: a late, reworded copy (paraphrase.ts) that the near-duplicate sketch misses.
import { Rng } from '../../compute/random.ts'
import { mobyDickTexts } from '../../compute/tokenizer/index.ts'
import { sotuSplit } from '../../peer/models/recipes.ts'
import { readSpamAssassinMails } from '../../storage/corpora/spam-assassin.ts'
import { paraphrase } from './paraphrase.ts'
import type { NoiseKind, Scenario, ScenarioContributor } from './scenario.ts'

/** Ham mail bodies (headers dropped), in corpus order: the LM's unseen off-topic text. */
function mailBodies (): string[] {
  return readSpamAssassinMails().filter(m => m.label === 'ham').map(m => m.text.slice(m.text.search(/\r?\n\r?\n/) + 1).trim()).filter(b => b.length > 200)
}

export async function buildLmScenario (opts: { contributors: number, bad: number, noise: NoiseKind, seed: number, maxChars: number }): Promise<Scenario> {
  if (opts.noise === 'label-flip') throw new RangeError('label-flip has no meaning for a language model; use random-text, off-topic, lm-off-topic, duplicate or paraphrase')
  const { kept, heldOut } = await sotuSplit()
  const rng = new Rng(opts.seed)
  const chosen = rng.shuffle([...kept]).slice(0, opts.contributors)
  const clip = (t: string) => t.slice(0, opts.maxChars)
  const badIdx = new Set(rng.shuffle(chosen.map((_, i) => i)).slice(0, opts.bad))
  const words = chosen.flatMap(a => a.text.split(/\s+/).slice(0, 300)).filter(w => w.length > 0)
  const moby = opts.noise === 'off-topic' ? mobyDickTexts().map(t => t.text).filter(t => t.length > 2000) : []
  const mail = opts.noise === 'lm-off-topic' ? mailBodies() : []
  const good = chosen.map((_, i) => i).filter(i => !badIdx.has(i))
  const contributors: ScenarioContributor[] = chosen.map((a, i) => {
    const base = { id: a.name, bad: badIdx.has(i), order: i, texts: [clip(a.text)], labels: [0] }
    if (!base.bad) return base
    switch (opts.noise) {
      case 'random-text': return { ...base, texts: [Array.from({ length: Math.ceil(opts.maxChars / 6) }, () => words[rng.int(words.length)]).join(' ').slice(0, opts.maxChars)] }
      case 'off-topic': return { ...base, texts: [clip(moby[rng.int(moby.length)])] }
      case 'lm-off-topic': {
        let text = ''
        while (text.length < Math.min(opts.maxChars, base.texts[0].length)) text += (text === '' ? '' : '\n\n') + mail[rng.int(mail.length)]
        return { ...base, texts: [clip(text)] }
      }
      default: {
        const victim = chosen[good[rng.int(good.length)]]
        const text = opts.noise === 'paraphrase' ? paraphrase(clip(victim.text), opts.seed * 1_000_003 + i) : clip(victim.text).split(' ').filter((_, j) => j % 37 !== 5).join(' ')
        return { ...base, order: chosen.length + i, texts: [text], copyOf: victim.name }
      }
    }
  })
  contributors.sort((x, y) => x.order - y.order)
  // Every held-out speech: the validation loss is what scores are measured against.
  return { contributors, validation: { texts: heldOut.map(a => clip(a.text)), labels: heldOut.map(() => 0) } }
}
