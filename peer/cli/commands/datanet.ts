// openledger datanet create|contribute|show|list|get|import|follow|unfollow — all through the running
// peer's local API, so the peer that stores the data also signs and announces it.
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { UsageError } from '../../errors.ts'
import { apiGet, apiPost, endpointOf, type NodeEndpoint } from '../api-client.ts'
import { dataDirOf, intOption, nodeClientOptions } from '../options.ts'
import { formatBytes, printJson, table } from '../output.ts'
import { progressBar } from '../progress.ts'

interface Common { dataDir?: string, url?: string, json?: boolean }

const common = nodeClientOptions

async function endpoint (opts: Common): Promise<NodeEndpoint> {
  return await endpointOf(dataDirOf(opts), opts.url)
}

const short = (s: string, n = 12): string => s.length <= n ? s : s.slice(0, n - 1) + '…'

export function datanetCommand (program: Command): void {
  const datanet = program.command('datanet').description('datanets: signed, content-addressed records of who contributed what')

  common(datanet.command('create <name>'))
    .description('create a datanet: a signed genesis record whose CID is the datanet id')
    .requiredOption('--license <spdx>', 'licence of the data, e.g. CC-BY-4.0')
    .option('--description <text>', 'what the datanet holds', '')
    .action(async (name: string, opts: Common & { license: string, description: string }) => {
      const view = await apiPost<any>(await endpoint(opts), '/datanets', { name, description: opts.description, license: opts.license })
      if (opts.json === true) printJson(view)
      else console.log(`datanet ${view.name}\nid       ${view.id}\nlicense  ${view.license}\ncreator  ${view.creator}`)
    })

  common(datanet.command('contribute <datanet> <paths...>'))
    .description('add files or folders (text, markdown, JSON lines, CSV, JSON, .eml) as a signed contribution')
    .option('--license <spdx>', 'licence of these files (default: the datanet\'s)')
    .action(async (target: string, paths: string[], opts: Common & { license?: string }) => {
      const bar = opts.json === true ? undefined : progressBar('contributing')
      const result = await apiPost<any>(await endpoint(opts), `/datanets/${encodeURIComponent(target)}/contribute`,
        { paths: paths.map(p => resolve(p)), license: opts.license },
        (p) => bar?.update(p.bytesDone, p.bytesTotal, `${p.filesDone}/${p.filesTotal} files`))
      bar?.done()
      if (opts.json === true) printJson(result)
      else console.log(`contributed ${result.files} files (${formatBytes(result.bytes)}) in ${result.entries.length} record(s)\nversion ${result.version}`)
    })

  common(datanet.command('import <corpus>'))
    .description('build a datanet from a real corpus installed from npm: spam-assassin or sotu')
    .option('--limit <n>', 'keep it small: spam-assassin: that many mails; sotu: the first that many presidents', intOption('--limit', 1, 1_000_000))
    .action(async (corpus: string, opts: Common & { limit?: number }) => {
      const bar = opts.json === true ? undefined : progressBar(`importing ${corpus}`, 'items')
      const result = await apiPost<any>(await endpoint(opts), '/datanets/import', { corpus, limit: opts.limit },
        (p) => bar?.update(p.contributorsDone, p.contributorsTotal, `contributors, ${p.files} files`))
      bar?.done()
      if (opts.json === true) printJson(result)
      else console.log(`datanet ${result.name} ${result.datanet}\n${result.contributors.length} contributors, ${result.contributors.reduce((s: number, c: any) => s + c.files, 0)} files\nversion ${result.version}`)
    })

  common(datanet.command('list'))
    .description('datanets this peer follows')
    .action(async (opts: Common) => {
      const list = await apiGet<any[]>(await endpoint(opts), '/datanets')
      if (opts.json === true) printJson({ datanets: list })
      else if (list.length === 0) console.log('no datanets yet')
      else console.log(table([['name', 'id', 'entries', 'heads'], ...list.map(d => [d.name, d.id, String(d.entries), String(d.heads.length)])]))
    })

  common(datanet.command('show <datanet>'))
    .description('contributors, contributions, sizes, version and the replication of every shard')
    .option('--shards', 'list every shard with its holders')
    .option('--contributor <address>', 'only this contributor: contributions, files and credit per training cycle')
    .action(async (target: string, opts: Common & { shards?: boolean, contributor?: string }) => {
      if (opts.contributor != null) {
        const c = await apiGet<any>(await endpoint(opts), `/datanets/${encodeURIComponent(target)}/contributors/${encodeURIComponent(opts.contributor)}`)
        if (opts.json === true) { printJson(c); return }
        console.log(`${c.address} in ${c.name}: ${c.contributions.length} contributions, ${c.files} files, ${formatBytes(c.bytes)}, ${c.duplicateFiles} duplicates, credit ${c.creditWeight.toFixed(3)}`)
        for (const k of c.contributions) {
          console.log(`  ${k.cid}  ${k.files.length} files  ${formatBytes(k.bytes)}  ${new Date(k.ts).toISOString()}`)
          for (const cr of k.credits) console.log(`    credit ${cr.weight.toFixed(4)} from ${cr.model} on version ${cr.version}`)
        }
        return
      }
      const v = await apiGet<any>(await endpoint(opts), `/datanets/${encodeURIComponent(target)}`)
      if (opts.json === true) { printJson(v); return }
      const shards = v.replication.shards as Array<{ cid: string, path: string, size: number, holders: string[], intended: string[] }>
      const full = shards.filter(s => s.holders.length >= v.replication.target).length
      console.log([
        `datanet  ${v.name}  (${v.license})`, `id       ${v.id}`, `version  ${v.version}`, `creator  ${v.creator}`,
        `entries  ${v.entries}   contributions ${v.contributions.length}   contributors ${v.contributors.length}`,
        `files    ${v.totals.files} (${v.totals.uniqueFiles} unique)   ${formatBytes(v.totals.bytes)} (${formatBytes(v.totals.uniqueBytes)} unique)`,
        `replicas ${full}/${shards.length} shards on at least ${v.replication.target} peers` + (v.replication.target < v.replication.wanted ? ` (want ${v.replication.wanted}; fewer storage peers are up)` : ''), ''
      ].join('\n'))
      console.log(table([['contributor', 'contributions', 'files', 'bytes', 'duplicates', 'near-dup', 'credit'],
        ...v.contributors.map((c: any) => [c.address, String(c.contributions), String(c.files), formatBytes(c.bytes), String(c.duplicateFiles), String(c.nearDuplicateFiles), c.creditWeight.toFixed(3)])]))
      const listed = opts.shards === true ? shards : shards.filter(s => s.holders.length < v.replication.target).slice(0, 20)
      if (listed.length > 0) {
        console.log(`\n${opts.shards === true ? 'shards' : 'under-replicated shards'}:`)
        console.log(table([['cid', 'path', 'size', 'holders'], ...listed.map(s => [s.cid, short(s.path, 40), formatBytes(s.size), s.holders.map(h => '…' + h.slice(-6)).join(' ') || '-'])]))
      }
    })

  common(datanet.command('follow <id>'))
    .description('follow a datanet by id: fetch it from the swarm, merge its updates and hold the shards placement gives this peer (a peer follows only datanets it created, contributed to, fetched, was told to follow, or that a job it takes part in names)')
    .action(async (id: string, opts: Common) => {
      const r = await apiPost<any>(await endpoint(opts), '/datanets/follow', { target: id })
      if (opts.json === true) printJson(r)
      else if (r.pending === true) console.log(`following ${r.id}; no peer sent it yet: it is merged once its heads are announced`)
      else console.log(`following ${r.name} ${r.id} (${r.entries} entries)`)
    })

  common(datanet.command('unfollow <datanet>'))
    .description('stop following a datanet (id or name): its heads are dropped and the shards no other followed datanet names are unpinned')
    .action(async (target: string, opts: Common) => {
      const r = await apiPost<any>(await endpoint(opts), '/datanets/unfollow', { target })
      if (opts.json === true) printJson(r)
      else console.log(`no longer following ${r.id}; ${r.unpinned} shards unpinned`)
    })

  common(datanet.command('get <target>'))
    .description('fetch a datanet (id, name or version) or one file (CID) from the swarm; every byte is checked against its CID')
    .requiredOption('-o, --out <dir>', 'folder to write the files into')
    .action(async (target: string, opts: Common & { out: string }) => {
      if (opts.out.trim() === '') throw new UsageError('--out must name a folder')
      const bar = opts.json === true ? undefined : progressBar('fetching')
      const result = await apiPost<any>(await endpoint(opts), '/datanets/get', { target, out: resolve(opts.out) },
        (p) => bar?.update(p.bytesDone, p.bytesTotal, `${p.filesDone}/${p.filesTotal} files`))
      bar?.done()
      if (opts.json === true) printJson(result)
      else console.log(`fetched ${result.files} files (${formatBytes(result.bytes)}) into ${result.out}`)
    })
}
