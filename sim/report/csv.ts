// CSV for the simulator's outputs: a header from the first row's keys, numbers written
// with a fixed format (integers as they are, others to 6 decimals), so the same run
// gives the same bytes, and strings quoted only when they need it.

export type CsvRow = Record<string, number | string>

function cell (v: number | string): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : Number.isFinite(v) ? v.toFixed(6) : String(v)
  return /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v
}

export function toCsv (rows: readonly CsvRow[]): string {
  if (rows.length === 0) return ''
  const cols = Object.keys(rows[0])
  const lines = [cols.join(',')]
  for (const r of rows) lines.push(cols.map(c => cell(r[c] ?? '')).join(','))
  return lines.join('\n') + '\n'
}
