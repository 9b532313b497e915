// The import graph of the project's TypeScript and the layering rules it must keep
// (the house plan: engines below protocols/ below peer/; see RULES). Pure: it is given
// the files' text and a way to ask whether a path exists, so test/layering.test.ts can
// run it on the tree and on synthetic file sets alike.
//
// Imports are read with a small tokenizer (comments, strings, template literals and
// regular expressions are skipped as such), so an import written inside a string or a
// comment is not one, and a multi-line import is one. Read: `import … from '…'`,
// `import type …`, `import '…'`, `export … from '…'` (`export *`, `export type`), and
// `import('…')` with a literal (also in type positions). Type-only edges count like any
// other: a circle through types still ties the files together. Relative specifiers are
// resolved to files and checked against RULES and for circles; package specifiers (npm,
// node:) only against the rules that name packages.

export type ImportKind = 'static' | 'side-effect' | 'dynamic'

export interface ImportRef {
  spec: string
  line: number
  kind: ImportKind
  /** `import type …` / `export type … from` (the whole statement is erased). */
  typeOnly: boolean
}

export interface Rule {
  id: string
  /** What the rule says, for the report. */
  says: string
  /** True when an import from `from` of the project file `to` (repo-relative paths) breaks it. */
  breaks?: (from: string, to: string) => boolean
  /** True when an import from `from` of the package `spec` (npm or node:) breaks it. */
  breaksPackage?: (from: string, spec: string) => boolean
}

export interface Violation {
  from: string
  line: number
  spec: string
  to?: string
  /** The rules broken, or 'unresolved'. */
  rules: string[]
}

export interface Report {
  files: number
  edges: number
  violations: Violation[]
  /** Each strongly connected component of more than one file, with one cycle through it. */
  circles: Array<{ files: string[], cycle: string[] }>
}

// ---------------------------------------------------------------------------- tokens

type TokenKind = 'id' | 'str' | 'tpl' | 'num' | 'regex' | 'punct'
interface Token { kind: TokenKind, value: string, line: number, /** template with ${…} */ sub?: boolean }

const REGEX_AFTER_KEYWORD = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await'])

// Character classes by char code (one table lookup per character: the tree is ~2.4 MB).
const ID = 1
const DIGIT = 2
const SPACE = 4
const CLASS = new Uint8Array(128)
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c)
  if (/[A-Za-z_$]/.test(ch)) CLASS[c] = ID
  else if (/[0-9]/.test(ch)) CLASS[c] = DIGIT
  else if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\f' || ch === '\v') CLASS[c] = SPACE
}
const isIdStart = (c: number): boolean => c >= 128 ? c !== 0xfeff && c !== 0xa0 : CLASS[c] === ID
const isIdPart = (c: number): boolean => c >= 128 ? c !== 0xfeff && c !== 0xa0 : CLASS[c] === ID || CLASS[c] === DIGIT
const NL = 10
const SLASH = 47
const STAR = 42
const BACKSLASH = 92
const BACKTICK = 96
const DOLLAR = 36
const LBRACE = 123
const RBRACE = 125

function regexAllowed (prev: Token | undefined): boolean {
  if (prev === undefined) return true
  switch (prev.kind) {
    case 'num': case 'str': case 'tpl': case 'regex': return false
    case 'id': return REGEX_AFTER_KEYWORD.has(prev.value)
    default: return !(prev.value === ')' || prev.value === ']' || prev.value === '}')
  }
}

/** The tokens of a TypeScript source, enough of them to find its imports. */
export function tokenize (src: string): Token[] {
  const out: Token[] = []
  const n = src.length
  let i = 0
  let line = 1
  let depth = 0
  // Open `${` substitutions: the brace depth each began at, and its template token.
  const subs: Array<{ depth: number, token: Token }> = []
  if (src.startsWith('#!')) while (i < n && src.charCodeAt(i) !== NL) i++

  /** Reads template text from i (after ` or }) to its end or to the next `${`. */
  const templateText = (token: Token): void => {
    let from = i
    while (i < n) {
      const c = src.charCodeAt(i)
      if (c === BACKSLASH) {
        token.value += src.slice(from, i) + src.charAt(i + 1)
        if (src.charCodeAt(i + 1) === NL) line++
        i += 2
        from = i
        continue
      }
      if (c === BACKTICK) { token.value += src.slice(from, i); i++; return }
      if (c === DOLLAR && src.charCodeAt(i + 1) === LBRACE) {
        token.sub = true
        i += 2
        subs.push({ depth, token })
        depth++
        return
      }
      if (c === NL) line++
      i++
    }
    token.value += src.slice(from, i)
  }

  while (i < n) {
    const c = src.charCodeAt(i)
    if (c === NL) { line++; i++; continue }
    if ((c < 128 && CLASS[c] === SPACE) || c === 0xfeff || c === 0xa0) { i++; continue }
    if (c === SLASH && src.charCodeAt(i + 1) === SLASH) {
      const end = src.indexOf('\n', i)
      i = end < 0 ? n : end
      continue
    }
    if (c === SLASH && src.charCodeAt(i + 1) === STAR) {
      const end = src.indexOf('*/', i + 2)
      const stop = end < 0 ? n : end + 2
      for (let k = src.indexOf('\n', i); k >= 0 && k < stop; k = src.indexOf('\n', k + 1)) line++
      i = stop
      continue
    }
    if (c === 39 || c === 34) { // ' or "
      const start = line
      let value = ''
      let from = ++i
      while (i < n) {
        const d = src.charCodeAt(i)
        if (d === c || d === NL) break // a newline: unterminated, stop at the line's end
        if (d === BACKSLASH) {
          value += src.slice(from, i) + src.charAt(i + 1)
          if (src.charCodeAt(i + 1) === NL) line++
          i += 2
          from = i
          continue
        }
        i++
      }
      value += src.slice(from, Math.min(i, n))
      i++
      out.push({ kind: 'str', value, line: start })
      continue
    }
    if (c === BACKTICK) {
      const token: Token = { kind: 'tpl', value: '', line }
      out.push(token)
      i++
      templateText(token)
      continue
    }
    if (c === RBRACE && subs.length > 0 && subs[subs.length - 1].depth === depth - 1) {
      const { token } = subs.pop()!
      depth--
      i++
      templateText(token)
      continue
    }
    if (c === SLASH && regexAllowed(out[out.length - 1])) {
      let k = i + 1
      let inClass = false
      while (k < n) {
        const d = src.charCodeAt(k)
        if (d === NL) break
        if (d === BACKSLASH) { k += 2; continue }
        if (d === 91) inClass = true // [
        else if (d === 93) inClass = false // ]
        else if (d === SLASH && !inClass) break
        k++
      }
      if (k < n && src.charCodeAt(k) === SLASH) {
        k++
        while (k < n && isIdPart(src.charCodeAt(k))) k++
        out.push({ kind: 'regex', value: src.slice(i, k), line })
        i = k
        continue
      }
      // not a regex after all: a lone '/'
    }
    if (isIdStart(c)) {
      let k = i + 1
      while (k < n && isIdPart(src.charCodeAt(k))) k++
      out.push({ kind: 'id', value: src.slice(i, k), line })
      i = k
      continue
    }
    if (c < 128 && CLASS[c] === DIGIT) {
      let k = i + 1
      while (k < n) {
        const d = src.charCodeAt(k)
        if (!(isIdPart(d) || d === 46)) break // digits, letters, _, .
        k++
      }
      out.push({ kind: 'num', value: src.slice(i, k), line })
      i = k
      continue
    }
    if (c === LBRACE) depth++
    else if (c === RBRACE) depth--
    out.push({ kind: 'punct', value: src.charAt(i), line })
    i++
  }
  return out
}

// --------------------------------------------------------------------------- imports

/** Every import of a module source, in source order. */
export function scanImports (src: string): ImportRef[] {
  const t = tokenize(src)
  const out: ImportRef[] = []
  const isId = (k: number, v: string): boolean => t[k]?.kind === 'id' && t[k].value === v
  const isPunct = (k: number, v: string): boolean => t[k]?.kind === 'punct' && t[k].value === v
  const literal = (k: number): string | undefined => {
    const tok = t[k]
    if (tok?.kind === 'str' || (tok?.kind === 'tpl' && tok.sub !== true)) return tok.value
    return undefined
  }
  let statement = -1 // index of the last `import`/`export` keyword
  for (let k = 0; k < t.length; k++) {
    const afterDot = isPunct(k - 1, '.')
    if ((isId(k, 'import') || isId(k, 'export')) && !afterDot) {
      if (isId(k, 'import') && isPunct(k + 1, '(')) {
        const spec = literal(k + 2)
        if (spec !== undefined && (isPunct(k + 3, ')') || isPunct(k + 3, ','))) {
          out.push({ spec, line: t[k].line, kind: 'dynamic', typeOnly: false })
        }
        continue
      }
      if (isPunct(k + 1, '.')) continue // import.meta
      statement = k
      if (isId(k, 'import') && t[k + 1]?.kind === 'str') {
        out.push({ spec: t[k + 1].value, line: t[k].line, kind: 'side-effect', typeOnly: false })
      }
      continue
    }
    if (isId(k, 'from') && !afterDot && t[k + 1]?.kind === 'str' && statement >= 0) {
      const typeOnly = isId(statement + 1, 'type') && !isId(statement + 2, 'from') && !isPunct(statement + 2, ',') && !isPunct(statement + 2, '=')
      out.push({ spec: t[k + 1].value, line: t[statement].line, kind: 'static', typeOnly })
      statement = -1
    }
  }
  return out
}

// -------------------------------------------------------------------------- resolving

/** posix path normalisation of a repo-relative path ('' segments and '.' dropped, '..' applied). */
function normalize (path: string): string {
  const parts: string[] = []
  for (const p of path.split('/')) {
    if (p === '' || p === '.') continue
    if (p === '..' && parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop()
    else parts.push(p)
  }
  return parts.join('/')
}

export function isRelative (spec: string): boolean {
  return spec.startsWith('./') || spec.startsWith('../')
}

/**
 * The repo-relative file a relative specifier names, or undefined when none exists.
 * Node's ESM resolution: the exact path, no extension guessing, no index files.
 */
export function resolveSpec (from: string, spec: string, exists: (path: string) => boolean): string | undefined {
  const dir = from.includes('/') ? from.slice(0, from.lastIndexOf('/')) : ''
  const path = normalize(`${dir}/${spec.split(/[?#]/)[0]}`)
  if (path.startsWith('..')) return undefined
  return exists(path) ? path : undefined
}

// ----------------------------------------------------------------------------- rules

const under = (path: string, ...dirs: string[]): boolean => dirs.some(d => path.startsWith(d))
const ENGINES = ['storage/', 'compute/', 'settlement/']
const TOOLS = ['bench/', 'test/']

export const RULES: readonly Rule[] = [
  {
    id: 'engine-imports-upper',
    says: 'engines (storage/, compute/, settlement/) take plain inputs: they import no protocols/, peer/, sim/, bench/ or test/',
    breaks: (f, t) => under(f, ...ENGINES) && under(t, 'protocols/', 'peer/', 'sim/', ...TOOLS)
  },
  {
    id: 'policy-imports-outside',
    says: 'settlement/policy/ imports no project file outside settlement/policy/',
    breaks: (f, t) => under(f, 'settlement/policy/') && !under(t, 'settlement/policy/')
  },
  {
    id: 'storage-imports-compute',
    says: 'storage/ does not import compute/',
    breaks: (f, t) => under(f, 'storage/') && under(t, 'compute/')
  },
  {
    id: 'protocols-imports-upper',
    says: 'protocols/ imports no peer/, sim/, bench/ or test/',
    breaks: (f, t) => under(f, 'protocols/') && under(t, 'peer/', 'sim/', ...TOOLS)
  },
  {
    id: 'protocols-opens-files',
    says: 'protocols/ moves bytes: it opens no files and no block store\'s folder (no node:fs, no blockstore-fs); a fast path into storage belongs in storage/',
    breaksPackage: (f, spec) => under(f, 'protocols/') && /^(node:)?fs(\/|$)|^blockstore-fs(\/|$)/.test(spec)
  },
  {
    id: 'sim-imports-network',
    says: 'sim/ has no sockets: it imports no peer/, protocols/, bench/ or test/',
    breaks: (f, t) => under(f, 'sim/') && under(t, 'peer/', 'protocols/', ...TOOLS)
  },
  {
    id: 'product-imports-tools',
    says: 'product code (all but bench/ and test/) imports no bench/ or test/',
    breaks: (f, t) => !under(f, ...TOOLS) && under(t, ...TOOLS)
  },
  {
    id: 'imports-peer',
    says: 'nothing outside peer/ imports peer/ (bench/ and test/ may)',
    breaks: (f, t) => !under(f, 'peer/', ...TOOLS) && under(t, 'peer/')
  },
  {
    id: 'composition-root',
    says: 'peer/node/ is the composition root: inside peer/, only peer/cli/ and peer/devnet/ import it',
    breaks: (f, t) => under(f, 'peer/') && !under(f, 'peer/node/', 'peer/cli/', 'peer/devnet/') && under(t, 'peer/node/')
  }
]

export const UNRESOLVED = 'unresolved'
const UNRESOLVED_SAYS = 'a relative import must name an existing file (exact path, as Node resolves it)'

// --------------------------------------------------------------------------- checking

/** Strongly connected components (Tarjan), each as a sorted list; only those of more than one file. */
export function circles (graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let counter = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const onStack = new Set<string>()
  const stack: string[] = []
  const out: string[][] = []
  const visit = (v: string): void => {
    index.set(v, counter)
    low.set(v, counter)
    counter++
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!))
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        scc.push(w)
      } while (w !== v)
      if (scc.length > 1) out.push(scc.sort())
    }
  }
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v)
  return out.sort((a, b) => a[0] < b[0] ? -1 : 1)
}

/** A shortest cycle through `start` inside `within` (breadth-first), as a path ending where it began. */
function cycleThrough (start: string, within: ReadonlySet<string>, graph: ReadonlyMap<string, readonly string[]>): string[] {
  const prev = new Map<string, string>()
  const queue = [start]
  for (let q = 0; q < queue.length; q++) {
    const v = queue[q]
    for (const w of graph.get(v) ?? []) {
      if (!within.has(w)) continue
      if (w === start) {
        const path: string[] = []
        for (let u: string | undefined = v; u !== undefined && u !== start; u = prev.get(u)) path.unshift(u)
        return [start, ...path, start]
      }
      if (!prev.has(w)) { prev.set(w, v); queue.push(w) }
    }
  }
  return [start, start]
}

/**
 * Reads every import of every file in `sources` (repo-relative path -> text), resolves
 * the relative ones with `exists`, and reports the imports that break a rule, those
 * that resolve to nothing, and every circle.
 */
export function checkImports (sources: ReadonlyMap<string, string>, exists: (path: string) => boolean, rules: readonly Rule[] = RULES): Report {
  const violations: Violation[] = []
  const graph = new Map<string, string[]>()
  let edges = 0
  for (const [from, text] of [...sources].sort((a, b) => a[0] < b[0] ? -1 : 1)) {
    const targets: string[] = []
    graph.set(from, targets)
    for (const ref of scanImports(text)) {
      if (!isRelative(ref.spec)) { // npm packages and node: builtins
        const broken = rules.filter(r => r.breaksPackage?.(from, ref.spec) === true).map(r => r.id)
        if (broken.length > 0) violations.push({ from, line: ref.line, spec: ref.spec, rules: broken })
        continue
      }
      edges++
      const to = resolveSpec(from, ref.spec, exists)
      if (to === undefined) {
        violations.push({ from, line: ref.line, spec: ref.spec, rules: [UNRESOLVED] })
        continue
      }
      if (!targets.includes(to)) targets.push(to)
      const broken = rules.filter(r => r.breaks?.(from, to) === true).map(r => r.id)
      if (broken.length > 0) violations.push({ from, line: ref.line, spec: ref.spec, to, rules: broken })
    }
  }
  const found = circles(graph).map(files => ({ files, cycle: cycleThrough(files[0], new Set(files), graph) }))
  return { files: sources.size, edges, violations, circles: found }
}

/** The report as text for a failing test: one line per offending import, then the rules they break. */
export function formatReport (report: Report, rules: readonly Rule[] = RULES): string {
  const lines: string[] = []
  if (report.violations.length > 0) {
    lines.push(`${report.violations.length} offending import(s):`)
    for (const v of report.violations) {
      lines.push(`  ${v.from}:${v.line} -> ${v.to ?? `'${v.spec}'`}  [${v.rules.join(', ')}]`)
    }
  }
  if (report.circles.length > 0) {
    lines.push(`${report.circles.length} import circle(s):`)
    for (const c of report.circles) {
      lines.push(`  ${c.cycle.join(' -> ')}${c.files.length > c.cycle.length - 1 ? `  (component of ${c.files.length} files: ${c.files.join(', ')})` : ''}`)
    }
  }
  const used = new Set(report.violations.flatMap(v => v.rules))
  if (used.size > 0) {
    lines.push('rules:')
    for (const r of rules) if (used.has(r.id)) lines.push(`  ${r.id}: ${r.says}`)
    if (used.has(UNRESOLVED)) lines.push(`  ${UNRESOLVED}: ${UNRESOLVED_SAYS}`)
  }
  return lines.join('\n')
}
