// Starts a real local EVM (anvil, from the @foundry-rs/anvil npm package) for tests
// and the devnet: on 127.0.0.1, on a port we find free ourselves, and returns once it
// answers JSON-RPC. The dev accounts are anvil's defaults from its well-known
// mnemonic: throwaway keys, never for a real chain. The process is stopped on stop(),
// when this process exits, and (through a guard holding a pipe) when it is killed, so
// a crashed test run or devnet doesn't leave chains behind.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { HDNodeWallet, Mnemonic } from 'ethers'
import { AnvilError } from './errors.ts'

const require = createRequire(import.meta.url)

export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk'

export interface AnvilOptions {
  chainId?: number
  /** Dev accounts to fund (default 10). */
  accounts?: number
  /** Persist the chain: load this state file at start, dump it on exit. */
  statePath?: string
  /** EVM hardfork name, e.g. 'cancun'; anvil's default otherwise. */
  hardfork?: string
  /** Milliseconds to wait for JSON-RPC (default 20 s). */
  readyTimeoutMs?: number
  /** Extra command-line arguments. */
  args?: string[]
}

export interface AnvilAccount {
  address: string
  privateKey: string
}

export interface Anvil {
  rpcUrl: string
  chainId: number
  port: number
  accounts: AnvilAccount[]
  stop: () => Promise<void>
}

/** The native binary from the platform package (skips the node wrapper, so a kill reaches anvil itself). */
export function anvilBinary (): string {
  if (process.env.ANVIL_BIN !== undefined) return process.env.ANVIL_BIN
  const pkg = `@foundry-rs/anvil-${process.platform}-${process.arch === 'x64' ? 'amd64' : process.arch}`
  try {
    const path = require.resolve(`${pkg}/package.json`).replace(/package\.json$/, `bin/anvil${process.platform === 'win32' ? '.exe' : ''}`)
    if (existsSync(path)) return path
  } catch {}
  throw new AnvilError('anvil binary not found; install @foundry-rs/anvil or set ANVIL_BIN', { pkg })
}

export function devAccounts (count: number, mnemonic = ANVIL_MNEMONIC): AnvilAccount[] {
  const root = HDNodeWallet.fromSeed(Mnemonic.fromPhrase(mnemonic).computeSeed())
  const out: AnvilAccount[] = []
  for (let i = 0; i < count; i++) {
    const w = root.derivePath(`m/44'/60'/0'/0/${i}`)
    out.push({ address: w.address, privateKey: w.privateKey })
  }
  return out
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

async function rpcChainId (rpcUrl: string): Promise<number | undefined> {
  try {
    const res = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(1000)
    })
    const body = await res.json() as { result?: string }
    return body.result === undefined ? undefined : Number(body.result)
  } catch {
    return undefined
  }
}

const GUARD = `
const { spawn } = require('node:child_process')
const anvil = spawn(process.argv[1], process.argv.slice(2), { stdio: ['ignore', 'ignore', 'inherit'] })
const stop = (signal) => { try { anvil.kill(signal) } catch {} }
process.stdin.on('end', () => stop('SIGTERM'))
process.stdin.on('error', () => stop('SIGTERM'))
process.stdin.resume()
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => stop(signal))
anvil.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGTERM' ? 0 : 1)))
`

// Every live anvil of this process, killed when it exits.
const live = new Set<ChildProcess>()
let exitHookInstalled = false
function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => { for (const child of live) child.kill('SIGTERM') })
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      for (const child of live) child.kill('SIGTERM')
      // Keep the default "die on signal" unless someone else handles it.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal)
        process.kill(process.pid, signal)
      }
    }
    process.on(signal, onSignal)
  }
}

async function startOnce (opts: AnvilOptions, port: number): Promise<Anvil> {
  const chainId = opts.chainId ?? 31337
  const args = ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(chainId), '--accounts', String(opts.accounts ?? 10)]
  if (opts.statePath !== undefined) args.push('--state', opts.statePath)
  if (opts.hardfork !== undefined) args.push('--hardfork', opts.hardfork)
  args.push(...(opts.args ?? []))
  // anvil runs under a small Node guard holding our end of a pipe: if this process dies
  // any way at all (SIGKILL included), the pipe closes and the guard stops anvil, so no
  // chain outlives a killed devnet or test run. Signals are passed on, so SIGTERM still
  // lets anvil dump its --state.
  const child = spawn(process.execPath, ['-e', GUARD, anvilBinary(), ...args], { stdio: ['pipe', 'ignore', 'pipe'] })
  live.add(child)
  installExitHook()
  let stderr = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (s: string) => { if (stderr.length < 4000) stderr += s })
  let exited: number | null | undefined
  const exitedP = new Promise<void>(resolve => child.once('exit', code => { exited = code; live.delete(child); resolve() }))
  child.once('error', () => { exited = -1 })

  const rpcUrl = `http://127.0.0.1:${port}`
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000)
  while (true) {
    if (exited !== undefined) throw new AnvilError('anvil exited before it was ready', { port, code: exited, stderr: stderr.trim() })
    const id = await rpcChainId(rpcUrl)
    if (id === chainId) break
    if (id !== undefined) {
      child.kill('SIGTERM')
      throw new AnvilError('another chain answers on the port', { port, chainId: id })
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM')
      throw new AnvilError('anvil did not answer JSON-RPC in time', { port, stderr: stderr.trim() })
    }
    await new Promise(resolve => setTimeout(resolve, 50))
  }

  const stop = async (): Promise<void> => {
    if (exited !== undefined) return
    // SIGTERM lets anvil dump --state; SIGKILL if it doesn't go.
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
    await exitedP
    clearTimeout(timer)
  }
  return { rpcUrl, chainId, port, accounts: devAccounts(opts.accounts ?? 10), stop }
}

/** Starts anvil and waits until it answers; retries on another port if one was taken meanwhile. */
export async function startAnvil (opts: AnvilOptions = {}): Promise<Anvil> {
  let last: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts, await freePort())
    } catch (err) {
      last = err
      if (!(err instanceof AnvilError) || err.message !== 'anvil exited before it was ready') throw err
    }
  }
  throw last
}
