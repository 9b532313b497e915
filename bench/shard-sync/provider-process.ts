// Start bench/shard-sync/provider.ts as its own process (the project's Node), wait for
// its ready line, and stop it again.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { withTimeout } from '../lib/wait.ts'
import type { ProviderInfo } from './receiver.ts'

const SCRIPT = fileURLToPath(new URL('./provider.ts', import.meta.url))

export interface ProviderProcess {
  info: ProviderInfo
  child: ChildProcess
  stop: () => Promise<void>
}

export async function startProvider (opts: { mib: number, seed: string, readyTimeoutMs: number }): Promise<ProviderProcess> {
  const child = spawn(process.execPath, [SCRIPT, '--mib', String(opts.mib), '--seed', opts.seed], {
    stdio: ['pipe', 'pipe', 'inherit']
  })
  const exited = once(child, 'exit')
  exited.catch(() => {})
  const stop = async (): Promise<void> => {
    if (child.exitCode != null || child.signalCode != null) return
    child.stdin?.end() // the provider exits when stdin closes, removing its folder
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    try {
      await exited
    } finally {
      clearTimeout(timer)
    }
  }
  try {
    const lines = createInterface({ input: child.stdout! })
    const first = new Promise<string>((resolve, reject) => {
      lines.once('line', resolve)
      child.once('exit', (code, signal) => reject(new Error(`provider exited before it was ready (code ${code}, signal ${signal})`)))
    })
    const line = await withTimeout(first, opts.readyTimeoutMs, 'provider start')
    return { info: JSON.parse(line) as ProviderInfo, child, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
