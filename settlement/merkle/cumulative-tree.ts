// The Merkle tree of cumulative earnings that RewardDistributor verifies claims against.
// Encoding and layout are OpenZeppelin StandardMerkleTree's for ['address', 'uint256'],
// bit for bit, so roots, proofs and multiproofs equal OZ's and MerkleProof.sol accepts
// them:
//   leaf = keccak256(keccak256(abi.encode(account, cumulative)))
//   node = keccak256(smaller child ‖ larger child)
//   leaves sorted ascending by hash, the complete binary tree kept in one array with the
//   root at 0, the children of i at 2i+1 and 2i+2, and the k-th smallest leaf at
//   length - 1 - k (OZ core.makeMerkleTree).
// All nodes live in one Uint8Array and hashing never goes through hex: OZ takes 18.9 s
// for 65,536 leaves, this about a second for 100,000 (test/merkle-tree.test.ts prints it).
import { compare32, keccakInto, nodeHashInto } from './keccak.ts'
import { fromHex, isWord, normalizeAddress, toHex, writeHex } from './hex.ts'
import { DuplicateAccountError, EmptyTreeError, InvalidLeafError, InvalidTreeDumpError, UnknownAccountError } from './errors.ts'

const MAX_UINT256 = (1n << 256n) - 1n
const MASK64 = (1n << 64n) - 1n
export const CUMULATIVE_TREE_FORMAT = 'openledger-cumulative-v1'

export interface CumulativeEntry {
  /** 0x address; any case in, lowercase out. */
  account: string
  /** Everything the account has earned up to and including the epoch, in wei. */
  cumulative: bigint
}

export interface CumulativeMultiProof {
  /** The proven entries in the order MerkleProof.multiProofVerify consumes them (OZ's order). */
  leaves: CumulativeEntry[]
  proof: string[]
  proofFlags: boolean[]
}

/** Compact persistent form: entries in leaf order, amounts as decimal strings, and the root they must hash to. */
export interface CumulativeTreeDump {
  format: typeof CUMULATIVE_TREE_FORMAT
  root: string
  accounts: string[]
  cumulative: string[]
}

function checkAmount (account: string, cumulative: unknown): bigint {
  if (typeof cumulative !== 'bigint') throw new InvalidLeafError('cumulative must be a bigint', { account, cumulative: String(cumulative) })
  if (cumulative < 0n || cumulative > MAX_UINT256) {
    throw new InvalidLeafError('cumulative must be in [0, 2^256)', { account, cumulative: cumulative.toString() })
  }
  return cumulative
}

/** abi.encode(address, uint256) into buf[0, 64): 12 zero bytes, the address, the amount big-endian. */
function encodeLeaf (account: string, amount: bigint, buf: Uint8Array, view: DataView): void {
  buf.fill(0, 0, 12)
  writeHex(account, buf, 12)
  for (let w = 0; w < 4; w++) view.setBigUint64(56 - 8 * w, (amount >> BigInt(64 * w)) & MASK64)
}

/** The leaf hash OZ's standardLeafHash(['address', 'uint256'], [account, cumulative]) gives, as 0x hex. */
export function cumulativeLeafHash (account: string, cumulative: bigint): string {
  const a = normalizeAddress(account)
  const buf = new Uint8Array(64)
  encodeLeaf(a, checkAmount(a, cumulative), buf, new DataView(buf.buffer))
  const out = new Uint8Array(32)
  keccakInto(buf, 0, 64, buf, 0)
  keccakInto(buf, 0, 32, out, 0)
  return toHex(out)
}

export class CumulativeTree {
  /** 0x hex of the root, what postRoot publishes. */
  readonly root: string
  /** Number of leaves (accounts). */
  readonly size: number
  /** Longest proof, in hashes (0 for a single leaf). */
  readonly depth: number
  /** Sum of all cumulative amounts: what the distributor must hold in total. */
  readonly total: bigint
  // 32 bytes per node, node i at 32 i: the OZ array.
  readonly #nodes: Uint8Array
  // Leaf k (k-th smallest hash) sits at tree index #nodes.length / 32 - 1 - k.
  readonly #accounts: string[]
  readonly #amounts: bigint[]
  readonly #leafOf: Map<string, number>

  /** Use buildCumulativeTree or CumulativeTree.load. */
  constructor (nodes: Uint8Array, accounts: string[], amounts: bigint[]) {
    this.#nodes = nodes
    this.#accounts = accounts
    this.#amounts = amounts
    this.#leafOf = new Map(accounts.map((a, k) => [a, k]))
    this.size = accounts.length
    this.depth = 31 - Math.clz32(2 * this.size - 1)
    this.root = toHex(nodes, 0, 32)
    this.total = amounts.reduce((s, x) => s + x, 0n)
  }

  #treeIndex (account: string): number {
    const a = normalizeAddress(account)
    const k = this.#leafOf.get(a)
    if (k === undefined) throw new UnknownAccountError('account is not in the tree', { account: a })
    return 2 * this.size - 2 - k
  }

  has (account: string): boolean {
    return this.#leafOf.has(normalizeAddress(account))
  }

  /** The account's cumulative amount, or undefined when it is not in the tree. */
  cumulativeOf (account: string): bigint | undefined {
    const k = this.#leafOf.get(normalizeAddress(account))
    return k === undefined ? undefined : this.#amounts[k]
  }

  /** Entries in leaf order (ascending leaf hash). */
  entries (): CumulativeEntry[] {
    return this.#accounts.map((account, k) => ({ account, cumulative: this.#amounts[k] }))
  }

  /** Sibling hashes from the leaf up (OZ getProof): what MerkleProof.verify takes. */
  proof (account: string): string[] {
    let i = this.#treeIndex(account)
    const proof: string[] = []
    while (i > 0) {
      const sibling = i % 2 === 1 ? i + 1 : i - 1
      proof.push(toHex(this.#nodes, 32 * sibling, 32))
      i = (i - 1) >> 1
    }
    return proof
  }

  /** OZ getMultiProof, step for step: leaves in descending tree index, i.e. ascending leaf hash. */
  multiProof (accounts: readonly string[]): CumulativeMultiProof {
    const indices = accounts.map(a => this.#treeIndex(a)).sort((a, b) => b - a)
    for (let p = 1; p < indices.length; p++) {
      if (indices[p] === indices[p - 1]) {
        throw new DuplicateAccountError('cannot prove an account twice', { account: this.#accounts[2 * this.size - 2 - indices[p]] })
      }
    }
    // OZ's stack is a FIFO queue: shift from the front, push to the back.
    const queue = [...indices]
    let head = 0
    const proof: string[] = []
    const proofFlags: boolean[] = []
    while (head < queue.length && queue[head] > 0) {
      const j = queue[head++]
      const s = j % 2 === 1 ? j + 1 : j - 1
      if (head < queue.length && queue[head] === s) {
        proofFlags.push(true)
        head++
      } else {
        proofFlags.push(false)
        proof.push(toHex(this.#nodes, 32 * s, 32))
      }
      queue.push((j - 1) >> 1)
    }
    if (indices.length === 0) proof.push(this.root)
    const leaves = indices.map(i => {
      const k = 2 * this.size - 2 - i
      return { account: this.#accounts[k], cumulative: this.#amounts[k] }
    })
    return { leaves, proof, proofFlags }
  }

  dump (): CumulativeTreeDump {
    return {
      format: CUMULATIVE_TREE_FORMAT,
      root: this.root,
      accounts: [...this.#accounts],
      cumulative: this.#amounts.map(x => x.toString())
    }
  }

  /** Rebuilds the tree from a dump and checks that it hashes to the recorded root. */
  static load (dump: CumulativeTreeDump): CumulativeTree {
    if (dump == null || dump.format !== CUMULATIVE_TREE_FORMAT) {
      throw new InvalidTreeDumpError('unknown tree dump format', { format: (dump as { format?: unknown } | null)?.format })
    }
    if (!Array.isArray(dump.accounts) || !Array.isArray(dump.cumulative) || dump.accounts.length !== dump.cumulative.length || !isWord(dump.root)) {
      throw new InvalidTreeDumpError('malformed tree dump', {})
    }
    const entries = dump.accounts.map((account, k) => {
      const c = dump.cumulative[k]
      if (typeof c !== 'string' || !/^(0|[1-9][0-9]*)$/.test(c)) throw new InvalidTreeDumpError('amount is not a decimal string', { account, cumulative: c })
      return { account, cumulative: BigInt(c) }
    })
    const tree = buildCumulativeTree(entries)
    if (tree.root !== dump.root.toLowerCase()) {
      throw new InvalidTreeDumpError('entries do not hash to the recorded root', { recorded: dump.root, computed: tree.root })
    }
    return tree
  }
}

/**
 * Builds the tree of (account, cumulative) entries, in any order. Throws InvalidLeafError
 * on a bad address or an amount outside [0, 2^256), DuplicateAccountError when an account
 * appears twice in any spelling, EmptyTreeError on no entries.
 */
export function buildCumulativeTree (entries: readonly CumulativeEntry[]): CumulativeTree {
  const n = entries.length
  if (n === 0) throw new EmptyTreeError('a Merkle tree needs at least one entry')
  const accounts: string[] = new Array(n)
  const amounts: bigint[] = new Array(n)
  const seen = new Set<string>()
  const hashes = new Uint8Array(32 * n)
  const buf = new Uint8Array(64)
  const view = new DataView(buf.buffer)
  for (let i = 0; i < n; i++) {
    const e = entries[i]
    const account = normalizeAddress(e?.account)
    if (seen.has(account)) throw new DuplicateAccountError('account listed twice', { account })
    seen.add(account)
    const amount = checkAmount(account, e.cumulative)
    accounts[i] = account
    amounts[i] = amount
    encodeLeaf(account, amount, buf, view)
    keccakInto(buf, 0, 64, buf, 0)
    keccakInto(buf, 0, 32, hashes, 32 * i)
  }
  // Sort by hash; the first 6 bytes as a number decide nearly every comparison.
  const hv = new DataView(hashes.buffer)
  const prefix = new Float64Array(n)
  for (let i = 0; i < n; i++) prefix[i] = hv.getUint32(32 * i) * 65536 + hv.getUint16(32 * i + 4)
  const order = Array.from({ length: n }, (_, i) => i)
  order.sort((a, b) => (prefix[a] - prefix[b]) || compare32(hashes, 32 * a, hashes, 32 * b))

  const len = 2 * n - 1
  const nodes = new Uint8Array(32 * len)
  const sortedAccounts: string[] = new Array(n)
  const sortedAmounts: bigint[] = new Array(n)
  for (let k = 0; k < n; k++) {
    const i = order[k]
    nodes.set(hashes.subarray(32 * i, 32 * i + 32), 32 * (len - 1 - k))
    sortedAccounts[k] = accounts[i]
    sortedAmounts[k] = amounts[i]
  }
  for (let i = len - 1 - n; i >= 0; i--) nodeHashInto(nodes, 32 * (2 * i + 1), 32 * (2 * i + 2), nodes, 32 * i)
  return new CumulativeTree(nodes, sortedAccounts, sortedAmounts)
}

function hashPair (a: Uint8Array, b: Uint8Array): Uint8Array {
  const pair = new Uint8Array(64)
  pair.set(a, 0)
  pair.set(b, 32)
  const out = new Uint8Array(32)
  nodeHashInto(pair, 0, 32, out, 0)
  return out
}

function word (hex: string): Uint8Array {
  if (!isWord(hex)) throw new InvalidLeafError('proof element must be 32 bytes of 0x hex', { value: hex })
  return fromHex(hex)
}

/** MerkleProof.verify off chain: does (account, cumulative) with this proof hash to root? */
export function verifyCumulativeProof (root: string, entry: CumulativeEntry, proof: readonly string[]): boolean {
  let h = fromHex(cumulativeLeafHash(entry.account, entry.cumulative))
  for (const p of proof) h = hashPair(h, word(p))
  return toHex(h) === root.toLowerCase()
}

/** MerkleProof.multiProofVerify off chain (OZ processMultiProof); false when the shape does not fit, InvalidLeafError on a proof element that is not 32 bytes of hex. */
export function verifyCumulativeMultiProof (root: string, mp: CumulativeMultiProof): boolean {
  const queue = mp.leaves.map(e => fromHex(cumulativeLeafHash(e.account, e.cumulative)))
  const proof = mp.proof.map(word)
  if (queue.length + proof.length !== mp.proofFlags.length + 1) return false
  let head = 0
  let p = 0
  for (const flag of mp.proofFlags) {
    const a = queue[head++]
    const b = flag ? queue[head++] : proof[p++]
    if (a === undefined || b === undefined) return false
    queue.push(hashPair(a, b))
  }
  const rest = queue.length - head
  if (rest + (proof.length - p) !== 1) return false
  const result = rest === 1 ? queue[head] : proof[p]
  return toHex(result) === root.toLowerCase()
}
