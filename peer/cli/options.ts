// Parsers for CLI option values: a bad value is a UsageError (exit 2) naming the
// option, never a NaN that travels on.
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { Option, type Command } from 'commander'
import { multiaddr } from '@multiformats/multiaddr'
import { UsageError } from '../errors.ts'
import { DEVICES } from '../../compute/onnx/device-names.ts'

export function intOption (name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value)
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new UsageError(`${name} must be an integer from ${min} to ${max}, got "${value}"`)
    }
    return n
  }
}

/** A finite number above 0. */
export function positiveNumber (name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1e9) throw new UsageError(`${name} must be a number above 0 (at most 1e9), got "${value}"`)
    return n
  }
}

export function multiaddrOption (name: string, requirePeerId = false) {
  return (value: string, previous: string[] = []): string[] => {
    let ma
    try {
      ma = multiaddr(value)
    } catch {
      throw new UsageError(`${name}: "${value}" is not a multiaddr`)
    }
    if (requirePeerId && !ma.getComponents().some(c => c.name === 'p2p')) {
      throw new UsageError(`${name}: "${value}" must end in /p2p/<peer id>`)
    }
    return [...previous, value]
  }
}

export function networkOption (value: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(value)) throw new UsageError(`--network must be lowercase letters, digits and dashes (max 32), got "${value}"`)
  return value
}

/** --data-dir, else $OPENLEDGER_DATA_DIR, else ~/.openledger */
export function dataDirOf (opts: { dataDir?: string }): string {
  return resolve(opts.dataDir ?? process.env.OPENLEDGER_DATA_DIR ?? join(homedir(), '.openledger'))
}

export const DATA_DIR_HELP = 'data folder (default: $OPENLEDGER_DATA_DIR or ~/.openledger)'

/** --passphrase-stdin, for the commands that open (or create) the keystore. */
export const PASSPHRASE_STDIN_HELP = 'read the keystore passphrase from the first line of stdin (default: $OPENLEDGER_PASSPHRASE, else a prompt)'

/** The options every command that talks to a running node takes. */
export function nodeClientOptions (cmd: Command): Command {
  return cmd
    .option('-d, --data-dir <dir>', DATA_DIR_HELP)
    .option('--url <url>', 'API URL of the node (default: from <data-dir>/run.json)')
    .option('--json', 'print one JSON object')
}

/** `--device <device>`: cpu (default), webgpu, cuda or auto, with this command's help. */
export function deviceOption (help: string): Option {
  return new Option('--device <device>', help).choices(['auto', ...DEVICES]).default('cpu')
}

/** A job's worker device: cpu, webgpu or cuda (no auto: a requester names what it needs). */
export function needDevice (value: string): string {
  if (!(DEVICES as readonly string[]).includes(value)) throw new UsageError(`--device must be one of ${DEVICES.join(', ')}, got "${value}"`)
  return value
}
