// openledger model pretrain|add|list, train, infer, serve: ModelFactory and OpenLoRA.
// `model pretrain` runs here (no node needed) and writes a model file; everything else
// goes through the running peer, which holds the datanets, the models and the server.
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { UsageError } from '../../errors.ts'
import { apiGet, apiPost, endpointOf } from '../api-client.ts'
import type { DeviceChoice } from '../../../compute/onnx/device-names.ts'
import { dataDirOf, deviceOption, intOption, needDevice, nodeClientOptions } from '../options.ts'
import { formatBytes, printJson, table } from '../output.ts'
import { progressBar } from '../progress.ts'

interface Common { dataDir?: string, url?: string, json?: boolean }

const common = nodeClientOptions

function numberOption (name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value)
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new UsageError(`${name} must be a number from ${min} to ${max}, got "${value}"`)
    return n
  }
}

const metric = (m: any): string => m == null ? '-' : m.perplexity != null ? `perplexity ${m.perplexity.toFixed(2)} (loss ${m.loss.toFixed(4)}, ${m.tokens} tokens)` : `accuracy ${(m.accuracy * 100).toFixed(2)}% (loss ${m.loss.toFixed(4)}, ${m.examples} examples)`

export function modelCommand (program: Command): void {
  const model = program.command('model').description('base models: build one here, add it to a peer, list what a peer holds')

  model.command('pretrain <recipe>')
    .description('build a base model from the local corpora (sotu-lm, spam-base), reproducibly, into a model file')
    .requiredOption('-o, --out <file>', 'where to write the model file')
    .option('--steps <n>', 'training steps (default: the recipe\'s)', intOption('--steps', 1, 10_000_000))
    .option('--threads <n>', 'onnxruntime threads (results are bitwise reproducible for a fixed count)', intOption('--threads', 1, 1024))
    .option('--tiny', 'a much smaller model, for tests and quick looks')
    .addOption(deviceOption('where to train: cpu, webgpu, cuda or auto (see node start --device)'))
    .option('--json', 'print one JSON object')
    .action(async (recipe: string, opts: { out: string, steps?: number, threads?: number, tiny?: boolean, json?: boolean, device: DeviceChoice }) => {
      const { RECIPES, buildBase } = await import('../../models/recipes.ts')
      if (!(RECIPES as readonly string[]).includes(recipe)) throw new UsageError(`unknown recipe "${recipe}"; choose one of: ${RECIPES.join(', ')}`)
      const { chooseDevice } = await import('../../node/device-choice.ts')
      await chooseDevice(opts.device, { threads: opts.threads, log: opts.json === true ? undefined : (msg, fields) => process.stderr.write(`${msg} ${JSON.stringify(fields ?? {})}\n`) })
      const { encodeModel } = await import('../../../compute/models/artifacts.ts')
      const { importFile } = await import('../../../storage/unixfs/index.ts')
      const { writeFileAtomic } = await import('../../../storage/atomic-file.ts')
      const bar = opts.json === true ? undefined : progressBar(`pretraining ${recipe}`, 'items')
      const started = Date.now()
      let loss = NaN
      const built = await buildBase(recipe as 'sotu-lm', {
        steps: opts.steps,
        threads: opts.threads,
        tiny: opts.tiny,
        onPhase: (phase, fields) => { if (opts.json !== true) process.stderr.write(`${phase} ${JSON.stringify(fields ?? {})}\n`) },
        onStep: (p) => { loss = 0.95 * (Number.isNaN(loss) ? p.loss : loss) + 0.05 * p.loss; bar?.update(p.step, p.steps, `steps, loss ${loss.toFixed(3)}`) }
      })
      bar?.done()
      const bytes = encodeModel(built)
      const out = resolve(opts.out)
      await writeFileAtomic(out, bytes, { mode: 0o644 })
      const { cid } = await importFile({ put: async (c: any) => c }, bytes)
      const result = { out, cid: cid.toString(), bytes: bytes.byteLength, name: built.meta.name, kind: built.meta.kind, config: built.meta.config, provenance: built.meta.provenance, seconds: (Date.now() - started) / 1000 }
      if (opts.json === true) printJson(result)
      else console.log(`${result.name} (${result.kind}) ${formatBytes(result.bytes)} -> ${out}\ncid ${result.cid}`)
    })

  common(model.command('add <file>'))
    .description('add a model file to the running peer: stored and pinned in its blockstore, named by its CID')
    .option('--name <name>', 'a name to refer to it by (default: the name inside the file)')
    .action(async (file: string, opts: Common & { name?: string }) => {
      const entry = await apiPost<any>(await endpointOf(dataDirOf(opts), opts.url), '/models', { path: resolve(file), name: opts.name })
      if (opts.json === true) printJson(entry)
      else console.log(`model ${entry.name} (${entry.kind}, ${formatBytes(entry.bytes)})\ncid ${entry.cid}`)
    })

  common(model.command('list'))
    .description('base models and adapters this peer holds')
    .action(async (opts: Common) => {
      const list = await apiGet<any>(await endpointOf(dataDirOf(opts), opts.url), '/models')
      if (opts.json === true) { printJson(list); return }
      console.log(list.models.length === 0 ? 'no models' : table([['name', 'kind', 'size', 'cid'], ...list.models.map((m: any) => [m.name, m.kind, formatBytes(m.bytes), m.cid])]))
      if (list.adapters.length > 0) {
        console.log('\nadapters:')
        console.log(table([['cid', 'kind', 'size', 'datanet version', 'held-out after'], ...list.adapters.map((a: any) => [a.cid, a.kind, formatBytes(a.bytes), a.datanet?.version ?? '-', metric(a.metrics?.after)])]))
      }
    })

  common(program.command('train'))
    .description('ModelFactory: train a LoRA adapter on a datanet version with a base model, on the running peer')
    .requiredOption('--datanet <D[@version]>', 'datanet id or name, optionally @ a version CID')
    .requiredOption('--base <model>', 'base model name or CID')
    .option('--rank <r>', 'LoRA rank', intOption('--rank', 1, 256), 8)
    .option('--alpha <a>', 'LoRA alpha (default 2 x rank)', numberOption('--alpha', 1e-6, 1e4))
    .option('--targets <names>', 'weights that get an adapter, comma-separated, or "all" (default: attention q and v of a language model; embedding and both layers of a classifier)')
    .option('--steps <n>', 'optimizer steps', intOption('--steps', 1, 1_000_000))
    .option('--batch <n>', 'examples per step', intOption('--batch', 1, 4096))
    .option('--lr <x>', 'peak learning rate', numberOption('--lr', 1e-8, 1))
    .option('--seq <n>', 'language models: tokens per training window', intOption('--seq', 2, 65_536))
    .option('--seed <n>', 'seed for initialisation and batch order', intOption('--seed', 0, 2 ** 31 - 1))
    .option('--label <label>', 'only files with this label (e.g. a party, for sotu)')
    .option('--held-out <share>', 'share of files held out for evaluation', numberOption('--held-out', 0.001, 0.5))
    .option('--device <device>', 'where the peer runs this job\'s training steps: cpu, webgpu or cuda (default: the peer\'s own device, node start --device)', needDevice)
    .action(async (opts: Common & { datanet: string, base: string, rank: number, alpha?: number, targets?: string, steps?: number, batch?: number, lr?: number, seq?: number, seed?: number, label?: string, heldOut?: number, device?: string }) => {
      const bar = opts.json === true ? undefined : progressBar('training', 'items')
      let fetch: ReturnType<typeof progressBar> | undefined
      const targets = opts.targets?.split(',').map(t => t.trim()).filter(t => t !== '')
      if (targets != null && targets.length === 0) throw new UsageError('--targets names no weight')
      const body = { datanet: opts.datanet, base: opts.base, rank: opts.rank, alpha: opts.alpha, targets, steps: opts.steps, batch: opts.batch, lr: opts.lr, seq: opts.seq, seed: opts.seed, label: opts.label, heldOut: opts.heldOut, device: opts.device }
      const r = await apiPost<any>(await endpointOf(dataDirOf(opts), opts.url), '/train', body, (p) => {
        if (opts.json === true) return
        if (p.phase === 'fetch') { fetch ??= progressBar('reading datanet'); fetch.update(p.bytesDone, p.bytesTotal) }
        if (p.phase === 'evaluate') { fetch?.done(); process.stderr.write(`${p.train} training and ${p.heldOut} held-out documents; evaluating the base\n`) }
        if (p.phase === 'train') bar?.update(p.step, p.steps, `steps, loss ${p.loss.toFixed(4)}${p.resumedFrom > 0 ? `, resumed at ${p.resumedFrom}` : ''}`)
      })
      bar?.done()
      if (opts.json === true) { printJson(r); return }
      console.log([
        `adapter  ${r.adapter}  (${r.kind}, ${formatBytes(r.bytes)})`,
        `base     ${r.base}`,
        `datanet  ${r.name}@${r.version}`,
        `files    ${r.files.train} training, ${r.files.heldOut} held out`,
        `before   ${metric(r.before)}`,
        `after    ${metric(r.after)}`,
        `steps    ${r.steps}${r.resumedFrom > 0 ? ` (resumed from ${r.resumedFrom})` : ''} on ${r.device}, ${(r.ms / 1000).toFixed(1)} s; ${r.checkpoints.length} checkpoints, last ${r.checkpoints.at(-1)?.hash ?? '-'}`
      ].join('\n'))
    })

  common(program.command('infer <prompt>'))
    .description('OpenLoRA: answer a prompt with an adapter (or a base model alone) on the running peer')
    .option('--adapter <cid>', 'adapter CID')
    .option('--base <model>', 'base model name or CID, to run without an adapter')
    .option('--max-tokens <n>', 'language models: most tokens to generate', intOption('--max-tokens', 1, 512), 48)
    .option('--temperature <t>', 'language models: 0 is greedy', numberOption('--temperature', 0, 10), 0)
    .option('--seed <n>', 'sampling seed', intOption('--seed', 0, 2 ** 31 - 1))
    .option('--explain', 'language models with an adapter: which datanet contributions the answer\'s text copies, and the base model\'s share')
    .action(async (prompt: string, opts: Common & { adapter?: string, base?: string, maxTokens: number, temperature: number, seed?: number, explain?: boolean }) => {
      if (opts.adapter == null && opts.base == null) throw new UsageError('name --adapter CID or --base MODEL')
      const r = await apiPost<any>(await endpointOf(dataDirOf(opts), opts.url), '/infer', { prompt, adapter: opts.adapter, base: opts.base, maxTokens: opts.maxTokens, temperature: opts.temperature, seed: opts.seed, explain: opts.explain })
      if (opts.json === true) { printJson(r); return }
      if (r.kind !== 'lm') { console.log(`${r.label}  ${Object.entries(r.probabilities).map(([l, p]) => `${l} ${((p as number) * 100).toFixed(1)}%`).join('  ')}`); return }
      console.log(`${prompt}${r.text}\n\n(${r.tokens.length} tokens in ${r.ms.toFixed(0)} ms, batch of ${r.batch})`)
      if (r.explanation != null) {
        const e = r.explanation
        const pct = (x: number): string => `${(x * 100).toFixed(1)}%`
        const short = (cid: string): string => cid.length > 16 ? `${cid.slice(0, 8)}…${cid.slice(-6)}` : cid
        const rows = [['contributor', 'contribution', 'share', 'longest span'], ...e.shares.map((s: any) => [s.contributor, short(s.contribution), pct(s.share), `${s.longest} tokens`])]
        if (e.otherShare > 0) rows.push([`${e.contributions - e.shares.length} more`, '', pct(e.otherShare), ''])
        rows.push(['base model', '', pct(e.baseShare), ''])
        console.log(`\nexplained ${e.answerTokens} answer tokens against datanet ${e.datanet}@${short(e.version)} (${e.index.files} files, ${e.index.tokens} tokens; index ${e.cached === true ? 'cached' : `built in ${e.indexMs.toFixed(0)} ms`})\n${table(rows)}`)
        const longest = [...new Map(e.spans.filter((s: any) => s.contributions.length > 0).map((s: any) => [s.text, s])).values()].slice(0, 3) as any[]
        for (const s of longest) console.log(`  ${s.length} tokens  ${JSON.stringify(s.text)}  ${s.files.slice(0, 2).join(', ')}`)
        const g = e.gradient
        if (g?.unavailable != null) console.log(`\ngradient similarity: ${g.unavailable}`)
        else if (g != null) {
          console.log('\nby gradient similarity to the training contributions:')
          console.log(table([['contributor', 'contribution', 'cosine', 'share'], ...g.shares.filter((s: any) => s.share > 0).slice(0, 10).map((s: any) => [s.contributor, short(s.contribution), s.similarity.toFixed(3), pct(s.share)]), ['base model', '', '', pct(g.baseShare)]]))
        }
      }
    })

  common(program.command('serve'))
    .description('OpenLoRA on the running peer: load adapters into its cache ahead of requests, and show what it serves')
    .option('--adapter <cid...>', 'adapters to load now')
    .action(async (opts: Common & { adapter?: string[] }) => {
      const ep = await endpointOf(dataDirOf(opts), opts.url)
      for (const cid of opts.adapter ?? []) await apiPost<any>(ep, '/serve/load', { adapter: cid })
      const s = await apiGet<any>(ep, '/serve')
      if (opts.json === true) { printJson(s); return }
      console.log(`requests ${s.requests}, batches ${s.batches} (${s.sequences} sequences), engines ${s.engines}\nadapters cached ${s.adapters.entries} (${formatBytes(s.adapters.bytes)}), hits ${s.adapters.hits}, misses ${s.adapters.misses}, evictions ${s.adapters.evictions}, median load ${s.adapters.loadMsMedian?.toFixed(1) ?? '-'} ms`)
    })
}
