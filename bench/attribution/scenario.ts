// A spam-assassin datanet of N contributors (one per sender domain, as `datanet import`
// makes them), K of them bad in one way, with the held-out mail (the same rule the
// base model's recipe used) as validation set. The bad kinds:
//  - label-flip: their mails with spam and ham swapped;
//  - duplicate: a late, lightly perturbed copy of another contributor's mails;
//  - random-text: word salad drawn from the corpus's own words, random labels;
//  - off-topic: State of the Union paragraphs, labelled as the mails they replace;
//  - paraphrase: like duplicate, but reworded (paraphrase.ts) so that the near-duplicate
//    sketch no longer matches: the same content under other words;
//  - lm-off-topic (language model only, lm-scenario.ts): text the base never saw.
// The validation set is the held-out mail: the same for every scenario seed.
import { Rng } from '../../compute/random.ts'
import { readSotuAddresses } from '../../storage/corpora/sotu.ts'
import { spamAssassinContributors, type SpamAssassinMail } from '../../storage/corpora/spam-assassin.ts'
import { spamSplit } from '../../peer/models/recipes.ts'
import { paraphrase } from './paraphrase.ts'

export const NOISE_KINDS = ['label-flip', 'duplicate', 'paraphrase', 'random-text', 'off-topic', 'lm-off-topic'] as const
export type NoiseKind = typeof NOISE_KINDS[number]

export interface ScenarioContributor {
  id: string
  bad: boolean
  /** Position in the datanet's entry order: the bad copies of `duplicate` come last. */
  order: number
  texts: string[]
  labels: number[]
  /** duplicate and paraphrase only: whose texts this contributor copied. */
  copyOf?: string
}

export interface Scenario {
  contributors: ScenarioContributor[]
  validation: { texts: string[], labels: number[] }
}

const label = (m: SpamAssassinMail): number => (m.label === 'spam' ? 1 : 0)

export async function buildScenario (opts: { contributors: number, bad: number, noise: NoiseKind, seed: number }): Promise<Scenario> {
  if (opts.noise === 'lm-off-topic') throw new RangeError('lm-off-topic is for the language model; the classifier\'s off-topic is off-topic')
  const { heldOut } = await spamSplit()
  const held = new Set(heldOut.map(m => m.name))
  const rng = new Rng(opts.seed)
  const all = spamAssassinContributors({ maxContributors: opts.contributors })
    .map(c => ({ id: c.id, mails: c.items.filter(m => !held.has(m.name)) }))
    .filter(c => c.mails.length > 0)
  if (opts.bad >= all.length) throw new RangeError(`${opts.bad} bad contributors need more than ${all.length} contributors`)
  // Bad ones drawn from all but the three big tail contributors (whose loss would
  // simply be the loss of most of the data).
  const eligible = all.map((c, i) => i).filter(i => !all[i].id.startsWith('other-senders-'))
  const badIdx = new Set(rng.shuffle([...eligible]).slice(0, opts.bad))
  const goodIdx = all.map((_, i) => i).filter(i => !badIdx.has(i))
  const words = all.flatMap(c => c.mails.slice(0, 5).flatMap(m => m.text.split(/\s+/))).filter(w => w.length > 0)
  const sotu = readSotuAddresses().flatMap(a => a.text.split(/\n\s*\n/)).filter(p => p.length > 400)

  const contributors: ScenarioContributor[] = all.map((c, i) => {
    const base = { id: c.id, bad: badIdx.has(i), order: i, texts: c.mails.map(m => m.text), labels: c.mails.map(label) }
    if (!base.bad) return base
    switch (opts.noise) {
      case 'label-flip':
        return { ...base, labels: base.labels.map(l => 1 - l) }
      case 'random-text':
        return { ...base, texts: base.texts.map(t => Array.from({ length: Math.max(20, Math.min(400, t.split(/\s+/).length)) }, () => words[rng.int(words.length)]).join(' ')), labels: base.labels.map(() => rng.int(2)) }
      case 'off-topic':
        return { ...base, texts: base.texts.map(() => sotu[rng.int(sotu.length)]) }
      case 'duplicate':
      case 'paraphrase': {
        const victim = all[goodIdx[rng.int(goodIdx.length)]]
        // duplicate: light perturbation, a few words dropped, so the bytes (and CIDs) differ.
        const texts = victim.mails.map((m, j) => opts.noise === 'paraphrase' ? paraphrase(m.text, opts.seed * 1_000_003 + i * 1009 + j) : m.text.split(' ').filter((_, j) => j % 37 !== 5).join(' '))
        return { ...base, order: all.length + i, texts, labels: victim.mails.map(label), copyOf: victim.id }
      }
      case 'lm-off-topic':
        throw new RangeError('lm-off-topic is for the language model')
    }
  })
  contributors.sort((a, b) => a.order - b.order)
  return { contributors, validation: { texts: heldOut.map(m => m.text), labels: heldOut.map(label) } }
}
