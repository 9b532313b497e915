// Driving devnet peers as a user would: the openledger CLI as a separate process on the
// project's Node, one command per call. The tests, the benches and the flywheel run use
// it, so what they exercise is the command line a person types.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const CLI = fileURLToPath(new URL('../cli/openledger.ts', import.meta.url))

export interface CliResult { code: number | null, stdout: string, stderr: string }

export async function runCli (args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 120_000): Promise<CliResult> {
  const child = spawnCli(args, env)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => { stdout += d })
  child.stderr!.on('data', (d) => { stderr += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const code = await new Promise<number | null>(resolve => child.once('exit', (c) => resolve(c)))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

export function spawnCli (args: string[], env: Record<string, string | undefined> = {}): ChildProcess {
  const merged: Record<string, string | undefined> = { ...process.env, ...env }
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete merged[k]
  return spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: merged })
}

/**
 * `openledger ARGS --json -d <peer's data dir>` on a devnet peer. With ok (default) it
 * must exit 0 and its last stdout line is returned parsed; without, the raw result.
 */
export function devnetCli (peers: () => ReadonlyArray<{ dataDir: string }>, timeoutMs = 240_000) {
  return async (peer: number, args: string[], ok = true): Promise<any> => {
    const r = await runCli([...args, '--json', '-d', peers()[peer].dataDir], {}, timeoutMs)
    if (!ok) return r
    if (r.code !== 0) throw new Error(`peer ${peer}: openledger ${args.join(' ')} exited ${r.code}\n${r.stderr}${await internalErrors(peers()[peer].dataDir, r.stderr)}`)
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!)
  }
}

/** On an internal error the node's log holds the cause: its last API errors, so a failed run says what happened. */
async function internalErrors (dataDir: string, stderr: string): Promise<string> {
  if (!stderr.includes('internal error')) return ''
  const log = await readFile(join(dataDir, 'node.log'), 'utf8').catch(() => '')
  const lines = log.split('\n').filter(l => l.includes('api error')).slice(-3)
  return lines.length > 0 ? `\nthe node's log:\n${lines.join('\n')}` : ''
}
