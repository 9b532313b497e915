// What the language-model jobs need of a tokenizer; the BPE tokenizer in
// compute/tokenizer/ is one.

export interface TextTokenizer {
  encode: (text: string) => Int32Array
  decode: (ids: ArrayLike<number>) => string
  readonly eot: number
  readonly pad: number
  readonly vocabSize: number
}
