// Real corpora installed from npm, as contributors holding items: the material for
// realistic datanets. Nothing here downloads anything.
export type { Contributor, CorpusItem } from './types.ts'
export * from './spam-assassin.ts'
export * from './sotu.ts'
