// Where a keystore passphrase comes from: the OPENLEDGER_PASSPHRASE environment
// variable, else a hidden prompt when a person is at a terminal. Never a CLI flag:
// flags end up in shell history and `ps`.
import { NoPassphraseError } from '../errors.ts'

export const PASSPHRASE_ENV = 'OPENLEDGER_PASSPHRASE'

export async function readPassphrase (prompt = 'Keystore passphrase: '): Promise<string> {
  const fromEnv = process.env[PASSPHRASE_ENV]
  if (fromEnv != null && fromEnv !== '') return fromEnv
  if (process.stdin.isTTY !== true || process.stderr.isTTY !== true) throw new NoPassphraseError()
  return await promptHidden(prompt)
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
