// Turns a bench result into what the harness prints: a table for people, and one
// JSON object (the last stdout line with --json) for machines.
import type { BenchResult } from './bench.ts'
import { machineLine, type MachineInfo } from './machine.ts'
import { round } from './stats.ts'

export interface BenchReport {
  bench: string
  date: string
  machine: MachineInfo
  /** 1-minute load average when the bench started and ended: how busy the shared machine was. */
  load: { before: number, after: number }
  figures: Record<string, number>
  baseline: Record<string, number> | null
  ratio: number | null
  reps: number
  units: Record<string, string>
  params: Record<string, unknown>
  detail: Record<string, unknown>
  notes: string[]
}

export function toReport (bench: string, machine: MachineInfo, r: BenchResult, load: BenchReport['load'], date = new Date()): BenchReport {
  return {
    bench,
    date: date.toISOString(),
    machine,
    load,
    figures: r.figures,
    baseline: r.baseline,
    ratio: r.ratio,
    reps: r.reps,
    units: r.units ?? {},
    params: r.params ?? {},
    detail: r.detail ?? {},
    notes: r.notes ?? []
  }
}

/** Left-aligned first column, right-aligned numbers. */
export function formatTable (rows: string[][]): string {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length) })
  return rows.map(row => row.map((cell, i) => i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])).join('  ').trimEnd()).join('\n')
}

export function fmt (x: number | undefined): string {
  if (x == null || Number.isNaN(x)) return '-'
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US')
  return String(round(x, 4))
}

export function formatReport (rep: BenchReport, description: string, extra: BenchResult['tables'] = []): string {
  const out: string[] = []
  out.push(`${rep.bench}: ${description}`)
  out.push(`machine  ${machineLine(rep.machine)}`)
  out.push(`libs     ${Object.entries(rep.machine.libs).map(([k, v]) => `${k} ${v ?? '?'}`).join(', ')}`)
  out.push(`date     ${rep.date}   load (1 min avg) ${fmt(rep.load.before)} before, ${fmt(rep.load.after)} after, on ${rep.machine.cores} cores`)
  if (Object.keys(rep.params).length > 0) out.push(`params   ${Object.entries(rep.params).map(([k, v]) => `${k}=${String(v)}`).join(' ')}`)
  out.push('')
  const names = Object.keys(rep.figures)
  const rows: string[][] = rep.baseline != null
    ? [['figure', 'project', 'baseline', 'unit'], ...names.map(n => [n, fmt(rep.figures[n]), fmt(rep.baseline?.[n]), rep.units[n] ?? ''])]
    : [['figure', 'value', 'unit'], ...names.map(n => [n, fmt(rep.figures[n]), rep.units[n] ?? ''])]
  out.push(formatTable(rows))
  out.push('')
  out.push(rep.ratio != null ? `ratio (project / baseline): ${fmt(rep.ratio)}` : 'ratio: none (absolute figure, no baseline)')
  out.push(`reps: ${rep.reps}`)
  for (const t of extra) {
    out.push('', t.title, formatTable(t.rows))
  }
  if (rep.notes.length > 0) out.push('', ...rep.notes.map(n => `note: ${n}`))
  return out.join('\n')
}
