// openledger job submit|status|list — the task market as a requester, through the
// running peer: escrow the fee, announce, take bids, assign; then follow the job.
import type { Command } from 'commander'
import { apiGet, apiPost, endpointOf } from '../api-client.ts'
import { dataDirOf, intOption, nodeClientOptions } from '../options.ts'
import { printJson, table } from '../output.ts'

interface Common { dataDir?: string, url?: string, json?: boolean }

export function jobCommand (program: Command): void {
  const job = program.command('job').description('training jobs on the market: paid from escrow, checked by verifiers, settled by epoch')

  nodeClientOptions(job.command('submit'))
    .description('escrow AMOUNT OPEN and broadcast a LoRA training job; returns once it is assigned')
    .requiredOption('--datanet <D[@version]>', 'the datanet version to train on')
    .requiredOption('--base <model>', 'base model name or CID')
    .requiredOption('--amount <open>', 'the fee, in OPEN, put in escrow')
    .option('--steps <n>', 'training steps', intOption('--steps', 1, 1_000_000))
    .option('--batch <n>', 'batch size', intOption('--batch', 1, 4096))
    .option('--label <label>', 'train on files with this label only')
    .option('--verifiers <n>', 'verifiers to assign', intOption('--verifiers', 1, 16))
    .option('--bid-window <ms>', 'how long bids are taken', intOption('--bid-window', 500, 600_000))
    .action(async (opts: Common & { datanet: string, base: string, amount: string, steps?: number, batch?: number, label?: string, verifiers?: number, bidWindow?: number }) => {
      const r = await apiPost<any>(await endpointOf(dataDirOf(opts), opts.url), '/jobs', {
        datanet: opts.datanet, base: opts.base, amount: opts.amount, steps: opts.steps, batch: opts.batch, label: opts.label, verifiers: opts.verifiers, bidWindowMs: opts.bidWindow
      })
      if (opts.json === true) { printJson(r); return }
      console.log(`job ${r.job}: ${r.phase}${r.error != null ? ` (${r.error})` : ''}`)
      if (r.assign != null) console.log(`worker   ${r.assign.workers.map((w: any) => w.address).join(', ')}\nverifier ${r.assign.verifiers.map((v: any) => v.address).join(', ')}`)
    })

  nodeClientOptions(job.command('status <job>'))
    .description('where a job stands on this peer: bids, assignment, result, verdicts, release')
    .action(async (id: string, opts: Common) => {
      const r = await apiGet<any>(await endpointOf(dataDirOf(opts), opts.url), `/jobs/${encodeURIComponent(id)}`)
      if (opts.json === true) { printJson(r); return }
      console.log(`job ${r.job} (${r.role}): ${r.phase}${r.error != null ? ` (${r.error})` : ''}`)
      if (r.result != null) console.log(`result   ${r.result.result} (receipt: ${r.result.receipt.entries} checkpoints)`)
      for (const v of r.verdicts ?? []) console.log(`verdict  ${v.by}: ${v.ok === true ? 'ok' : 'FAULT'}, segments ${v.checked.join(', ')}`)
      if (r.release != null) console.log(`released tx ${r.release.tx}`)
    })

  nodeClientOptions(job.command('list'))
    .description('jobs this peer requested, worked on or verified')
    .action(async (opts: Common) => {
      const r = await apiGet<any[]>(await endpointOf(dataDirOf(opts), opts.url), '/jobs')
      if (opts.json === true) printJson(r)
      else console.log(table([['job', 'role', 'phase', 'updated'], ...r.map(j => [j.job, j.role, j.phase, new Date(j.updatedAt).toISOString()])]))
    })
}
