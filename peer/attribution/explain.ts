// Inference-time attribution on a peer (`infer --explain`): which datanet contributions
// an adapter's answer copies, verbatim. The adapter's metadata names the datanet
// version it was trained on; this builds an exact-span index (compute/attribution/
// span-index.ts) over every file of that version, tokenised with the base model's
// tokenizer, and credits the answer's tokens to the contributions whose files hold its
// spans (span-attribution.ts); tokens no span covers are the base model's.
//
// Every file of the version is indexed, held-out files included: an answer that copies
// held-out text still copies its contributor. A file's contribution is the entry that
// first added it (trainingFiles), so a re-upload of the same bytes earns nothing. Each
// document of a file (one for text, one per line for JSON lines) is one index document,
// so no span crosses documents. Indexes are built once per version and tokenizer and
// kept in memory, the most recently used few; concurrent requests share one build.

import { attributeSpans, type AttributionOptions } from '../../compute/attribution/span-attribution.ts'
import { DEFAULT_MAX_INDEX_TOKENS, HARD_MAX_INDEX_TOKENS, SpanIndex, type SpanDocument } from '../../compute/attribution/span-index.ts'
import { BadTrainingDataError } from '../../compute/errors.ts'
import { documentsOf } from '../../compute/jobs/documents.ts'
import type { Tokenizer } from '../../compute/tokenizer/index.ts'
import { trainingFiles } from '../../storage/datanet/shards.ts'
import { EXIT, PeerError } from '../errors.ts'
import type { DatanetService } from '../datanets/datanet-service.ts'
import type { GradientExplanation } from './gradient-explain.ts'

/** Most bytes of files one index covers (the files' sizes, checked before reading any). */
export const DEFAULT_MAX_EXPLAIN_BYTES = 64 * 1024 * 1024
/** Indexes kept in memory. */
export const DEFAULT_KEEP_INDEXES = 2
/** Shares and spans reported, each. */
export const DEFAULT_TOP = 20
/** Occurrences of a span looked up to name the files it comes from. */
const FILE_LOOKUPS = 256
/** Files named per share and per span. */
const MAX_FILES_LISTED = 5

/** An explanation was asked of something that has none: a classifier, a base alone, an adapter naming no datanet. */
export class ExplainUnsupportedError extends PeerError {
  constructor (message: string, details?: Record<string, unknown>) { super(message, EXIT.usage, details) }
}

/** The datanet version holds more text than this peer indexes. */
export class ExplainTooLargeError extends PeerError {
  constructor (message: string, details?: Record<string, unknown>) { super(message, EXIT.usage, details) }
}

export interface DatanetRef { id: string, version: string }

/** A file to index, with its provenance and its text already split into documents. */
export interface ExplainFile {
  /** CID of the contribution entry that first added the file. */
  contribution: string
  /** Address of that entry's contributor. */
  contributor: string
  path: string
  documents: string[]
}

export interface ExplainIndexStats {
  files: number
  documents: number
  /** Token positions of the index, a separator per document included. */
  tokens: number
  contributions: number
  /** Bytes of the files read (0 when built from text). */
  bytes: number
  /** Files left out: a media type that holds no text. */
  skipped: number
  /** Reading, tokenising and indexing. */
  ms: number
}

export interface ExplainIndex {
  index: SpanIndex
  /** The file of each index document. */
  docFile: Int32Array
  files: Array<{ path: string, contribution: string, contributor: string }>
  /** Contributor address of each contribution. */
  contributors: Map<string, string>
  stats: ExplainIndexStats
}

export interface ExplainedShare {
  contribution: string
  contributor: string
  /** Fraction of the answer's tokens credited to this contribution. */
  share: number
  /** Spans crediting it. */
  spans: number
  /** The longest of them, in tokens. */
  longest: number
  /** Some of the files its spans occur in. */
  files: string[]
}

export interface ExplainedSpan {
  /** Offset in the explained answer tokens. */
  start: number
  length: number
  /** The span's text, decoded. */
  text: string
  /** Answer tokens credited through it. */
  credited: number
  occurrences: number
  /** Contributions holding it; empty when too common to say (its tokens are the base's). */
  contributions: string[]
  files: string[]
}

export interface AnswerExplanation {
  /** Answer tokens explained: the generated ones, special tokens (end of text) left out. */
  answerTokens: number
  baseShare: number
  /** Credit of the contributions past the top ones listed; shares + otherShare + baseShare = 1. */
  otherShare: number
  /** Contributions credited in all. */
  contributions: number
  /** The top contributions by share. */
  shares: ExplainedShare[]
  /** The top spans by length (ties by start). */
  spans: ExplainedSpan[]
}

export interface Explanation extends AnswerExplanation {
  datanet: string
  version: string
  /** How long building the index took (when it was built, for a cached one). */
  indexMs: number
  /** True when the index was already in memory. */
  cached: boolean
  /** Attributing the answer against the index. */
  explainMs: number
  index: Omit<ExplainIndexStats, 'ms'>
  /** Gradient-sketch similarity to the training contributions (gradient-explain.ts). */
  gradient?: GradientExplanation | { unavailable: string }
}

export interface ExplainOptions extends AttributionOptions {
  /** Shares and spans reported, each. Default 20. */
  top?: number
}

/**
 * Tokenises the files' documents and indexes them. Yields to the event loop now and
 * then: a peer keeps answering its swarm while it builds. Throws ExplainTooLargeError
 * past maxTokens positions (default DEFAULT_MAX_INDEX_TOKENS).
 */
export async function buildExplainIndex (files: readonly ExplainFile[], tokenizer: Tokenizer, opts: { maxTokens?: number, bytes?: number, skipped?: number } = {}): Promise<ExplainIndex> {
  const started = performance.now()
  const maxTokens = Math.min(opts.maxTokens ?? DEFAULT_MAX_INDEX_TOKENS, HARD_MAX_INDEX_TOKENS)
  const documents: SpanDocument[] = []
  const docFile: number[] = []
  const contributors = new Map<string, string>()
  let positions = 0
  let lastYield = performance.now()
  for (let f = 0; f < files.length; f++) {
    const file = files[f]
    const known = contributors.get(file.contribution)
    if (known !== undefined && known !== file.contributor) {
      throw new BadTrainingDataError('a contribution names two contributors', { contribution: file.contribution, contributors: [known, file.contributor] })
    }
    contributors.set(file.contribution, file.contributor)
    for (const text of file.documents) {
      const tokens = tokenizer.encode(text)
      if (tokens.length === 0) continue
      positions += tokens.length + 1
      if (positions > maxTokens) throw new ExplainTooLargeError('the datanet version has too much text to index', { positions, maxTokens })
      documents.push({ contribution: file.contribution, tokens })
      docFile.push(f)
    }
    if (performance.now() - lastYield > 20) {
      await new Promise(resolve => setImmediate(resolve))
      lastYield = performance.now()
    }
  }
  const index = SpanIndex.build(documents, { vocabSize: tokenizer.vocabSize, maxTokens })
  return {
    index,
    docFile: Int32Array.from(docFile),
    files: files.map(f => ({ path: f.path, contribution: f.contribution, contributor: f.contributor })),
    contributors,
    stats: { files: files.length, documents: documents.length, tokens: index.length, contributions: index.contributions.length, bytes: opts.bytes ?? 0, skipped: opts.skipped ?? 0, ms: performance.now() - started }
  }
}

/**
 * Shortest span that credits a contribution. Against millions of tokens of one genre,
 * 4-token spans match stock phrases ("of the United States") and spread credit over
 * everyone; 8 tokens is where a match starts to mean the answer copied someone.
 */
export const EXPLAIN_MIN_SPAN = 8

/**
 * Credits an answer's tokens to the index's contributions. `answer` is what the model
 * generated; special tokens are left out (no document holds them). Throws
 * InvalidRequestError for bad options or tokens outside the index's vocabulary.
 */
export function explainTokens (ix: ExplainIndex, tokenizer: Tokenizer, answer: ArrayLike<number>, opts: ExplainOptions = {}): AnswerExplanation {
  const top = opts.top ?? DEFAULT_TOP
  const tokens = Int32Array.from(Array.from(answer).filter(t => !tokenizer.isSpecial(t)))
  const a = attributeSpans(ix.index, tokens, { minSpan: EXPLAIN_MIN_SPAN, ...opts })

  // The files each crediting span occurs in (some of them, for a very common span).
  const filesOf = new Map<string, Set<string>>()
  const spans: ExplainedSpan[] = a.spans.map(s => {
    const files = new Set<string>()
    if (s.contributions.length > 0) {
      for (const p of ix.index.find(tokens.subarray(s.start, s.start + s.length), FILE_LOOKUPS)) {
        const file = ix.files[ix.docFile[ix.index.documentOf(p)]]
        files.add(file.path)
        let set = filesOf.get(file.contribution)
        if (set == null) filesOf.set(file.contribution, set = new Set())
        if (set.size < MAX_FILES_LISTED) set.add(file.path)
      }
    }
    return {
      start: s.start,
      length: s.length,
      text: tokenizer.decode(tokens.subarray(s.start, s.start + s.length)),
      credited: s.credited,
      occurrences: s.occurrences,
      contributions: s.contributions,
      files: [...files].slice(0, MAX_FILES_LISTED)
    }
  })
  spans.sort((x, y) => y.length - x.length || x.start - y.start)

  const shares = a.shares.map(s => ({
    contribution: s.contribution,
    contributor: ix.contributors.get(s.contribution) as string,
    share: s.share,
    spans: s.spans,
    longest: s.longest,
    files: [...(filesOf.get(s.contribution) ?? [])]
  }))
  const listed = shares.slice(0, top)
  // The remainder summed from the smallest up, so top + other + base is 1 to rounding.
  let otherShare = 0
  for (let i = shares.length - 1; i >= top; i--) otherShare += shares[i].share
  return { answerTokens: a.answerTokens, baseShare: a.baseShare, otherShare, contributions: shares.length, shares: listed, spans: spans.slice(0, top) }
}

/** What the explainer reads from the peer's datanets. */
export type ExplainDatanets = Pick<DatanetService, 'atVersion' | 'readShards'>

export interface IndexedVersion {
  index: ExplainIndex
  /** True when it was already in memory (or being built) when asked for. */
  cached: boolean
}

export interface ExplainerOptions {
  datanets: ExplainDatanets
  /** Refuse versions whose files come to more bytes than this. Default 64 MiB. */
  maxBytes?: number
  /** Indexes kept in memory. Default 2. */
  keep?: number
  log?: (msg: string, fields?: Record<string, unknown>) => void
}

export class Explainer {
  private readonly opts: ExplainerOptions
  private readonly indexes = new Map<string, Promise<ExplainIndex>>()
  private builds = 0

  constructor (opts: ExplainerOptions) {
    this.opts = opts
  }

  /**
   * The index of a datanet version under a tokenizer (`tokenizerKey` names it, e.g. the
   * base model's CID), built or from memory.
   */
  async index (datanet: DatanetRef, tokenizerKey: string, tokenizer: Tokenizer): Promise<IndexedVersion> {
    const key = `${datanet.id}@${datanet.version}#${tokenizerKey}`
    let p = this.indexes.get(key)
    const cached = p != null
    if (p == null) {
      p = this.build(datanet, tokenizer)
      p.catch(() => { if (this.indexes.get(key) === p) this.indexes.delete(key) })
    } else {
      this.indexes.delete(key)
    }
    // Most recently used last; the oldest go first.
    this.indexes.set(key, p)
    const keep = this.opts.keep ?? DEFAULT_KEEP_INDEXES
    while (this.indexes.size > keep) this.indexes.delete(this.indexes.keys().next().value as string)
    return { index: await p, cached }
  }

  /** Explains an answer; `indexed` is an index() result already asked for (begun while the answer was generated). */
  async explain (req: { datanet: DatanetRef, tokenizerKey: string, tokenizer: Tokenizer, answer: ArrayLike<number>, indexed?: Promise<IndexedVersion> }, opts: ExplainOptions = {}): Promise<Explanation> {
    const { index, cached } = await (req.indexed ?? this.index(req.datanet, req.tokenizerKey, req.tokenizer))
    const started = performance.now()
    const body = explainTokens(index, req.tokenizer, req.answer, opts)
    const { ms, ...stats } = index.stats
    return { datanet: req.datanet.id, version: req.datanet.version, ...body, indexMs: ms, cached, explainMs: performance.now() - started, index: stats }
  }

  stats (): { indexes: number, builds: number } {
    return { indexes: this.indexes.size, builds: this.builds }
  }

  private async build (datanet: DatanetRef, tokenizer: Tokenizer): Promise<ExplainIndex> {
    const started = performance.now()
    this.builds++
    const maxBytes = this.opts.maxBytes ?? DEFAULT_MAX_EXPLAIN_BYTES
    const dn = await this.opts.datanets.atVersion(`${datanet.id}@${datanet.version}`)
    const files = trainingFiles(dn.log)
    const total = files.reduce((s, f) => s + f.size, 0)
    if (total > maxBytes) throw new ExplainTooLargeError(`datanet ${dn.name}@${datanet.version} holds ${total} bytes of files; this peer explains versions of at most ${maxBytes}`, { bytes: total, maxBytes })
    const bytes = await this.opts.datanets.readShards(files.map(f => f.cid), { maxBytes })
    const texts: ExplainFile[] = []
    let skipped = 0
    files.forEach((f, i) => {
      let documents: string[]
      try {
        documents = documentsOf(bytes[i], f.mediaType)
      } catch (err) {
        if (!(err instanceof BadTrainingDataError)) throw err
        skipped++
        return
      }
      texts.push({ contribution: f.contribution.toString(), contributor: f.contributor, path: f.path, documents })
    })
    // A token per byte at most, three for a byte decoded as U+FFFD, and a separator per document.
    const documents = texts.reduce((s, t) => s + t.documents.length, 0)
    const built = await buildExplainIndex(texts, tokenizer, { maxTokens: 3 * maxBytes + documents, bytes: total, skipped })
    built.stats.ms = performance.now() - started
    this.opts.log?.('explain index built', { datanet: datanet.id, version: datanet.version, files: built.stats.files, tokens: built.stats.tokens, ms: Math.round(built.stats.ms) })
    return built
  }
}
