// The `paraphrase` noise: a deterministic word-level rewrite of another contributor's
// text, the same content in other words. Common words are swapped for a synonym and, in
// about one place in eight, two neighbouring words change places: enough that the
// near-duplicate sketch (3-word shingles, MinHash) falls under the 0.8 bar, while the
// words a classifier or a language model learns from stay nearly all there.
import { Rng } from '../../compute/random.ts'

const PAIRS: ReadonlyArray<readonly [string, string]> = [
  ['big', 'large'], ['small', 'little'], ['begin', 'start'], ['help', 'assist'], ['buy', 'purchase'],
  ['get', 'obtain'], ['quick', 'fast'], ['show', 'display'], ['need', 'require'], ['many', 'numerous'],
  ['often', 'frequently'], ['maybe', 'perhaps'], ['nation', 'country'], ['great', 'tremendous'], ['important', 'significant'],
  ['make', 'create'], ['give', 'provide'], ['want', 'wish'], ['think', 'believe'], ['tell', 'inform'],
  ['try', 'attempt'], ['end', 'finish'], ['money', 'funds'], ['world', 'globe'], ['answer', 'reply'],
  ['send', 'forward'], ['receive', 'get'], ['email', 'e-mail'], ['now', 'today'], ['very', 'really'],
  ['good', 'fine'], ['problem', 'issue'], ['also', 'too'], ['must', 'should'], ['work', 'labor'],
  ['people', 'folks'], ['free', 'gratis'], ['offer', 'deal'], ['find', 'discover'], ['hard', 'difficult']
]
const SYNONYM = new Map<string, string>()
for (const [a, b] of PAIRS) {
  if (!SYNONYM.has(a)) SYNONYM.set(a, b)
  if (!SYNONYM.has(b)) SYNONYM.set(b, a)
}

/** The synonym of `word` (case and surrounding punctuation kept), or the word itself. */
function synonym (word: string): string {
  const m = /^([^A-Za-z]*)([A-Za-z-]+)([^A-Za-z]*)$/.exec(word)
  if (m === null) return word
  const s = SYNONYM.get(m[2].toLowerCase())
  if (s === undefined) return word
  const cased = m[2] === m[2].toUpperCase() && m[2].length > 1 ? s.toUpperCase() : m[2][0] === m[2][0].toUpperCase() ? s[0].toUpperCase() + s.slice(1) : s
  return m[1] + cased + m[3]
}

/** `text` reworded: synonyms, and one neighbouring pair in about eight words swapped (seeded). */
export function paraphrase (text: string, seed: number): string {
  const rng = new Rng(seed)
  const words = text.split(/\s+/).filter(w => w.length > 0).map(synonym)
  for (let i = 0; i + 1 < words.length; i++) {
    if (rng.int(8) !== 0 || /[.!?]$/.test(words[i])) continue
    const w = words[i]
    words[i] = words[i + 1]
    words[i + 1] = w
    i++
  }
  return words.join(' ')
}
