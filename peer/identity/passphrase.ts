// Where a keystore passphrase comes from: the first line of stdin when asked for
// (--passphrase-stdin; the devnet hands its peers theirs so), else the
// OPENLEDGER_PASSPHRASE environment variable, else a hidden prompt when a person is at
// a terminal. Never a CLI flag: flags end up in shell history and `ps`. The variable is
// taken out of the environment as soon as it is seen (the CLI does so at start-up), so
// no child process (a devnet peer, anvil, nvidia-smi) inherits it.
import { NoPassphraseError, UsageError } from '../errors.ts'

export const PASSPHRASE_ENV = 'OPENLEDGER_PASSPHRASE'
/** Longer than any passphrase; a stdin without a newline by then is not one. */
const MAX_LINE = 64 * 1024

let taken: string | undefined

/** The environment's passphrase, removed from process.env (and kept here for a later read in this process). */
export function takeEnvPassphrase (): string | undefined {
  const fromEnv = process.env[PASSPHRASE_ENV]
  delete process.env[PASSPHRASE_ENV]
  if (fromEnv != null && fromEnv !== '') taken = fromEnv
  return taken
}

export interface PassphraseOptions {
  prompt?: string
  /** Read the first line of stdin (a terminal gets the hidden prompt instead). */
  stdin?: boolean
}

export async function readPassphrase (opts: PassphraseOptions = {}): Promise<string> {
  const prompt = opts.prompt ?? 'Keystore passphrase: '
  // Taken out even when stdin is the source: no child gets it either way.
  const fromEnv = takeEnvPassphrase()
  const tty = process.stdin.isTTY === true && process.stderr.isTTY === true
  if (opts.stdin === true && !tty) {
    const line = await firstLineOfStdin()
    if (line === '') throw new NoPassphraseError()
    return line
  }
  if (opts.stdin !== true && fromEnv !== undefined) return fromEnv
  if (!tty) throw new NoPassphraseError()
  return await promptHidden(prompt)
}

/**
 * The first line of stdin, without its line end; stdin is paused after it, with what
 * followed the line put back (a peer with --stop-with-stdin then watches it for its end).
 */
async function firstLineOfStdin (): Promise<string> {
  const stdin = process.stdin
  return await new Promise<string>((resolve, reject) => {
    let buf = Buffer.alloc(0)
    const done = (): void => {
      stdin.off('data', onData)
      stdin.off('end', onEnd)
      stdin.off('error', onError)
      stdin.pause()
    }
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk])
      const nl = buf.indexOf(0x0a)
      if (nl >= 0) {
        done()
        if (nl + 1 < buf.length) stdin.unshift(buf.subarray(nl + 1))
        resolve(buf.subarray(0, nl).toString('utf8').replace(/\r$/, ''))
      } else if (buf.length > MAX_LINE) {
        done()
        reject(new UsageError(`--passphrase-stdin: no line end in the first ${MAX_LINE} bytes of stdin`))
      }
    }
    const onEnd = (): void => { done(); resolve(buf.toString('utf8').replace(/\r$/, '')) }
    const onError = (err: Error): void => { done(); reject(new UsageError(`--passphrase-stdin: cannot read stdin: ${err.message}`)) }
    stdin.on('data', onData)
    stdin.once('end', onEnd)
    stdin.once('error', onError)
    stdin.resume()
  })
}

async function promptHidden (prompt: string): Promise<string> {
  const stdin = process.stdin
  process.stderr.write(prompt)
  stdin.setRawMode(true)
  stdin.resume()
  stdin.setEncoding('utf8')
  return await new Promise<string>((resolve, reject) => {
    let value = ''
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') { done(); resolve(value); return }
        if (ch === '\u0003') { done(); reject(new NoPassphraseError()); return }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1)
        else value += ch
      }
    }
    const done = (): void => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      process.stderr.write('\n')
    }
    stdin.on('data', onData)
  })
}
