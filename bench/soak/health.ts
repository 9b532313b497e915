// The soak's health readings of the peer processes: resident memory from
// /proc/<pid>/status (Linux), and each peer's node.log scanned for what a crash or a
// bug leaves behind. Every line a peer logs on purpose starts with an ISO timestamp
// (peer/cli/output.ts logLine); anything else on stderr came from Node itself: an
// uncaught exception or unhandled rejection (which kills the process), a stack
// trace, a runtime warning.
import { readFile } from 'node:fs/promises'

/** RSS and its high-water mark from /proc; the V8 heap in use as the peer reports it (GET /status), when it answered. */
export interface MemorySample { rssKiB: number, hwmKiB: number, heapUsedKiB?: number }

/** VmRSS and VmHWM of a live process, undefined when it is gone or /proc is absent. */
export async function memoryOf (pid: number | undefined): Promise<MemorySample | undefined> {
  if (pid === undefined) return undefined
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8')
    const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN)
    const s = { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') }
    return Number.isFinite(s.rssKiB) ? s : undefined
  } catch {
    return undefined
  }
}

export interface LogScan {
  lines: number
  /** Lines Node wrote itself (not the peer's timestamped log lines). */
  unstructured: number
  /** Uncaught exceptions, unhandled rejections, fatal errors, out of memory. */
  fatal: number
  /** Stack frames ("    at ...") outside the peer's own log lines. */
  stackFrames: number
  warnings: number
  /** The peer's own error reports, by message (settlement round failed, job training failed, ...). */
  errors: Record<string, number>
  /** Chaos drops the peer logged, by channel. */
  chaosDrops: Record<string, number>
  /** The first few unexpected lines, for the report. */
  samples: string[]
}

const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /
const FATAL = /Uncaught|Unhandled|unhandledRejection|FATAL|out of memory|Segmentation fault|Aborted \(core|triggerUncaughtException|node:internal\/process/i
const WARNING = /^\(node:\d+\) |Warning:/
/** The peer's own log messages that report something going wrong. */
const ERROR_MESSAGE = /^(.*?(?:failed|refused|timed out|error)[^=]*?)(?: [a-zA-Z]+=|$)/

export function scanLog (text: string): LogScan {
  const scan: LogScan = { lines: 0, unstructured: 0, fatal: 0, stackFrames: 0, warnings: 0, errors: {}, chaosDrops: {}, samples: [] }
  for (const line of text.split('\n')) {
    if (line === '') continue
    scan.lines++
    if (STAMP.test(line)) {
      const msg = line.slice(25)
      if (msg.startsWith('chaos: dropped')) {
        const channel = /channel=(\w+)/.exec(msg)?.[1] ?? '?'
        scan.chaosDrops[channel] = (scan.chaosDrops[channel] ?? 0) + 1
        continue
      }
      const m = ERROR_MESSAGE.exec(msg)
      if (m !== null) scan.errors[m[1].trim()] = (scan.errors[m[1].trim()] ?? 0) + 1
      if (FATAL.test(msg)) { scan.fatal++; if (scan.samples.length < 10) scan.samples.push(line.slice(0, 300)) }
      continue
    }
    scan.unstructured++
    if (/^\s+at /.test(line)) scan.stackFrames++
    else if (WARNING.test(line)) scan.warnings++
    if (FATAL.test(line)) scan.fatal++
    if (scan.samples.length < 10 && !/^\s+at /.test(line)) scan.samples.push(line.slice(0, 300))
  }
  return scan
}
