// An SVG bar chart of measured influence per contributor (and the payout weight the
// policy gave each), written by `openledger attribute --svg`. Plain SVG, no library:
// one bar per contributor, helpful to the right in green, harmful to the left in red.

export interface ChartRow { label: string, influence: number, weight: number }

const esc = (s: string): string => s.replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string)

export function influenceChart (title: string, rows: readonly ChartRow[]): string {
  const sorted = [...rows].sort((a, b) => b.influence - a.influence || (a.label < b.label ? -1 : 1))
  const rowH = 18
  const labelW = 330
  const barW = 420
  const top = 48
  const width = labelW + barW + 140
  const height = top + sorted.length * rowH + 30
  const max = Math.max(1e-12, ...sorted.map(r => Math.abs(r.influence)))
  const hasNegative = sorted.some(r => r.influence < 0)
  const zero = labelW + (hasNegative ? barW / 2 : 0)
  const scale = (hasNegative ? barW / 2 : barW) / max
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="38" fill="#555">influence on validation loss (TracIn, summed per contributor); payout share on the right</text>`,
    `<line x1="${zero}" y1="${top - 4}" x2="${zero}" y2="${top + sorted.length * rowH}" stroke="#999"/>`
  ]
  sorted.forEach((r, i) => {
    const y = top + i * rowH
    const w = Math.abs(r.influence) * scale
    const x = r.influence >= 0 ? zero : zero - w
    out.push(
      `<text x="${labelW - 6}" y="${y + 13}" text-anchor="end">${esc(r.label)}</text>`,
      `<rect x="${x.toFixed(1)}" y="${y + 3}" width="${Math.max(0.5, w).toFixed(1)}" height="${rowH - 6}" fill="${r.influence >= 0 ? '#2e8b57' : '#c0392b'}"/>`,
      `<text x="${labelW + barW + 10}" y="${y + 13}">${(r.weight * 100).toFixed(2)}%</text>`
    )
  })
  out.push(`<text x="${zero}" y="${height - 8}" text-anchor="middle" fill="#555">0</text>`, '</svg>')
  return out.join('\n') + '\n'
}
