// The house plan's layering as a test: every import of every .ts file in the project's
// folders, checked against the layering rules, with no circles and no relative import
// that names no file. The checker (helpers/import-graph.ts) is tested
// first on synthetic file sets, so a pass on the tree means something.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkImports, circles, formatReport, RULES, scanImports } from './helpers/import-graph.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const FOLDERS = ['peer', 'protocols', 'storage', 'compute', 'settlement', 'sim', 'bench', 'test']

function check (files: Record<string, string>, extra: string[] = []): ReturnType<typeof checkImports> {
  const sources = new Map(Object.entries(files))
  const known = new Set([...sources.keys(), ...extra])
  return checkImports(sources, p => known.has(p))
}

describe('layering: the import checker itself', () => {
  it('reads static, type-only, multi-line, side-effect, re-export and literal dynamic imports, and nothing in comments or strings', () => {
    const src = [
      '#!/usr/bin/env node',
      "// import a from './commented.ts'",
      "/* import b from './block.ts'",
      "   export * from './block2.ts' */",
      "import type { A } from './a.ts'",
      'import {',
      '  B,',
      '  type C',
      "} from './b.ts'",
      "import './side.ts'",
      "export { D } from './d.ts'",
      "export * as E from './e.ts'",
      "export type { F } from './f.ts'",
      "import * as G from 'node:fs'",
      "const s = \"import z from './in-string.ts'\"",
      "const t = `import w from './in-template.ts' ${x + `${'./nested.ts'}`} from './after-sub.ts'`",
      "const re = /from '.\\/in-regex.ts'/g",
      'const half = a / b / c',
      "async function f () { const m = await import('./dyn.ts'); const n = await import(`./tpl.ts`); return import(name) }",
      "type H = typeof import('./h.ts')",
      "const u = Array.from('./not-an-import.ts'); const v = import.meta.url",
      "export const x = 1; import type from './default-named-type.ts'"
    ].join('\n')
    const refs = scanImports(src).map(r => `${r.line} ${r.kind}${r.typeOnly ? ' type' : ''} ${r.spec}`)
    assert.deepEqual(refs, [
      '5 static type ./a.ts',
      '6 static ./b.ts',
      '10 side-effect ./side.ts',
      '11 static ./d.ts',
      '12 static ./e.ts',
      '13 static type ./f.ts',
      '14 static node:fs',
      '19 dynamic ./dyn.ts',
      '19 dynamic ./tpl.ts',
      '20 dynamic ./h.ts',
      '22 static ./default-named-type.ts'
    ])
  })

  it('passes a clean set', () => {
    const report = check({
      'peer/node/peer-node.ts': "import { Store } from '../../storage/store.ts'\nimport { wire } from '../../protocols/wire.ts'\nimport { x } from '../market/x.ts'",
      'peer/market/x.ts': "import type { Store } from '../../storage/store.ts'\nexport const x = 1",
      'peer/cli/main.ts': "const { PeerNode } = await import('../node/peer-node.ts')",
      'protocols/wire.ts': "import { Store } from '../storage/store.ts'\nimport { policy } from '../settlement/policy/index.ts'",
      'storage/store.ts': "import { writeFileAtomic } from './atomic-file.ts'\nimport { CID } from 'multiformats/cid'",
      'storage/atomic-file.ts': "import { rename } from 'node:fs/promises'",
      'settlement/policy/index.ts': "export * from './fee-split.ts'",
      'settlement/policy/fee-split.ts': "import { keccak_256 } from '@noble/hashes/sha3.js'",
      'sim/engine.ts': "import { policy } from '../settlement/policy/index.ts'",
      'test/x.test.ts': "import { PeerNode } from '../peer/node/peer-node.ts'\nimport { readme } from '../README.md'",
      'bench/b.ts': "import { x } from '../test/x.test.ts'"
    }, ['README.md'])
    assert.equal(formatReport(report), '')
    assert.deepEqual(report.violations, [])
    assert.deepEqual(report.circles, [])
    assert.equal(report.edges, 13)
  })

  it('reports each crossing with the rules it breaks, an unresolved import, and a circle through a type-only edge', () => {
    const report = check({
      'storage/a.ts': "import { handle } from '../protocols/shard/x.ts'\nimport { b } from './b.ts'",
      'storage/b.ts': "import type { A } from './a.ts'",
      'storage/c.ts': "import { fixture } from '../test/helpers/f.ts'\nimport { lm } from '../compute/lm.ts'",
      'protocols/shard/x.ts': "export { node } from '../../peer/node/libp2p.ts'\nimport { open } from 'node:fs/promises'\nimport type { FsBlockstore } from 'blockstore-fs'\nimport { createHash } from 'node:crypto'",
      'settlement/policy/errors.ts': "import { SettlementError } from '../errors.ts'",
      'settlement/errors.ts': '',
      'sim/run.ts': "const p = await import('../protocols/shard/x.ts')",
      'peer/market/svc.ts': "import type { PeerLibp2p } from '../node/libp2p.ts'\nimport { gone } from './gone.ts'",
      'peer/node/libp2p.ts': '',
      'compute/lm.ts': '',
      'test/helpers/f.ts': ''
    })
    const text = formatReport(report)
    const lines = text.split('\n')
    for (const want of [
      '  storage/a.ts:1 -> protocols/shard/x.ts  [engine-imports-upper]',
      '  storage/c.ts:1 -> test/helpers/f.ts  [engine-imports-upper, product-imports-tools]',
      '  storage/c.ts:2 -> compute/lm.ts  [storage-imports-compute]',
      '  protocols/shard/x.ts:1 -> peer/node/libp2p.ts  [protocols-imports-upper, imports-peer]',
      "  protocols/shard/x.ts:2 -> 'node:fs/promises'  [protocols-opens-files]",
      "  protocols/shard/x.ts:3 -> 'blockstore-fs'  [protocols-opens-files]",
      '  settlement/policy/errors.ts:1 -> settlement/errors.ts  [policy-imports-outside]',
      '  sim/run.ts:1 -> protocols/shard/x.ts  [sim-imports-network]',
      '  peer/market/svc.ts:1 -> peer/node/libp2p.ts  [composition-root]',
      "  peer/market/svc.ts:2 -> './gone.ts'  [unresolved]",
      '  storage/a.ts -> storage/b.ts -> storage/a.ts'
    ]) assert.ok(lines.includes(want), `missing "${want}" in:\n${text}`)
    assert.equal(report.violations.length, 10)
    assert.deepEqual(report.circles.map(c => c.files), [['storage/a.ts', 'storage/b.ts']])
    for (const r of RULES) assert.ok(text.includes(`${r.id}: ${r.says}`), `rule ${r.id} is explained`)
  })

  it('finds every strongly connected component, also a long one and two at once', () => {
    const g = new Map<string, string[]>([
      ['a', ['b']], ['b', ['c']], ['c', ['d']], ['d', ['a', 'e']], ['e', []],
      ['x', ['y']], ['y', ['x']], ['z', ['z2']], ['z2', []]
    ])
    assert.deepEqual(circles(g), [['a', 'b', 'c', 'd'], ['x', 'y']])
    const report = check({ 'sim/a.ts': "import './b.ts'", 'sim/b.ts': "import './c.ts'", 'sim/c.ts': "export * from './a.ts'" })
    assert.deepEqual(report.circles[0].cycle, ['sim/a.ts', 'sim/b.ts', 'sim/c.ts', 'sim/a.ts'])
  })
})

/** Every .ts file under the project's folders, repo-relative. */
function projectSources (): Map<string, string> {
  const out = new Map<string, string>()
  for (const folder of FOLDERS) {
    for (const rel of readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })) {
      if (!rel.endsWith('.ts')) continue
      const path = `${folder}/${rel.split('\\').join('/')}`
      if (path.split('/').includes('node_modules')) continue
      out.set(path, readFileSync(join(ROOT, path), 'utf8'))
    }
  }
  return out
}

function isFile (path: string): boolean {
  try { return statSync(join(ROOT, path)).isFile() } catch { return false }
}

describe('layering: the tree', () => {
  it('keeps every rule, has no import circle and no import of a missing file', function () {
    this.timeout(60_000) // reads every source file: seconds on a loaded machine
    const t0 = performance.now()
    const sources = projectSources()
    const report = checkImports(sources, isFile)
    const ms = performance.now() - t0
    assert.ok(report.files > 300 && report.edges > 1000, `read ${report.files} files and ${report.edges} relative imports: the walk missed the tree`)
    const text = formatReport(report)
    if (text !== '') assert.fail(`layering broken (${report.files} files, ${report.edges} relative imports, ${Math.round(ms)} ms):\n${text}`)
  })
})
