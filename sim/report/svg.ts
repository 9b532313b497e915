// Plain SVG charts for the simulator's report, in the house style of
// peer/attribution/influence-chart.ts: no library, white background, sans-serif, a bold title
// and a grey subtitle. A line chart (time series, several lines, legend) and a bar chart
// (a distribution). Numbers are printed with fixed decimals, so the same data gives the
// same bytes.

export interface Line { name: string, values: readonly number[], color?: string }

const PALETTE = ['#2e8b57', '#c0392b', '#2c6fbb', '#e67e22', '#8e44ad', '#16a085', '#7f8c8d', '#d35400', '#34495e', '#b7950b']

export const esc = (s: string): string => s.replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string)

const f = (x: number): string => x.toFixed(1)

/** Round tick values: about `n` steps of 1, 2 or 5 x 10^k covering [lo, hi]. */
export function ticks (lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo]
  const raw = (hi - lo) / n
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw) as number
  const out: number[] = []
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)))
  return out
}

export function label (x: number): string {
  const a = Math.abs(x)
  if (a >= 1e6) return `${Number((x / 1e6).toPrecision(3))}M`
  if (a >= 1e3) return `${Number((x / 1e3).toPrecision(3))}k`
  return String(Number(x.toPrecision(3)))
}

interface Frame { width: number, height: number, left: number, right: number, top: number, bottom: number }

function header (fr: Frame, title: string, subtitle: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${fr.width}" height="${fr.height}" viewBox="0 0 ${fr.width} ${fr.height}" font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="38" fill="#555">${esc(subtitle)}</text>`
  ]
}

function yAxis (fr: Frame, lo: number, hi: number, y: (v: number) => number, unit: string): string[] {
  const out: string[] = []
  for (const t of ticks(lo, hi)) {
    out.push(`<line x1="${fr.left}" y1="${f(y(t))}" x2="${fr.width - fr.right}" y2="${f(y(t))}" stroke="${t === 0 ? '#999' : '#eee'}"/>`,
      `<text x="${fr.left - 6}" y="${f(y(t) + 4)}" text-anchor="end" fill="#555">${label(t)}</text>`)
  }
  out.push(`<text x="12" y="${f(fr.top + (fr.height - fr.top - fr.bottom) / 2)}" fill="#555" transform="rotate(-90 12 ${f(fr.top + (fr.height - fr.top - fr.bottom) / 2)})" text-anchor="middle">${esc(unit)}</text>`)
  return out
}

/** Lines over x = 1..n (epochs, or the values of `x`), with a legend on the right. */
export function lineChart (opts: { title: string, subtitle: string, yLabel: string, xLabel?: string, lines: readonly Line[], x?: readonly number[] }): string {
  const fr: Frame = { width: 820, height: 360, left: 70, right: 200, top: 52, bottom: 40 }
  const n = Math.max(1, ...opts.lines.map(l => l.values.length))
  const xs = opts.x ?? Array.from({ length: n }, (_, i) => i + 1)
  const all = opts.lines.flatMap(l => l.values.filter(Number.isFinite))
  let lo = Math.min(0, ...all)
  let hi = Math.max(0, ...all)
  if (hi === lo) hi = lo + 1
  const pad = (hi - lo) * 0.05
  hi += pad
  if (lo < 0) lo -= pad
  const x0 = xs[0]
  const x1 = xs[xs.length - 1] === x0 ? x0 + 1 : xs[xs.length - 1]
  const plotW = fr.width - fr.left - fr.right
  const plotH = fr.height - fr.top - fr.bottom
  const px = (v: number): number => fr.left + (v - x0) / (x1 - x0) * plotW
  const py = (v: number): number => fr.top + (hi - v) / (hi - lo) * plotH
  const out = header(fr, opts.title, opts.subtitle)
  out.push(...yAxis(fr, lo, hi, py, opts.yLabel))
  for (const t of ticks(x0, x1, 8)) {
    out.push(`<text x="${f(px(t))}" y="${fr.height - fr.bottom + 16}" text-anchor="middle" fill="#555">${label(t)}</text>`)
  }
  out.push(`<text x="${f(fr.left + plotW / 2)}" y="${fr.height - 6}" text-anchor="middle" fill="#555">${esc(opts.xLabel ?? 'epoch')}</text>`)
  opts.lines.forEach((l, k) => {
    const color = l.color ?? PALETTE[k % PALETTE.length]
    const pts = l.values.map((v, i) => Number.isFinite(v) ? `${f(px(xs[i]))},${f(py(v))}` : '').filter(s => s !== '')
    if (pts.length === 1) out.push(`<circle cx="${pts[0].split(',')[0]}" cy="${pts[0].split(',')[1]}" r="3" fill="${color}"/>`)
    else out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${pts.join(' ')}"/>`)
    const ly = fr.top + 8 + k * 18
    out.push(`<rect x="${fr.width - fr.right + 14}" y="${ly - 8}" width="12" height="4" fill="${color}"/>`,
      `<text x="${fr.width - fr.right + 32}" y="${ly - 2}">${esc(l.name)}</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}

/** Bars, one per labelled bin, optionally in groups (one colour per group, bars side by side). */
export function barChart (opts: { title: string, subtitle: string, yLabel: string, bins: readonly string[], groups: readonly Line[] }): string {
  const fr: Frame = { width: 820, height: 360, left: 70, right: 200, top: 52, bottom: 56 }
  const all = opts.groups.flatMap(g => g.values)
  const hi = Math.max(1, ...all) * 1.05
  const plotW = fr.width - fr.left - fr.right
  const plotH = fr.height - fr.top - fr.bottom
  const py = (v: number): number => fr.top + (hi - v) / hi * plotH
  const slot = plotW / Math.max(1, opts.bins.length)
  const barW = slot * 0.8 / Math.max(1, opts.groups.length)
  const out = header(fr, opts.title, opts.subtitle)
  out.push(...yAxis(fr, 0, hi, py, opts.yLabel))
  opts.bins.forEach((b, i) => {
    const cx = fr.left + slot * (i + 0.5)
    out.push(`<text x="${f(cx)}" y="${fr.height - fr.bottom + 14}" text-anchor="end" fill="#555" font-size="10" transform="rotate(-35 ${f(cx)} ${fr.height - fr.bottom + 14})">${esc(b)}</text>`)
    opts.groups.forEach((g, k) => {
      const v = g.values[i] ?? 0
      if (v <= 0) return
      const x = fr.left + slot * i + slot * 0.1 + k * barW
      out.push(`<rect x="${f(x)}" y="${f(py(v))}" width="${f(Math.max(0.5, barW - 1))}" height="${f(py(0) - py(v))}" fill="${g.color ?? PALETTE[k % PALETTE.length]}"/>`)
    })
  })
  opts.groups.forEach((g, k) => {
    const ly = fr.top + 8 + k * 18
    out.push(`<rect x="${fr.width - fr.right + 14}" y="${ly - 8}" width="12" height="8" fill="${g.color ?? PALETTE[k % PALETTE.length]}"/>`,
      `<text x="${fr.width - fr.right + 32}" y="${ly}">${esc(g.name)}</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}
