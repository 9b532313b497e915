// The tokenizer's public surface: train, encode/decode, (de)serialise, and the
// pretraining corpora's text.

export { Tokenizer, type DecodeOptions } from './bpe.ts'
export { trainBpe, trainMerges, type TrainBpeOptions } from './train.ts'
export { pretokenize, PRETOKENIZER } from './pretokenize.ts'
export {
  TOKENIZER_FORMAT, EOT_TOKEN, PAD_TOKEN, EOT_ID, PAD_ID, FIRST_MERGE_ID, MAX_VOCAB,
  parseTokenizerJson, type MergePair, type TokenizerJson
} from './serialize.ts'
export { mobyDickTexts, sotuTexts, pretrainingTexts, type CorpusText, type CorpusReadOptions } from './corpus-text.ts'
