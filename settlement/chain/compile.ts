// Compiles settlement/contracts/**/*.sol with solc-js (WASM: no download, no native
// compiler) through standard JSON, resolving @openzeppelin/... imports from
// node_modules. Compiling the OpenZeppelin governor takes seconds, so the output is
// cached in node_modules/.cache under a hash of every source text, the solc and
// OpenZeppelin versions and the settings: tests and devnets recompile only after an edit.
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CompileError } from './errors.ts'
import { writeJsonAtomic } from '../../storage/atomic-file.ts'

const require = createRequire(import.meta.url)
const HERE = dirname(fileURLToPath(import.meta.url))
export const CONTRACTS_DIR = resolve(HERE, '../contracts')
const REPO = resolve(HERE, '../..')
const DEFAULT_CACHE_DIR = join(REPO, 'node_modules/.cache/openledger-contracts')

export const SOLC_SETTINGS = {
  optimizer: { enabled: true, runs: 20_000 },
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } }
} as const

export interface Artifact {
  /** Source path relative to settlement/contracts, e.g. 'RewardDistributor.sol' or 'test/ReentrantToken.sol'. */
  source: string
  abi: unknown[]
  /** 0x-prefixed creation bytecode. */
  bytecode: string
  /** Runtime code size in bytes (the EIP-170 limit is 24,576). */
  deployedSize: number
}

export interface CompileOutput {
  key: string
  solcVersion: string
  /** By contract name; names are unique across our sources. */
  contracts: Record<string, Artifact>
  /** Compiler warnings, formatted. */
  warnings: string[]
}

export interface CompileResult extends CompileOutput {
  fromCache: boolean
  /** Wall time of this call: the compile, or only the cache read. */
  ms: number
}

export interface CompileOptions {
  cacheDir?: string
  /** Skip the cache read (still writes it). */
  force?: boolean
}

function listSources (dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...listSources(path))
    else if (entry.name.endsWith('.sol')) out.push(path)
  }
  return out.sort()
}

function packageVersion (name: string): string {
  return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version
}

/** Our sources by solc unit name (path relative to contracts/, '/' separated). */
function readSources (): Record<string, { content: string }> {
  const sources: Record<string, { content: string }> = {}
  for (const path of listSources(CONTRACTS_DIR)) {
    sources[relative(CONTRACTS_DIR, path).split(sep).join('/')] = { content: readFileSync(path, 'utf8') }
  }
  return sources
}

function cacheKey (sources: Record<string, { content: string }>): string {
  const h = createHash('sha256')
  h.update(JSON.stringify({ solc: packageVersion('solc'), oz: packageVersion('@openzeppelin/contracts'), settings: SOLC_SETTINGS }))
  for (const [name, { content }] of Object.entries(sources)) h.update(`\0${name}\0${content}`)
  return h.digest('hex').slice(0, 32)
}

/** solc's import callback: only @openzeppelin/ paths, read from node_modules. */
function findImport (path: string): { contents: string } | { error: string } {
  if (!path.startsWith('@openzeppelin/')) return { error: `import not found: ${path}` }
  try {
    return { contents: readFileSync(require.resolve(path), 'utf8') }
  } catch {
    return { error: `import not found: ${path}` }
  }
}

interface SolcMessage { severity: 'error' | 'warning' | 'info', formattedMessage: string, type: string, sourceLocation?: { file: string } }
interface SolcOutput {
  errors?: SolcMessage[]
  contracts?: Record<string, Record<string, { abi: unknown[], evm: { bytecode: { object: string }, deployedBytecode: { object: string } } }>>
}

/** Compiles (or loads from cache) every contract; throws CompileError listing solc's errors. */
export async function compileContracts (opts: CompileOptions = {}): Promise<CompileResult> {
  const started = performance.now()
  const sources = readSources()
  const key = cacheKey(sources)
  const cachePath = join(opts.cacheDir ?? DEFAULT_CACHE_DIR, `${key}.json`)
  if (opts.force !== true) {
    const cached = await readCache(cachePath)
    if (cached !== undefined && cached.key === key) return { ...cached, fromCache: true, ms: performance.now() - started }
  }

  const solc = await loadSolc()
  const input = { language: 'Solidity', sources, settings: SOLC_SETTINGS }
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport })) as SolcOutput
  const messages = output.errors ?? []
  const errors = messages.filter(m => m.severity === 'error').map(m => m.formattedMessage)
  if (errors.length > 0) throw new CompileError(`solc: ${errors.length} error(s)`, { errors })

  const contracts: Record<string, Artifact> = {}
  for (const [source, byName] of Object.entries(output.contracts ?? {})) {
    if (source.startsWith('@')) continue
    for (const [name, c] of Object.entries(byName)) {
      if (c.evm.bytecode.object === '') continue // interfaces and abstract contracts
      if (contracts[name] !== undefined) throw new CompileError(`contract name used twice: ${name}`, { name, sources: [contracts[name].source, source] })
      contracts[name] = { source, abi: c.abi, bytecode: '0x' + c.evm.bytecode.object, deployedSize: c.evm.deployedBytecode.object.length / 2 }
    }
  }
  const result: CompileOutput = {
    key,
    solcVersion: solc.version() as string,
    contracts,
    // OpenZeppelin's own warnings are not ours to fix.
    warnings: messages.filter(m => m.severity === 'warning' && m.sourceLocation?.file.startsWith('@') !== true).map(m => m.formattedMessage)
  }
  await writeJsonAtomic(cachePath, result)
  return { ...result, fromCache: false, ms: performance.now() - started }
}

/**
 * solc-js (emscripten) installs an unhandledRejection listener on load that keeps a
 * process with a rejected top-level await alive forever; take it off again.
 */
async function loadSolc (): Promise<any> {
  const before = new Set(process.listeners('unhandledRejection'))
  const solc = (await import('solc')).default
  for (const l of process.listeners('unhandledRejection')) if (!before.has(l)) process.removeListener('unhandledRejection', l)
  return solc
}

async function readCache (path: string): Promise<CompileOutput | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as CompileOutput
  } catch {
    return undefined // missing or torn: recompile
  }
}
