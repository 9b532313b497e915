// openledger attribute: Proof of Attribution for an adapter, on the peer that trained it.
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { UsageError } from '../../errors.ts'
import type { Command } from 'commander'
import { apiPost, endpointOf } from '../api-client.ts'
import { dataDirOf, nodeClientOptions } from '../options.ts'
import { printJson, table } from '../output.ts'

export function attributeCommand (program: Command): void {
  nodeClientOptions(program.command('attribute'))
    .description('measure each contribution\'s influence on an adapter (TracIn, DataInf), turn it into payout weights and record them in the datanet\'s credit map')
    .requiredOption('--adapter <cid>', 'an adapter this peer trained')
    .option('--datanet <D[@version]>', 'check that the adapter was trained on this datanet version')
    .option('--svg <file>', 'write a chart of influence per contributor')
    .option('--verify <file>', 'instead: check an attribution result (saved --json output) by recomputing its sampled scores from this peer\'s checkpoints')
    .action(async (opts: { dataDir?: string, url?: string, json?: boolean, adapter: string, datanet?: string, svg?: string, verify?: string }) => {
      if (opts.verify != null) {
        let claimed: any
        try { claimed = JSON.parse(await readFile(resolve(opts.verify), 'utf8')) } catch (err) { throw new UsageError(`cannot read ${opts.verify}: ${(err as Error).message}`) }
        const v = await apiPost<any>(await endpointOf(dataDirOf(opts), opts.url), '/attribute/verify',
          { adapter: opts.adapter, datanet: opts.datanet, claimed: { adapter: claimed?.adapter, method: claimed?.method, verification: { sample: claimed?.verification?.sample, tolerance: claimed?.verification?.tolerance } } })
        if (opts.json === true) printJson(v)
        else console.log(v.ok === true ? `verified: ${v.checked} sampled scores recomputed within ${v.tolerance.relative} relative` : `MISMATCH: ${v.evidence.mismatches.length} of ${v.checked} sampled scores differ\n${table([['example', 'file', 'claimed', 'recomputed'], ...v.evidence.mismatches.map((m: any) => [String(m.example), m.file, String(m.claimed), String(m.recomputed)])])}`)
        if (v.ok !== true) process.exitCode = 1
        return
      }
      const r = await apiPost<any>(await endpointOf(dataDirOf(opts), opts.url), '/attribute', { adapter: opts.adapter, datanet: opts.datanet, svg: opts.svg != null ? resolve(opts.svg) : undefined },
        (p) => { if (opts.json !== true && p.phase === 'attribute') process.stderr.write(`scoring ${p.examples} training examples at ${p.checkpoints} checkpoints\n`) })
      if (opts.json === true) { printJson(r); return }
      console.log(`attribution ${r.attribution} of adapter ${r.adapter}\ndatanet ${r.datanet}@${r.version}, method ${r.method}, ${(r.ms.total / 1000).toFixed(1)} s\n`)
      console.log(table([['contributor', 'influence (TracIn)', 'payout'], ...r.contributors.map((c: any) => [c.address, c.influence.toExponential(3), `${(c.weight * 100).toFixed(2)}%`])]))
      // File flags come counted per contribution; the pool's own flags as they are.
      const files: Record<string, number> = {}
      for (const c of r.contributions) for (const [reason, n] of Object.entries(c.flagged ?? {})) files[reason] = (files[reason] ?? 0) + (n as number)
      if (r.unfitFiles > 0) files['unfit (fit gate)'] = r.unfitFiles
      const flagged = [...Object.entries(files).map(([reason, n]) => `${n} ${reason}`), ...r.flags.filter((f: any) => f.reason !== 'capped').map((f: any) => f.reason)]
      if (flagged.length > 0) console.log(`\nflagged files: ${flagged.join(', ')}`)
      if (r.svg != null) console.log(`\nchart: ${r.svg}`)
    })
}
