// The off-chain parts of settlement that tests used to bound by time (a busy machine
// must not fail a test; these are figures, measured here with their baselines):
//   - building the cumulative Merkle tree of N recipients (test/merkle-tree.test.ts),
//     against OpenZeppelin's StandardMerkleTree on the same leaves;
//   - reading the contracts' compile cache (test/settlement-chain.test.ts), against the
//     floor: reading and parsing the cache file alone (what any cache read must do).
// Repetitions alternate project and baseline after a warm-up (bench/lib/timing.ts).
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { StandardMerkleTree } from '@openzeppelin/merkle-tree'
import { compileContracts } from '../../settlement/chain/compile.ts'
import { buildCumulativeTree } from '../../settlement/merkle/index.ts'
import { alternate } from '../lib/timing.ts'
import { randomAddresses, rewardWei, rng } from './chain.ts'

// Where settlement/chain/compile.ts keeps its cache (node_modules/.cache, keyed by the sources' hash).
const CACHE_DIR = fileURLToPath(new URL('../../node_modules/.cache/openledger-contracts/', import.meta.url))

export interface OffChainTimes {
  leaves: number
  /** Median ms to build the tree of `leaves` recipients: ours and OZ's. */
  treeMs: { ours: number, oz: number }
  /** Median ms of compileContracts() answered from its cache, and of reading + parsing the cache file alone. */
  compileCacheMs: { cached: number, floor: number }
  reps: number
}

export async function offChainTimes (opts: { leaves: number, reps: number, log: (m: string) => void }): Promise<OffChainTimes> {
  const next = rng(0x7ee)
  const entries = randomAddresses(opts.leaves, next).map(account => ({ account, cumulative: rewardWei(next) }))
  const ozLeaves = entries.map(e => [e.account, e.cumulative.toString()] as [string, string])
  let ours = ''
  let theirs = ''
  const tree = await alternate({
    ours: { run: () => { ours = buildCumulativeTree(entries).root } },
    oz: { run: () => { theirs = StandardMerkleTree.of(ozLeaves, ['address', 'uint256']).root } }
  }, { ops: 1, reps: opts.reps, warmupReps: 1 })
  if (ours !== theirs) throw new Error(`the trees differ: ${ours} vs OZ ${theirs}`)
  const treeMs = { ours: 1000 / tree.ours.medianOpsPerSec, oz: 1000 / tree.oz.medianOpsPerSec }
  opts.log(`${opts.leaves} leaves: our tree ${treeMs.ours.toFixed(0)} ms, OZ ${treeMs.oz.toFixed(0)} ms (median of ${opts.reps})`)

  const first = await compileContracts() // compiles once if the cache is cold; not timed
  const cacheFile = join(CACHE_DIR, `${first.key}.json`)
  const compile = await alternate({
    cached: {
      run: async () => {
        const r = await compileContracts()
        if (!r.fromCache) throw new Error('compileContracts did not answer from its cache')
      }
    },
    floor: { run: async () => { JSON.parse(await readFile(cacheFile, 'utf8')) } }
  }, { ops: 1, reps: opts.reps, warmupReps: 1 })
  const compileCacheMs = { cached: 1000 / compile.cached.medianOpsPerSec, floor: 1000 / compile.floor.medianOpsPerSec }
  opts.log(`compile cache: ${compileCacheMs.cached.toFixed(1)} ms, reading and parsing the file alone ${compileCacheMs.floor.toFixed(1)} ms`)
  return { leaves: opts.leaves, treeMs, compileCacheMs, reps: opts.reps }
}
