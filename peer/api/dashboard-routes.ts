// The dashboard on the local API: GET / (and /dashboard) is one self-contained page
// (peer/api/dashboard.html: HTML, CSS and script inline, nothing fetched from anywhere
// but this peer), GET /dashboard/summary the JSON it polls. The page is served with a
// Content-Security-Policy that allows only its own inline script and style (by hash)
// and requests to this origin, so even a value that slipped past the page's escaping
// could not run script or load anything.
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { EXIT, PeerError } from '../errors.ts'
import { Page, type Route } from './server.ts'
import type { DashboardSummary } from './dashboard-summary.ts'

const PAGE_FILE = new URL('./dashboard.html', import.meta.url)

/** The page's file did not have exactly one inline <style> and one inline <script>. */
export class DashboardPageError extends PeerError {
  constructor (message: string, details?: Record<string, unknown>) { super(message, EXIT.failure, details) }
}

function inlineHash (html: string, tag: 'script' | 'style'): string {
  const blocks = [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))]
  if (blocks.length !== 1) throw new DashboardPageError(`the dashboard page must have exactly one inline <${tag}>`, { tag, found: blocks.length })
  return `'sha256-${createHash('sha256').update(blocks[0][1]).digest('base64')}'`
}

/** The page with its security headers, read once at start-up. */
export async function loadDashboardPage (): Promise<Page> {
  const html = await readFile(PAGE_FILE, 'utf8')
  const csp = [
    "default-src 'none'",
    `script-src ${inlineHash(html, 'script')}`,
    `style-src ${inlineHash(html, 'style')}`,
    "connect-src 'self'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'"
  ].join('; ')
  return new Page('text/html; charset=utf-8', html, {
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer'
  })
}

export function dashboardRoutes (page: Page, summary: DashboardSummary): Route[] {
  return [
    { method: 'GET', path: '/', handle: () => page },
    { method: 'GET', path: '/dashboard', handle: () => page },
    { method: 'GET', path: '/dashboard/summary', handle: async () => await summary.get() }
  ]
}
