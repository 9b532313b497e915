// A progress line on stderr: redrawn in place on a terminal, a line per 10% in a log.
import { formatBytes } from './output.ts'

export function progressBar (label: string, unit: 'bytes' | 'items' = 'bytes'): { update (done: number, total: number, extra?: string): void, done (): void } {
  const tty = process.stderr.isTTY === true
  const fmt = (n: number): string => unit === 'bytes' ? formatBytes(n) : String(n)
  let lastDecile = -1
  let drawn = false
  return {
    update (done, total, extra = '') {
      const frac = total > 0 ? Math.min(1, done / total) : 0
      if (tty) {
        const width = 30
        const bar = '='.repeat(Math.round(frac * width)).padEnd(width, ' ')
        process.stderr.write(`\r${label} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${fmt(done)}/${fmt(total)} ${extra}\x1b[K`)
        drawn = true
      } else {
        const decile = Math.floor(frac * 10)
        if (decile > lastDecile) {
          lastDecile = decile
          process.stderr.write(`${label} ${decile * 10}% ${fmt(done)}/${fmt(total)} ${extra}\n`)
        }
      }
    },
    done () { if (drawn) process.stderr.write('\n') }
  }
}
