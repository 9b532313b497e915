// openledger job submit|status|list — the task market as a requester, through the
// running peer: escrow the fee, announce, take bids, assign; then follow the job.
// Kinds: train (a LoRA adapter), infer (an inference batch), attribute (Proof of
// Attribution of a market training job's adapter).
import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { UsageError } from '../../errors.ts'
import { apiGet, apiPost, endpointOf } from '../api-client.ts'
import { dataDirOf, intOption, needDevice, nodeClientOptions, positiveNumber } from '../options.ts'
import { printJson, table } from '../output.ts'

interface Common { dataDir?: string, url?: string, json?: boolean }

type Kind = 'train' | 'infer' | 'attribute'

function kindOption (v: string): Kind {
  if (v !== 'train' && v !== 'infer' && v !== 'attribute') throw new UsageError(`--kind must be train, infer or attribute, got "${v}"`)
  return v
}

/** A prompts file: a JSON array of strings, or one prompt per non-empty line. */
async function readPrompts (path: string): Promise<string[]> {
  let text: string
  try { text = await readFile(path, 'utf8') } catch (err) { throw new UsageError(`cannot read --prompts ${path}: ${(err as Error).message}`) }
  if (text.trimStart().startsWith('[')) {
    let v: unknown
    try { v = JSON.parse(text) } catch { throw new UsageError(`--prompts ${path} is not valid JSON`) }
    if (!Array.isArray(v) || !v.every(x => typeof x === 'string')) throw new UsageError(`--prompts ${path} must be a JSON array of strings`)
    return v
  }
  return text.split('\n').map(l => l.trim()).filter(l => l !== '')
}

export function jobCommand (program: Command): void {
  const job = program.command('job').description('jobs on the market (training, inference batches, attribution): paid from escrow, checked by verifiers, settled by epoch')

  nodeClientOptions(job.command('submit'))
    .description('escrow AMOUNT OPEN and broadcast a job (LoRA training; with --kind infer an inference batch; with --kind attribute Proof of Attribution of a market training job\'s adapter); returns once it is assigned')
    .option('--kind <kind>', 'train, infer or attribute', kindOption, 'train')
    .option('--datanet <D[@version]>', 'train: the datanet version to train on')
    .option('--base <model>', 'train, infer: base model name or CID')
    .requiredOption('--amount <open>', 'the fee, in OPEN, put in escrow')
    .option('--steps <n>', 'train: training steps', intOption('--steps', 1, 1_000_000))
    .option('--batch <n>', 'train: batch size', intOption('--batch', 1, 4096))
    .option('--label <label>', 'train: on files with this label only')
    .option('--adapter <cid>', 'infer: the adapter to run (default: the base alone); attribute: the adapter to measure')
    .option('--train-job <id>', 'attribute: the market training job that produced the adapter (found from --adapter among this peer\'s jobs if not given)')
    .option('--prompts <file>', 'infer: the prompts, one per line, or a JSON array of strings')
    .option('--max-tokens <n>', 'infer: new tokens per prompt (default 48)', intOption('--max-tokens', 1, 512))
    .option('--verifiers <n>', 'verifiers to assign (at least the registry\'s verifier quorum, the default)', intOption('--verifiers', 1, 16))
    .option('--bid-window <ms>', 'how long bids are taken', intOption('--bid-window', 500, 600_000))
    .option('--device <kind>', 'the device the worker must run on: cpu, webgpu or cuda (other devices than cpu take training jobs only, for now)', needDevice)
    .option('--min-gflops <n>', 'the least MatMul rate (GFLOP/s) the worker must have measured on its device', positiveNumber('--min-gflops'))
    .action(async (opts: Common & { kind: Kind, datanet?: string, base?: string, amount: string, steps?: number, batch?: number, label?: string, adapter?: string, trainJob?: string, prompts?: string, maxTokens?: number, verifiers?: number, bidWindow?: number, device?: string, minGflops?: number }) => {
      if (opts.kind !== 'attribute' && opts.base === undefined) throw new UsageError('a training job or an inference batch needs --base')
      if (opts.kind === 'train' && opts.datanet === undefined) throw new UsageError('a training job needs --datanet')
      if (opts.kind === 'infer' && opts.prompts === undefined) throw new UsageError('an inference batch needs --prompts FILE')
      if (opts.kind === 'attribute' && opts.adapter === undefined && opts.trainJob === undefined) throw new UsageError('an attribution needs --adapter CID or --train-job ID')
      if (opts.kind !== 'attribute' && opts.trainJob !== undefined) throw new UsageError('--train-job is for --kind attribute')
      const body = opts.kind === 'infer'
        ? { kind: 'infer', base: opts.base, adapter: opts.adapter, prompts: await readPrompts(opts.prompts!), maxTokens: opts.maxTokens, amount: opts.amount, verifiers: opts.verifiers, bidWindowMs: opts.bidWindow }
        : opts.kind === 'attribute'
          ? { kind: 'attribute', adapter: opts.adapter, trainJob: opts.trainJob, amount: opts.amount, verifiers: opts.verifiers, bidWindowMs: opts.bidWindow }
          : { datanet: opts.datanet, base: opts.base, amount: opts.amount, steps: opts.steps, batch: opts.batch, label: opts.label, verifiers: opts.verifiers, bidWindowMs: opts.bidWindow }
      const needs = { device: opts.device, minGflops: opts.minGflops }
      const r = await apiPost<any>(await endpointOf(dataDirOf(opts), opts.url), '/jobs', { ...body, ...needs })
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
      const kind = r.announce?.kind
      if (r.result != null) console.log(`result   ${r.result.result} (receipt: ${r.result.receipt.entries} ${kind === 'infer' ? 'outputs' : kind === 'attribute' ? 'scored examples' : 'checkpoints'})`)
      for (const v of r.verdicts ?? []) console.log(`verdict  ${v.by}: ${v.ok === true ? 'ok' : 'FAULT'}, ${kind === 'train' ? 'segments' : kind === 'attribute' ? 'examples' : 'requests'} ${v.checked.join(', ')}`)
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
