// The dashboard as a person sees it: a real 5-peer devnet with its chain, peer 0's page
// open in headless Chromium (Debian's, driven by playwright-core) and never reloaded,
// while the network does things: a datanet is imported, a hostile datanet is created,
// a training job goes from escrow to verified release, an epoch root is posted and
// claimed, the adapter is attributed, and a cheating worker (peer 4) is caught and
// slashed. Each shows up on the open page as it happens.
// Screenshots go to test/out/dashboard/ (not committed).
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { renderDevnet } from '../peer/devnet/view.ts'
import { runCli } from './helpers/cli.ts'
import { useMarketDevnet } from './helpers/devnet.ts'
import { SPAM_BASE } from './helpers/fixtures.ts'
import { waitFor } from './helpers/wait.ts'

const CHROMIUM = process.env.OPENLEDGER_CHROMIUM ?? '/usr/bin/chromium'
const OUT = fileURLToPath(new URL('./out/dashboard/', import.meta.url))
/** Text a hostile peer could put in a datanet: it must show as these characters, never run. */
const HOSTILE = '<img src=x onerror=alert(1)>'

describe('the dashboard in a browser, on a live devnet', function () {
  this.timeout(300_000)
  let browser: BrowserContext
  let page: Page
  const dialogs: string[] = []
  const started = Date.now()
  const timings: Array<[string, number]> = []
  const mark = (what: string): void => { timings.push([what, Date.now() - started]) }

  /** Wait for a condition on the open page (polled: the page redraws itself every 2 s). */
  const onPage = async <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> =>
    await waitFor(`the dashboard to show ${what}`, fn, timeoutMs, 250)
  const shot = async (name: string): Promise<void> => {
    await page.screenshot({ path: join(OUT, name), fullPage: true })
  }
  const rowsOf = async (selector: string): Promise<number> => await page.locator(selector).count()

  // Hooks run in declaration order: the browser check before the devnet starts, the browser closed before it stops.
  before(async () => {
    // A browser test that cannot find its browser fails: it must not pass by skipping.
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium; .ci/run does) or set OPENLEDGER_CHROMIUM`)
    await mkdir(OUT, { recursive: true })
  })
  after(async () => {
    await browser?.close()
    console.log(`    screenshots: ${OUT}`)
    console.log(`    timings (s from start): ${timings.map(([w, ms]) => `${w} ${(ms / 1000).toFixed(1)}`).join(', ')}`)
  })
  // Peer 4 is a lazy worker: it trains half the steps and claims all of them.
  const net = useMarketDevnet({ name: 'dashboard', peers: 5, cheaters: 1, cliTimeoutMs: 240_000 })
  const { cli } = net
  before(async () => {
    const { devnet } = net
    mark('devnet up')
    browser = await chromium.launchPersistentContext(await mkdtemp(join(tmpdir(), 'openledger-chromium-')), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1000 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
    })
    page = await browser.newPage()
    page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss() })
    await page.goto(devnet.peers[0].statusUrl + '/')
    // Set once: if the page ever reloaded, it would be gone.
    await page.evaluate(() => { (globalThis as Record<string, unknown>).openedOnce = true })
    mark('page open')
  })
  afterEach(async () => {
    // Everything above happened on the page as first loaded: live, not reloaded.
    assert.equal(await page.evaluate(() => (globalThis as Record<string, unknown>).openedOnce), true, 'the page was reloaded')
    assert.deepEqual(dialogs, [], 'no script from the network ran')
  })

  it('is where status and the devnet say, and shows the swarm: every peer, its capacity advert, its connection', async () => {
    const { devnet } = net
    const status = await runCli(['status', '-d', devnet.peers[0].dataDir])
    assert.match(status.stdout, new RegExp(`dashboard ${devnet.peers[0].statusUrl}/ `))
    assert.ok(renderDevnet(devnet.peers, await devnet.statuses(), 'devnet').includes(`peer 4: ${devnet.peers[4].statusUrl}/`))
    const head = await fetch(devnet.peers[0].statusUrl + '/dashboard')
    assert.match(head.headers.get('content-type') ?? '', /^text\/html/)
    assert.match(head.headers.get('content-security-policy') ?? '', /script-src 'sha256-/)

    await onPage('all 5 peers, the 4 others connected', async () =>
      await rowsOf('#swarm-body tr[data-peer]') === 5 && await rowsOf('#swarm-body tr[data-connected="true"]') === 4)
    for (const p of devnet.peers) {
      // Its advert: cores and GFLOP/s measured on the peer itself (read while the page may be redrawing).
      const capacity = page.locator(`#swarm-body tr[data-peer="${p.peerId}"] td:nth-child(4)`)
      await onPage(`peer ${p.index}'s capacity`, async () => /^\d+ · \d+\.\d$/.test(await capacity.textContent({ timeout: 500 }).catch(() => '') ?? ''), 10_000)
    }
    assert.equal(await page.locator('#swarm-body svg circle[data-peer-node]').count(), 4)
    assert.equal(await page.locator('[data-card="peers"] .v').innerText(), '5')
    // Nothing else has happened yet: every other section says so.
    assert.match(await page.locator('#credit-empty').innerText(), /No attribution credit yet/)
    assert.match(await page.locator('#jobs-body').innerText(), /no job yet/)
    assert.match(await page.locator('#settlement-body').innerText(), /no reward root posted yet/)
    await shot('1-swarm.png')
    mark('swarm')
  })

  let imported: any
  it('shows the datanets and their contributors; what a peer wrote shows as text and runs nothing', async () => {
    const { devnet, dir } = net
    const updatesBefore = Number(await page.getAttribute('body', 'data-updates'))
    imported = await cli(0, ['datanet', 'import', 'spam-assassin', '--limit', '300'])
    const row = page.locator(`#datanets-body [data-datanet="${imported.datanet}"]`)
    await onPage('the imported datanet with all its contributors', async () => await row.getAttribute('data-contributors', { timeout: 500 }).catch(() => null) === String(imported.contributors.length))
    for (const c of imported.contributors.slice(0, 12)) assert.equal(await row.locator(`tr[data-contributor="${c.address}"]`).count(), 1, `contributor ${c.id}`)
    assert.match(await row.innerText(), /spam-assassin/)

    // Another peer makes a datanet whose description and file name are markup; peer 0 follows it.
    const hostile = await cli(1, ['datanet', 'create', 'hostile', '--license', 'CC0-1.0', '--description', HOSTILE])
    const file = join(dir, `${HOSTILE}.txt`)
    await writeFile(file, 'hello <b>world</b>\n')
    await cli(1, ['datanet', 'contribute', 'hostile', file])
    await cli(0, ['datanet', 'follow', hostile.id])
    const other = page.locator(`#datanets-body [data-datanet="${hostile.id}"]`)
    await onPage('the hostile datanet, with its contribution', async () => await other.getAttribute('data-contributors', { timeout: 500 }).catch(() => null) === '1')
    assert.equal(await other.locator('.desc').textContent(), HOSTILE)
    assert.equal(await other.locator('td.sample').textContent(), `${HOSTILE}.txt`)
    assert.equal(await page.locator('img').count(), 0, 'no element was made from the text')
    assert.ok(Number(await page.getAttribute('body', 'data-updates')) > updatesBefore, 'the page kept polling')
    await shot('2-datanets.png')

    // Names are [a-z0-9-] on the wire, so no peer can send that one; the page must hold
    // anyway. A second page gets a summary with the hostile text in every string field.
    const second = await browser.newPage()
    second.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss() })
    await second.route('**/dashboard/summary', async (route) => {
      const res = await route.fetch()
      const body = await res.json()
      for (const d of body.datanets) {
        d.name = HOSTILE
        for (const c of d.contributors) { c.sample = HOSTILE; c.labels = [HOSTILE] }
      }
      for (const p of body.swarm.peers) p.peerId = HOSTILE
      await route.fulfill({ response: res, json: body })
    })
    await second.goto(devnet.peers[0].statusUrl + '/')
    await waitFor('the second page to draw the datanets', async () => await second.locator('#datanets-body .dn-name').count() === 2, 20_000, 250)
    assert.deepEqual(await second.locator('#datanets-body .dn-name').allTextContents(), [HOSTILE, HOSTILE])
    assert.equal(await second.locator('img').count(), 0)
    await second.screenshot({ path: join(OUT, '2b-hostile-names.png'), fullPage: true })
    await second.close()
    mark('datanets')
  })

  let job: string
  it('follows a training job from escrow to a verified release as it happens', async () => {
    const { devnet } = net
    const jobsCard = async (): Promise<string> => await page.locator('[data-card="jobs"] .v').innerText()
    assert.equal(await jobsCard(), '0 (0)')
    for (const p of [2, 3]) {
      await net.follow(p, imported.datanet)
      await cli(p, ['model', 'add', SPAM_BASE])
    }
    await cli(2, ['stake', 'add', '100', '--role', 'worker'])
    await cli(3, ['stake', 'add', '200', '--role', 'verifier'])
    // The swarm table shows the new stakes (worker / verifier, OPEN).
    await onPage('the stakes', async () => (await page.locator(`#swarm-body tr[data-peer="${devnet.peers[3].peerId}"] td`).nth(6).innerText()) === '0 / 200', 20_000)

    // States the open page shows for the job, in the order it showed them.
    const seen: string[] = []
    let watching = true
    const watcher = (async () => {
      while (watching) {
        const s = await page.locator('#jobs-body tr[data-job]').first().getAttribute('data-state', { timeout: 1_000 }).catch(() => null)
        if (s !== null && seen.at(-1) !== s) seen.push(s)
        await new Promise(resolve => setTimeout(resolve, 200))
      }
    })()
    const submitted = await cli(1, ['job', 'submit', '--datanet', `spam-assassin@${imported.version}`, '--base', 'spam-base', '--amount', '100', '--steps', '100', '--batch', '32', '--bid-window', '3000'])
    job = submitted.job
    assert.equal(submitted.phase, 'assigned', submitted.error)
    const row = page.locator(`#jobs-body tr[data-job="${job}"]`)
    await onPage('the job released', async () => await row.getAttribute('data-state') === 'released', 180_000)
    watching = false
    await watcher
    if (seen.at(-1) !== 'released') seen.push('released') // drawn between the watcher's last look and its stop
    assert.ok(seen.length >= 2, `the page showed the job before it was released (${seen.join(', ')})`)
    console.log(`    job states as the page showed them: ${seen.join(' -> ')}`)
    const cells = await row.locator('td').allInnerTexts()
    assert.equal(cells[1], 'train')
    assert.match(cells[2], /^spam-assassin@/)
    assert.equal(cells[3], '100 OPEN')
    assert.equal(cells[5], `${devnet.peers[2].address.slice(0, 6)}…${devnet.peers[2].address.slice(-4)}`, 'the worker')
    assert.equal(cells[6], `${devnet.peers[3].address.slice(0, 6)}…${devnet.peers[3].address.slice(-4)}`, 'the verifier')
    assert.match(cells[7], /1 approved/)
    assert.match(cells[7], /[1-9]\d* replayed/)
    assert.match(cells[10], /^paid 0x/)
    assert.equal(cells[11], '–', 'peer 0 took no part: it knows the job from gossip and the chain')
    assert.equal(await jobsCard(), '1 (1)')

    // The requester's own dashboard knows its part.
    const requester = await browser.newPage()
    await requester.goto(devnet.peers[1].statusUrl + '/')
    await waitFor('the requester\'s page to list the job', async () => await requester.locator(`#jobs-body tr[data-job="${job}"] td`).nth(11).textContent().catch(() => null) === 'requester', 20_000, 250)
    await requester.close()
    await shot('3-job.png')
    mark('job released')
  })

  it('shows the epoch root that pays the job, goes final, and the worker\'s claim', async () => {
    const { devnet } = net
    const epoch = page.locator('#settlement-body tr[data-epoch="1"]')
    await onPage('epoch 1 posted', async () => ['posted', 'final'].includes(await epoch.getAttribute('data-state') ?? ''))
    const worker = page.locator(`#settlement-body tr[data-account="${devnet.peers[2].address.toLowerCase()}"]`)
    await onPage('the worker\'s earnings', async () => await worker.count() === 1)
    assert.deepEqual((await worker.locator('td').allInnerTexts()).slice(1), ['50 OPEN', '0 OPEN', '50 OPEN'])
    await shot('4-epoch-posted.png')

    // The challenge window (60 s) passes on the chain's clock; then the worker claims.
    await net.warp(61)
    await onPage('epoch 1 final', async () => await epoch.getAttribute('data-state') === 'final', 30_000)
    const claim = await cli(2, ['rewards', 'claim'])
    await onPage('the claim', async () => await page.locator(`#settlement-body tr[data-claim="${claim.tx}"]`).count() === 1, 30_000)
    await onPage('the worker\'s claimed amount', async () =>
      JSON.stringify((await worker.locator('td').allInnerTexts()).slice(1)) === JSON.stringify(['50 OPEN', '50 OPEN', '0 OPEN']), 20_000)
    await shot('4-epoch-claimed.png')
    mark('epoch claimed')
  })

  it('draws the credit map once the adapter is attributed', async () => {
    assert.equal(await page.locator('#credit-body rect.bar').count(), 0)
    const worker = await cli(2, ['job', 'status', job])
    const r = await cli(2, ['attribute', '--adapter', worker.result.result])
    const credited = r.contributors.filter((c: any) => c.weight > 0)
    assert.ok(credited.length >= 1)
    const bars = page.locator('#credit-body rect.bar')
    await onPage('one bar per credited contributor', async () => await bars.count() === Math.min(15, credited.length))
    assert.equal(await page.locator('#credit-empty').count(), 0)
    const shown = new Map<string, number>()
    for (const b of await bars.all()) shown.set((await b.getAttribute('data-address'))!, Number(await b.getAttribute('data-weight')))
    for (const c of credited.slice(0, 15)) assert.ok(Math.abs((shown.get(c.address) ?? -1) - c.weight) < 1e-9, `bar of ${c.address}`)
    // Longest bar for the largest credit.
    const widths = await bars.evaluateAll(els => els.map(e => Number(e.getAttribute('width'))))
    assert.deepEqual(widths, [...widths].sort((a, b) => b - a))
    // The contributors table shows the same credit.
    const top = credited.sort((a: any, b: any) => b.weight - a.weight)[0]
    assert.equal(await page.locator(`#datanets-body tr[data-contributor="${top.address}"] td`).last().innerText(), `${(100 * top.weight).toFixed(top.weight >= 0.1 ? 1 : 2)}%`)
    await page.locator('#credit').screenshot({ path: join(OUT, '5-credit.png') })
    await shot('6-full.png')
    mark('credit drawn')
  })

  it('shows a cheating worker caught: the failing verdict, the slash on chain, no release', async () => {
    const { devnet } = net
    const cheater = devnet.peers[4]
    const short = (a: string): string => `${a.slice(0, 6)}…${a.slice(-4)}`
    await net.follow(4, imported.datanet)
    await cli(4, ['model', 'add', SPAM_BASE])
    await cli(4, ['stake', 'add', '100', '--role', 'worker'])
    // The honest worker steps back, so the cheater is the only worker bidding; it referees instead.
    await cli(2, ['stake', 'unbond', '100', '--role', 'worker'])
    await cli(2, ['stake', 'add', '200', '--role', 'verifier'])
    const submitted = await cli(1, ['job', 'submit', '--datanet', `spam-assassin@${imported.version}`, '--base', 'spam-base', '--amount', '100', '--steps', '100', '--batch', '32', '--bid-window', '3000'])
    assert.equal(submitted.assign.workers[0].address, cheater.address)
    const row = page.locator(`#jobs-body tr[data-job="${submitted.job}"]`)
    await onPage('the cheater slashed', async () => (await row.locator('td').nth(8).innerText({ timeout: 500 }).catch(() => '')).includes(short(cheater.address)), 180_000)
    const cells = await row.locator('td').allInnerTexts()
    assert.equal(await row.getAttribute('data-state'), 'failed')
    assert.match(cells[7], /1 fault/)
    assert.doesNotMatch(cells[7], /approved/)
    assert.match(cells[8], /worker −50 OPEN/)
    assert.equal(cells[10], '–', 'nothing paid')
    const slash = page.locator('#jobs-body tr[data-slash]')
    assert.equal(await slash.count(), 1)
    assert.equal((await slash.locator('td').allInnerTexts())[1], 'worker')
    assert.equal(await page.locator('[data-card="jobs"] .v').innerText(), '2 (1)')
    // And the swarm table shows what the slash left of the cheater's worker stake.
    await onPage('the cheater\'s stake after the slash', async () => (await page.locator(`#swarm-body tr[data-peer="${cheater.peerId}"] td:nth-child(7)`).textContent({ timeout: 500 }).catch(() => '')) === '50 / 0', 20_000)
    await shot('7-slash.png')
    mark('cheater slashed')
  })
})
