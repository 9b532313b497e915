// The attribution bench over issue 20's case grid: every noise kind, both spam sizes and
// sotu, five scenario seeds each, and per (model, size, noise) the median and the worst
// case of each target's figure, with how many cases pass it. Each case is one run of the
// attribution bench (bench/attribution.bench.ts), in this process; its truth runs are
// cached on disk, so a grid rerun trains only the attributed runs. A case's JSON is kept
// under --out, and --resume reads cases already there instead of rerunning them.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { run as attribution } from './attribution.bench.ts'
import { NOISE_KINDS } from './attribution/scenario.ts'
import { numberFlag, parseFlags } from './lib/args.ts'
import { BenchUsageError, type BenchResult } from './lib/bench.ts'
import { median, round } from './lib/stats.ts'

export const name = 'attribution-grid'
export const description = 'attribution over the case grid (noise kinds x sizes x seeds): median and worst of each target'
export const flags = [
  '--models M,...     spam and/or sotu (default spam)',
  '--sizes N/K,...    contributors/bad per case (default 30/5,60/10 for spam; sotu runs 30/5 only)',
  `--noise K,...      noise kinds (default every kind the model takes: ${NOISE_KINDS.join(', ')})`,
  '--seeds A-B        scenario seeds (default 1-5)',
  '--truth-seeds S, --lds-subsets M, --threads N   passed to each case',
  '--out DIR          where each case\'s JSON is kept (default bench/.cache/attribution-grid)',
  '--resume           read cases already under --out instead of rerunning them',
  '--report           run nothing: summarise the cases already under --out (the others are listed as missing)'
]

const DEFAULT_OUT = fileURLToPath(new URL('./.cache/attribution-grid/', import.meta.url))

/** Figures summarised per group: [figure, which way is better, target]. */
const TARGETS: Array<[string, 'high' | 'low', string]> = [
  ['tracin.rhoAll', 'high', '>= 0.8'],
  ['tracin.rhoGood', 'high', '>= 0.6 (reliability >= 0.7)'],
  ['tracin.lds', 'high', '>= 0.7'],
  ['creditAuc', 'high', 'mean >= 0.95, min >= 0.90'],
  ['badShare', 'low', '<= 0.001 copies, <= 0.01 else'],
  ['valuableRecall', 'high', '>= 0.9'],
  ['payoutStability', 'high', '>= 0.8'],
  ['cost', 'low', '<= 2'],
  ['truth.reliability', 'high', '(the truth\'s own)'],
  ['lds.ceiling', 'high', '(LDS ceiling)']
]

interface Case { model: 'spam' | 'sotu', N: number, K: number, noise: string, seed: number }

const caseName = (c: Case): string => `${c.model}-${c.N}-${c.K}-${c.noise}-${c.seed}`
const list = (v: unknown): string[] | undefined => typeof v === 'string' ? v.split(',').map(x => x.trim()).filter(x => x !== '') : undefined

function seedsOf (spec: string): number[] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(spec)
  if (m === null) throw new BenchUsageError('--seeds must be A or A-B')
  const a = Number(m[1])
  const b = m[2] !== undefined ? Number(m[2]) : a
  if (b < a || b - a > 100) throw new BenchUsageError('--seeds A-B needs A <= B and at most 101 seeds')
  return Array.from({ length: b - a + 1 }, (_, i) => a + i)
}

export function gridCases (o: { models: string[], sizes?: string[], noise?: string[], seeds: number[] }): Case[] {
  const out: Case[] = []
  for (const model of o.models) {
    if (model !== 'spam' && model !== 'sotu') throw new BenchUsageError('--models takes spam and sotu')
    const sizes = (o.sizes ?? (model === 'spam' ? ['30/5', '60/10'] : ['30/5'])).map(s => {
      const m = /^(\d+)\/(\d+)$/.exec(s)
      if (m === null || Number(m[2]) >= Number(m[1])) throw new BenchUsageError(`--sizes takes N/K with K < N (got ${s})`)
      return { N: Number(m[1]), K: Number(m[2]) }
    })
    const kinds = (o.noise ?? NOISE_KINDS.filter(k => model === 'spam' ? k !== 'lm-off-topic' : k !== 'label-flip'))
    for (const k of kinds) if (!(NOISE_KINDS as readonly string[]).includes(k)) throw new BenchUsageError(`--noise takes ${NOISE_KINDS.join(', ')}`)
    for (const { N, K } of sizes) for (const noise of kinds) for (const seed of o.seeds) out.push({ model, N, K, noise, seed })
  }
  return out
}

export async function run (args: string[]): Promise<BenchResult> {
  const f = parseFlags(args, { models: 'string', sizes: 'string', noise: 'string', seeds: 'string', 'truth-seeds': 'string', 'lds-subsets': 'string', threads: 'string', out: 'string', resume: 'boolean', report: 'boolean' })
  const cases = gridCases({ models: list(f.models) ?? ['spam'], sizes: list(f.sizes), noise: list(f.noise), seeds: seedsOf((f.seeds as string | undefined) ?? '1-5') })
  const pass: string[] = []
  for (const flag of ['truth-seeds', 'lds-subsets', 'threads'] as const) if (f[flag] !== undefined) pass.push(`--${flag}`, String(numberFlag(f, flag, 0, { min: 0 })))
  const out = (f.out as string | undefined) ?? DEFAULT_OUT
  await mkdir(out, { recursive: true })
  const results: Array<{ c: Case, figures: Record<string, number>, properties: Record<string, { pass: boolean | null }> }> = []
  const missing: string[] = []
  for (const [i, c] of cases.entries()) {
    const file = join(out, `${caseName(c)}.json`)
    let r: BenchResult | undefined
    if (f.resume === true || f.report === true) r = await readFile(file, 'utf8').then(t => JSON.parse(t) as BenchResult, () => undefined)
    if (r === undefined && f.report === true) { missing.push(caseName(c)); continue }
    if (r === undefined) {
      process.stderr.write(`attribution-grid: case ${i + 1}/${cases.length} ${caseName(c)}\n`)
      r = await attribution(['--model', c.model, '--contributors', String(c.N), '--bad', String(c.K), '--noise', c.noise, '--seed', String(c.seed), ...pass])
      // Written whole then renamed: a kill leaves the previous file or none, never half of one.
      await writeFile(file + '.tmp', JSON.stringify({ figures: r.figures, params: r.params, detail: { properties: r.detail?.properties } }))
      await rename(file + '.tmp', file)
    }
    results.push({ c, figures: r.figures, properties: (r.detail?.properties ?? {}) as Record<string, { pass: boolean | null }> })
  }

  // Per (model, size, noise): median and worst over seeds, and cases passing.
  const groups = new Map<string, typeof results>()
  for (const x of results) {
    const key = `${x.c.model} ${x.c.N}/${x.c.K} ${x.c.noise}`
    groups.set(key, [...(groups.get(key) ?? []), x])
  }
  const summary: Record<string, Record<string, { median: number, worst: number, mean: number, passed: number, of: number }>> = {}
  const figures: Record<string, number> = { cases: results.length, missing: missing.length }
  for (const [key, xs] of groups) {
    summary[key] = {}
    for (const [fig, better] of TARGETS) {
      const v = xs.map(x => x.figures[fig]).filter(x => typeof x === 'number' && Number.isFinite(x))
      if (v.length === 0) continue
      const judged = xs.map(x => x.properties[fig]?.pass).filter(p => p === true || p === false)
      summary[key][fig] = {
        median: round(median(v), 4),
        worst: round(better === 'high' ? Math.min(...v) : Math.max(...v), 4),
        mean: round(v.reduce((s, y) => s + y, 0) / v.length, 4),
        passed: judged.filter(p => p === true).length,
        of: judged.length
      }
      figures[`${key.replaceAll(' ', '.')}.${fig}.median`] = summary[key][fig].median
      figures[`${key.replaceAll(' ', '.')}.${fig}.worst`] = summary[key][fig].worst
    }
  }
  const header = ['case group', 'seeds', ...TARGETS.map(([fig, , target]) => `${fig} median / worst (pass) ${target}`)]
  const rows = [header, ...[...groups.entries()].map(([key, xs]) => [key, xs.map(x => x.c.seed).join(','), ...TARGETS.map(([fig]) => {
    const s = summary[key][fig]
    return s === undefined ? '-' : `${s.median} / ${s.worst}${s.of > 0 ? ` (${s.passed}/${s.of})` : ''}`
  })])]
  return {
    figures,
    baseline: null,
    ratio: null,
    reps: results.length,
    params: { cases: cases.map(caseName), passed: pass },
    detail: { summary, missing, cases: results.map(x => ({ case: caseName(x.c), figures: x.figures })) },
    notes: [
      'each case: npm run bench -- attribution with that model, size, noise and seed (see its notes); its truth runs are cached under bench/.cache/attribution/',
      'median / worst over the scenario seeds of each group; (pass) counts cases meeting the target where the case judges it (detail.properties)'
    ],
    tables: [{ title: 'per case group', rows }]
  }
}
