// The pieces text is cut into before BPE: GPT-2's rule (contractions, a letter run
// with an optional leading space, a digit run, a punctuation run, whitespace), so a
// merge never joins two words, a word and its punctuation, or letters and digits.
// Two changes from GPT-2: contractions also take the typographic apostrophe U+2019, and
// a run of line breaks (with the blanks before it) is one piece, as in GPT-4's rule, so
// a paragraph break '\n\n' can become one token (GPT-2 cuts it into '\n', '\n').
// The pieces cover the text exactly (joined they give the text back): every code
// point is whitespace, a letter, a number or "other", and each class has a branch.

/** Names this rule in serialised tokenizers; a changed pattern needs a new name. */
export const PRETOKENIZER = 'openledger/gpt2/1'

// Branch order matters: contractions before letters, and `\s+(?!\S)` before `\s+` so
// the last space of a run is left to prefix the following word (' world').
const PATTERN = /['\u2019](?:s|t|re|ve|m|ll|d)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s*[\r\n]+|\s+(?!\S)|\s+/gu

/** The pieces of `text`, in order; `pieces.join('') === text`. */
export function pretokenize (text: string): string[] {
  return text.match(PATTERN) ?? []
}
