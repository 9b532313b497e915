// attacks: issue 19's attacks run from outside against a devnet with its chain, each by
// a hostile account or client: per attack, the attempts refused, OPEN taken (must be 0),
// honest peers slashed (must be 0) and peers crashed (must be 0). No baseline: the
// targets are absolute. Attacks join this bench as their fixes land (bench/attacks/).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectProvider } from '../settlement/chain/client.ts'
import { Devnet } from '../peer/devnet/devnet.ts'
import { devnetCli } from '../peer/devnet/peer-cli.ts'
import { parseFlags } from './lib/args.ts'
import type { BenchResult } from './lib/bench.ts'
import { apiAttacks } from './attacks/api-attacks.ts'
import { chainAttacks } from './attacks/chain-attacks.ts'
import { creditAttacks } from './attacks/credit-attacks.ts'
import { networkAttacks } from './attacks/network-attacks.ts'
import { rootAttacks } from './attacks/root-attacks.ts'
import type { AttackOutcome } from './attacks/outcome.ts'

export const name = 'attacks'
export const description = 'issue 19 attacks from outside on a devnet with its chain: refused, OPEN taken, honest slashed, crashes'
export const flags = ['--keep             keep the devnet folder and print where']

export async function run (args: string[]): Promise<BenchResult> {
  const f = parseFlags(args, { keep: 'boolean' })
  const dir = await mkdtemp(join(tmpdir(), 'openledger-attacks-'))
  const devnet = new Devnet({ dir: join(dir, 'devnet'), peers: 3, chain: true, benchSize: 32, epochIntervalMs: 2_000 })
  const outcomes: AttackOutcome[] = []
  try {
    process.stderr.write('attacks: starting a 3-peer devnet with its chain\n')
    await devnet.start()
    const cli = devnetCli(() => devnet.peers)
    await cli(1, ['stake', 'add', '100', '--role', 'worker'])
    await cli(2, ['stake', 'add', '200', '--role', 'verifier'])
    const chain = devnet.chain!
    const provider = connectProvider(chain.anvil.rpcUrl, chain.anvil.chainId)
    try {
      process.stderr.write('attacks: the payment rails\n')
      outcomes.push(...await chainAttacks({
        provider,
        addresses: chain.addresses,
        deployerKey: chain.anvil.accounts[0].privateKey,
        honest: [{ address: devnet.peers[1].address, role: 'worker' }, { address: devnet.peers[2].address, role: 'verifier' }]
      }))
      process.stderr.write('attacks: credit entries\n')
      outcomes.push(...await creditAttacks({ provider, addresses: chain.addresses, deployerKey: chain.anvil.accounts[0].privateKey }))
      process.stderr.write('attacks: the reward root\n')
      outcomes.push(...await rootAttacks({
        provider,
        addresses: chain.addresses,
        deployerKey: chain.anvil.accounts[0].privateKey,
        cosigner: { peerId: devnet.peers[1].peerId, addr: devnet.peers[1].addrs[0] }
      }))
    } finally {
      provider.destroy()
    }
    process.stderr.write('attacks: the local API\n')
    outcomes.push(await apiAttacks(devnet.peers.map(p => p.statusUrl!)))
    process.stderr.write('attacks: the gossip network and datanets\n')
    outcomes.push(...await networkAttacks({ peers: devnet.peers.map(p => ({ ...p, statusUrl: p.statusUrl! })), network: devnet.opts.network }))
    // A peer that exited during the attacks crashed.
    const exited = devnet.peers.filter(p => p.exitCode !== undefined).length
    if (exited > 0) outcomes.push({ attack: 'peers alive after all attacks', finding: '-', attempts: 0, refused: 0, openTaken: 0n, honestSlashed: 0, crashes: exited, log: [] })
  } finally {
    await devnet.stop()
    if (f.keep === true) process.stderr.write(`attacks: devnet kept in ${dir}\n`)
    else await rm(dir, { recursive: true, force: true })
  }
  const sum = (k: 'openTaken'): bigint => outcomes.reduce((t, o) => t + o[k], 0n)
  const count = (k: 'attempts' | 'refused' | 'honestSlashed' | 'crashes'): number => outcomes.reduce((t, o) => t + o[k], 0)
  return {
    figures: {
      attacks: outcomes.length,
      attempts: count('attempts'),
      refused: count('refused'),
      openTakenWei: Number(sum('openTaken')),
      honestSlashed: count('honestSlashed'),
      crashes: count('crashes')
    },
    baseline: null,
    ratio: null,
    reps: 1,
    units: { attacks: 'attacks', attempts: 'attempts', refused: 'attempts', openTakenWei: 'wei (target 0)', honestSlashed: 'peers (target 0)', crashes: 'peers (target 0)' },
    detail: { outcomes: outcomes.map(o => ({ ...o, openTaken: o.openTaken.toString() })) },
    tables: [{
      title: 'per attack',
      rows: [['attack', 'finding', 'refused', 'OPEN taken (wei)', 'honest slashed', 'crashes'], ...outcomes.map(o => [o.attack, o.finding, `${o.refused}/${o.attempts}`, o.openTaken.toString(), String(o.honestSlashed), String(o.crashes)])]
    }, {
      title: 'attempts',
      rows: [['attack', 'tried', 'answer'], ...outcomes.flatMap(o => o.log.map(l => [o.attack.split(':')[0], l.tried, l.answer]))]
    }]
  }
}
